// The colour theme this browser chose in the footer: system (prefers-color-scheme, the
// default), light or dark, remembered in the prism_theme cookie. The server renders the
// choice as data-theme on <html> (no flash on load); this file only changes it in place.
(function () {
  "use strict";

  var COOKIE = "prism_theme";
  var YEAR_SECONDS = 365 * 24 * 3600;
  var THEMES = ["system", "light", "dark"];

  function apply(theme) {
    var root = document.documentElement;
    if (theme === "system") {
      root.removeAttribute("data-theme");
    } else {
      root.setAttribute("data-theme", theme);
    }
    var meta = document.querySelector('meta[name="color-scheme"]');
    if (meta) {
      meta.setAttribute("content", theme === "system" ? "light dark" : theme);
    }
  }

  function choose(theme) {
    if (THEMES.indexOf(theme) === -1) {
      theme = "system";
    }
    document.cookie =
      COOKIE + "=" + theme + "; Path=/; Max-Age=" + YEAR_SECONDS + "; SameSite=Lax" +
      (window.location.protocol === "https:" ? "; Secure" : "");
    apply(theme);
    showChoice(theme);
    document.dispatchEvent(new CustomEvent("prism:theme", { detail: { theme: theme } }));
  }

  function showChoice(theme) {
    document.querySelectorAll("[data-pref-theme]").forEach(function (button) {
      var chosen = button.getAttribute("data-pref-theme") === theme;
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
    });
  }

  function start() {
    document.querySelectorAll("[data-pref-theme]").forEach(function (button) {
      if (!button.hasAttribute("data-bound")) {
        button.setAttribute("data-bound", "");
        button.addEventListener("click", function () {
          choose(button.getAttribute("data-pref-theme"));
        });
      }
    });
    var preferences = document.getElementById("preferences");
    if (preferences) {
      preferences.hidden = false;
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
