// One date picker in the user's language with weeks from Monday (issue 19), offline: the
// moment.js and bootstrap-daterangepicker that Flask-Admin ships.
//
// - Flask-Admin's own pickers (list filters, its date fields) read their day and month names and
//   the first day of the week from moment's locale: set here to Chinese (or English) from Monday.
// - Every native <input type=date> / <input type=datetime-local> keeps its type, name and value
//   format (what the server parses and what typing gives), and gets a button beside it that opens
//   the same picker; the picked day is written back in the input's own format.
// The page's language comes from this script tag's data-locale attribute.
(function () {
  "use strict";
  var script = document.currentScript;
  var chinese = ((script && script.getAttribute("data-locale")) || "zh").indexOf("zh") === 0;
  var labels = chinese
    ? { applyLabel: "确定", cancelLabel: "取消", fromLabel: "从", toLabel: "至", weekLabel: "周",
        customRangeLabel: "自定义", firstDay: 1, button: "日历",
        rest: "休息日", work: "调休上班" }
    : { applyLabel: "Apply", cancelLabel: "Cancel", fromLabel: "From", toLabel: "To",
        weekLabel: "W", customRangeLabel: "Custom", firstDay: 1, button: "Calendar",
        rest: "Day off", work: "Working weekend day" };

  if (window.moment) {
    if (chinese) {
      window.moment.locale("zh-cn", {
        months: "一月_二月_三月_四月_五月_六月_七月_八月_九月_十月_十一月_十二月".split("_"),
        monthsShort: "1月_2月_3月_4月_5月_6月_7月_8月_9月_10月_11月_12月".split("_"),
        weekdays: "星期日_星期一_星期二_星期三_星期四_星期五_星期六".split("_"),
        weekdaysShort: "周日_周一_周二_周三_周四_周五_周六".split("_"),
        weekdaysMin: "日_一_二_三_四_五_六".split("_"),
        longDateFormat: { LT: "HH:mm", LTS: "HH:mm:ss", L: "YYYY-MM-DD",
          LL: "YYYY年M月D日", LLL: "YYYY年M月D日 HH:mm", LLLL: "YYYY年M月D日dddd HH:mm" },
        week: { dow: 1, doy: 4 }
      });
    } else {
      window.moment.locale("en");
      window.moment.localeData()._week = { dow: 1, doy: 4 };
    }
  }

  // daterangepicker.js is loaded after this script on some pages: wrap it when it arrives so
  // its buttons are in the page's language too.
  function wrap(plugin) {
    if (!plugin || plugin.inLanguage) { return plugin; }
    var wrapped = function (options, callback) {
      var merged = window.jQuery.extend(true, { locale: labels }, options || {});
      var result = plugin.call(this, merged, callback);
      this.each(function () { withWorkingDays(window.jQuery(this).data("daterangepicker")); });
      return result;
    };
    wrapped.inLanguage = true;
    return wrapped;
  }
  var $ = window.jQuery;
  if ($ && $.fn) {
    var current = wrap($.fn.daterangepicker);
    try {
      Object.defineProperty($.fn, "daterangepicker", {
        configurable: true,
        get: function () { return current; },
        set: function (plugin) { current = wrap(plugin); }
      });
    } catch (ignored) { /* an old browser: Flask-Admin's English buttons stay */ }
  }

  function ready(run) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", run);
    } else {
      run();
    }
  }

  function withPicker(run) {
    if ($ && $.fn.daterangepicker) { run(); return; }
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/admin/static/vendor/bootstrap-daterangepicker/daterangepicker-bs4.css";
    document.head.appendChild(css);
    var js = document.createElement("script");
    js.src = "/admin/static/vendor/bootstrap-daterangepicker/daterangepicker.js";
    js.onload = run;
    document.head.appendChild(js);
  }

  // Working days from the office's calendar (models/calendar.py), fetched once per year shown.
  var years = {};
  function yearOf(day, then) {
    var year = day.year();
    if (years[year] === undefined) {
      years[year] = null;
      window.fetch("/admin/working-days/" + year, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          years[year] = { rest: new Set(data.rest), work: new Set(data.work) };
          then();
        })
        .catch(function () { /* no marks: a plain calendar */ });
    }
    return years[year];
  }

  function markWorkingDays(picker) {
    ["left", "right"].forEach(function (side) {
      var calendar = picker[side + "Calendar"] && picker[side + "Calendar"].calendar;
      if (!calendar) { return; }
      picker.container.find(".calendar." + side + " td[data-title]").each(function () {
        var place = /^r(\d+)c(\d+)$/.exec(this.getAttribute("data-title"));
        var day = place && calendar[+place[1]] && calendar[+place[1]][+place[2]];
        if (!day) { return; }
        var known = yearOf(day, function () { markWorkingDays(picker); });
        var text = day.format("YYYY-MM-DD");
        var weekend = day.isoWeekday() >= 6;
        var rest = known ? (known.rest.has(text) || (weekend && !known.work.has(text))) : weekend;
        this.classList.toggle("rest-day", rest);
        this.classList.toggle("work-weekend", !!(known && known.work.has(text)));
        this.title = rest ? labels.rest : (known && known.work.has(text) ? labels.work : "");
      });
    });
  }

  function withWorkingDays(picker) {
    if (!picker || picker.marksWorkingDays) { return; }
    picker.marksWorkingDays = true;
    var update = picker.updateCalendars;
    picker.updateCalendars = function () {
      update.apply(this, arguments);
      markWorkingDays(this);
    };
    markWorkingDays(picker);
  }

  ready(function () {
    // The browser's own calendar (in the browser's language, weeks as the browser likes) gives
    // way to ours; typing into the field stays as it was.
    var style = document.createElement("style");
    style.textContent = "input.has-date-picker::-webkit-calendar-picker-indicator{display:none}" +
      ".date-picker-button{margin-top:.25rem}" +
      ".daterangepicker td.rest-day{color:#b02a37}" +
      ".daterangepicker td.rest-day.off{color:#d9a0a6}" +
      ".daterangepicker td.active.rest-day{color:#fff}" +
      ".daterangepicker td.work-weekend{font-weight:bold}";
    document.head.appendChild(style);
    var inputs = document.querySelectorAll(
      'input[type="date"]:not([data-no-picker]), input[type="datetime-local"]:not([data-no-picker])'
    );
    if (!inputs.length || !$ || !window.moment) { return; }
    withPicker(function () {
      Array.prototype.forEach.call(inputs, function (input) {
        var withTime = input.type === "datetime-local";
        var native = withTime ? "YYYY-MM-DDTHH:mm" : "YYYY-MM-DD";
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-outline-secondary btn-sm ml-1 date-picker-button";
        button.textContent = labels.button;
        input.classList.add("has-date-picker");
        input.insertAdjacentElement("afterend", button);
        var start = input.value ? window.moment(input.value, native) : window.moment();
        $(button).daterangepicker({
          singleDatePicker: true,
          showDropdowns: true,
          timePicker: withTime,
          timePicker12Hour: false,
          timePickerIncrement: 1,
          startDate: start,
          format: withTime ? "YYYY-MM-DD HH:mm" : "YYYY-MM-DD"
        }, function (picked) {
          input.value = picked.format(native);
          input.dispatchEvent(new Event("input", { bubbles: true }));
          input.dispatchEvent(new Event("change", { bubbles: true }));
        });
      });
    });
  });
})();
