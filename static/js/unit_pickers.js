// Workflow forms (批示, 交办): the 承办人 picker offers only the people of the chosen 承办单位.
// Each handler option carries its unit (data-unit); the server checks the same on saving.
(function () {
  "use strict";
  function setup(unit, handler) {
    var options = Array.prototype.map.call(handler.options, function (option) {
      return { value: option.value, text: option.text, unit: option.getAttribute("data-unit") };
    });
    function refresh() {
      var chosen = unit.value;
      var current = handler.value;
      var kept = false;
      handler.textContent = "";
      options.forEach(function (item) {
        // The blank option has no unit; the others show when their unit is the chosen one.
        if (item.unit !== null && item.unit !== chosen) {
          return;
        }
        var option = document.createElement("option");
        option.value = item.value;
        option.textContent = item.text;
        if (item.unit !== null) {
          option.setAttribute("data-unit", item.unit);
        }
        if (item.value === current) {
          option.selected = true;
          kept = item.unit !== null;
        }
        handler.appendChild(option);
      });
      if (!kept && handler.options.length) {
        handler.options[0].selected = true;
      }
      if (window.jQuery) {
        window.jQuery(handler).trigger("change");
      }
    }
    if (window.jQuery) {
      // select2 reports its changes through jQuery.
      window.jQuery(unit).on("change", refresh);
    } else {
      unit.addEventListener("change", refresh);
    }
    refresh();
  }
  document.querySelectorAll("select[data-handler-field]").forEach(function (unit) {
    var handler = unit.form && unit.form.elements[unit.getAttribute("data-handler-field")];
    if (handler && handler.tagName === "SELECT") {
      setup(unit, handler);
    }
  });
})();
