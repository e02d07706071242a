// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Keep the active nav item in step with htmx navigation (the frame is not re-rendered).
  function markSection() {
    var marker = document.querySelector("[data-page-section]");
    var section = marker ? marker.getAttribute("data-page-section") : "";
    document.querySelectorAll(".nav a[data-section]").forEach(function (link) {
      if (link.getAttribute("data-section") === section) {
        link.setAttribute("aria-current", "page");
      } else {
        link.removeAttribute("aria-current");
      }
    });
  }

  // After a page swap, move focus to the main region so keyboard and screen-reader users
  // land on the new content.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "main") {
      markSection();
      event.detail.target.focus({ preventScroll: true });
    }
  });

  // A session that ended mid-way: htmx gets 401 from the server; go to the login page.
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 401) {
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
    }
  });
})();
