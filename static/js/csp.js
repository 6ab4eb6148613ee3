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
})();
