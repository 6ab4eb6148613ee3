// Custom fields on the registration and case forms: show only those of the chosen category.
// Each input carries data-cf-categories: "*" (every category) or the ids it applies to.
(function () {
  "use strict";
  var select = document.getElementById("new_category") || document.getElementById("category");
  function refresh() {
    var chosen = select ? select.value : "";
    document.querySelectorAll("[data-cf-categories]").forEach(function (input) {
      var scope = input.getAttribute("data-cf-categories");
      var shown = scope === "*" || (chosen !== "" && scope.split(",").indexOf(chosen) >= 0);
      var group = input.closest(".form-group") || input.parentNode;
      group.style.display = shown ? "" : "none";
    });
  }
  if (select) {
    select.addEventListener("change", refresh);
    if (window.jQuery) { window.jQuery(select).on("change", refresh); }
  }
  refresh();
})();
