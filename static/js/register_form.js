// 登记台账: generate a register without leaving the form.
//
// A small register comes back as a PDF: it is offered as 打开 / 下载 under the form, which stays
// as it was. A large one comes back as a redirect to its job page, which shows the progress. A
// refused form (a wrong date, no permission) comes back as the form page with its messages,
// which replaces this one. Without JavaScript the form posts as usual.
(function () {
  "use strict";
  var form = document.querySelector("form.register-form");
  if (!form || !window.fetch || !window.FormData) {
    return;
  }
  var status = document.getElementById("register-status");
  var button = form.querySelector("button.register-generate");
  var lastUrl = null;

  function show(html) {
    status.innerHTML = html;
    status.hidden = false;
  }

  function fileName(response) {
    var header = response.headers.get("Content-Disposition") || "";
    var encoded = /filename\*=UTF-8''([^;]+)/i.exec(header);
    if (encoded) {
      return decodeURIComponent(encoded[1]);
    }
    var plain = /filename="?([^";]+)"?/i.exec(header);
    return plain ? plain[1] : "register.pdf";
  }

  form.addEventListener("submit", function (event) {
    // The Excel button posts elsewhere with GET: leave it to the browser.
    var submitter = event.submitter;
    if (submitter && submitter !== button) {
      return;
    }
    event.preventDefault();
    button.disabled = true;
    show(
      '<div class="alert alert-info mb-2">' + status.dataset.working + "</div>" +
      '<div class="progress" style="height: 1.25rem;"><div class="progress-bar ' +
      'progress-bar-striped progress-bar-animated" role="progressbar" style="width: 100%;" ' +
      'aria-label="' + status.dataset.working + '"></div></div>'
    );
    fetch(form.action || window.location.href, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.ok && type.indexOf("application/pdf") === 0) {
          return response.blob().then(function (blob) {
            if (lastUrl) {
              URL.revokeObjectURL(lastUrl);
            }
            lastUrl = URL.createObjectURL(blob);
            var name = fileName(response);
            show(
              '<div class="alert alert-success mb-2">' + status.dataset.done + "</div>" +
              '<a class="btn btn-primary register-open" target="_blank" rel="noopener" href="' +
              lastUrl + '">' + status.dataset.open + "</a> " +
              '<a class="btn btn-outline-primary register-download" href="' + lastUrl +
              '" download="' + name.replace(/"/g, "") + '">' + status.dataset.download + "</a>"
            );
          });
        }
        if (response.redirected) {
          window.location.assign(response.url);
          return null;
        }
        return response.text().then(function (page) {
          document.open();
          document.write(page);
          document.close();
        });
      })
      .catch(function () {
        show('<div class="alert alert-danger">' + status.dataset.failed + "</div>");
      })
      .then(function () {
        button.disabled = false;
      });
  });
})();
