// Starts Redoc from a file, since the CSP forbids inline scripts.
(function () {
  "use strict";
  var target = document.getElementById("redoc");
  window.Redoc.init(target.getAttribute("data-openapi-url"), {}, target);
})();
