// Behaviour that templates used to put in inline event handlers, which the Content-Security-Policy
// (scripts only with a nonce) blocks: confirmations, bulk actions, inline rows, print, month pickers.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest('a[href^="javascript:"]');
    if (link) {
      // Navigating to a javascript: URL would be a CSP violation; the real handlers are bound
      // by Bootstrap and Flask-Admin's scripts.
      event.preventDefault();
    }
    var confirmer = event.target.closest("button[data-confirm]");
    if (confirmer && !window.confirm(confirmer.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    var action = event.target.closest("[data-model-action]");
    if (action && window.modelActions) {
      event.preventDefault();
      window.modelActions.execute(action.getAttribute("data-model-action"));
      return;
    }
    var inline = event.target.closest("[data-inline-add]");
    if (inline && window.faForm) {
      event.preventDefault();
      window.faForm.addInlineField(inline, inline.getAttribute("data-inline-add"));
      return;
    }
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  }, true);
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("form[data-confirm]") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  }, true);
  document.addEventListener("change", function (event) {
    var input = event.target;
    var target = input.getAttribute && input.getAttribute("data-month-start");
    if (target && input.form && input.form.elements[target]) {
      input.form.elements[target].value = input.value + "-01";
    }
  });
  // Accessible names (WCAG 4.1.2) for what Flask-Admin's widgets draw without one: help icons
  // whose only text is a tooltip, and Select2's choice links, empty while nothing is chosen.
  // Run after the widgets are set up: jQuery 3 runs its "ready" handlers (Flask-Admin's form.js
  // draws Select2 there) asynchronously, before or after "load".
  function nameWidgets() {
    document.querySelectorAll('[data-role="tooltip"], [data-toggle="tooltip"]').forEach(function (el) {
      if (!el.textContent.trim() && !el.getAttribute("aria-label")) {
        var text = el.getAttribute("title") || el.getAttribute("data-original-title");
        if (text) { el.setAttribute("aria-label", text); }
      }
    });
    // Select2 moves the field's label onto its own search input ("focusser").
    document.querySelectorAll(".select2-container > .select2-choice").forEach(function (link) {
      var focusser = link.parentNode.querySelector("input.select2-focusser");
      var label = focusser && focusser.id && document.querySelector('label[for="' + CSS.escape(focusser.id) + '"]');
      if (label && !link.getAttribute("aria-label")) {
        link.setAttribute("aria-label", label.textContent.trim());
      }
    });
  }
  window.addEventListener("load", function () { window.setTimeout(nameWidgets, 0); });
  if (window.jQuery) {
    window.jQuery(function () { window.setTimeout(nameWidgets, 0); });
  }
})();
