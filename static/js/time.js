// Times in the zone this browser chose: UTC (what the server renders, the default) or the
// browser's own zone, remembered in the prism_tz cookie. Without this file every time reads
// in UTC, which the page says.
//
// It rewrites <time data-time="absolute"> text and <time data-time="relative"> titles, the
// datetime-local pickers marked data-time-input (their values travel as UTC: see
// onConfigRequest) and their [data-time-zone-label] / [data-time-zone-name] labels, on load
// and whenever elements are added (htmx swaps, live rows).
//
// For other scripts (charts): window.prismTime = {
//   zone: "utc" | "local",             the current choice
//   zoneName(date): "UTC" | "CET" ...,  the name of the zone at that moment
//   format(date, {seconds: true}): "2026-12-04 18:20:27 UTC" in the chosen zone,
//   parts(date): {year, month (1-12), day, hour, minute, second} in the chosen zone,
//   setZone("utc" | "local"),          change, remember, re-render
// } and a "prism:timezone" event on document after every change (detail: {zone}).
(function () {
  "use strict";

  if (window.prismTime) {
    return;
  }

  var COOKIE = "prism_tz";
  var YEAR_SECONDS = 365 * 24 * 3600;
  var NAIVE = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/;
  var zone = readZone();

  function readZone() {
    var match = document.cookie.match(/(?:^|;\s*)prism_tz=([^;]*)/);
    return match && match[1] === "local" ? "local" : "utc";
  }

  function pad(value) {
    return (value < 10 ? "0" : "") + value;
  }

  // ISO times from the server may carry microseconds; Date.parse is only sure of milliseconds.
  function parse(text) {
    return new Date(Date.parse(String(text || "").replace(/(\.\d{3})\d+/, "$1")));
  }

  function zoneName(date) {
    if (zone !== "local") {
      return "UTC";
    }
    try {
      var parts = new Intl.DateTimeFormat("en-GB", { timeZoneName: "short" }).formatToParts(date);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") {
          return parts[i].value;
        }
      }
    } catch (error) {
      // An engine without formatToParts: fall through to the offset.
    }
    var offset = -date.getTimezoneOffset();
    var sign = offset < 0 ? "-" : "+";
    offset = Math.abs(offset);
    return "UTC" + sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60);
  }

  function parts(date) {
    var local = zone === "local";
    return {
      year: local ? date.getFullYear() : date.getUTCFullYear(),
      month: (local ? date.getMonth() : date.getUTCMonth()) + 1,
      day: local ? date.getDate() : date.getUTCDate(),
      hour: local ? date.getHours() : date.getUTCHours(),
      minute: local ? date.getMinutes() : date.getUTCMinutes(),
      second: local ? date.getSeconds() : date.getUTCSeconds(),
    };
  }

  function wallClock(date, seconds) {
    var p = parts(date);
    return (
      p.year + "-" + pad(p.month) + "-" + pad(p.day) + "T" + pad(p.hour) + ":" + pad(p.minute) +
      (seconds ? ":" + pad(p.second) : "")
    );
  }

  function format(date, options) {
    var moment = date instanceof Date ? date : new Date(date);
    if (isNaN(moment.getTime())) {
      return "";
    }
    var seconds = !options || options.seconds !== false;
    return wallClock(moment, seconds).replace("T", " ") + " " + zoneName(moment);
  }

  // --- rendering --------------------------------------------------------------------

  function renderTime(element) {
    var moment = parse(element.getAttribute("datetime"));
    if (isNaN(moment.getTime())) {
      return;
    }
    var text = format(moment, { seconds: element.getAttribute("data-precision") !== "minute" });
    if (element.getAttribute("data-time") === "absolute") {
      if (element.textContent !== text) {
        element.textContent = text;
      }
    } else if (element.getAttribute("title") !== text) {
      element.setAttribute("title", text);
    }
  }

  // A picker's value is UTC as the server rendered it (data-time-shown absent) or in the
  // zone it was last shown in: convert it to the zone chosen now.
  function renderInput(input) {
    var shown = input.getAttribute("data-time-shown") || "utc";
    if (shown === zone) {
      return;
    }
    var value = input.value;
    if (value && NAIVE.test(value)) {
      var moment = shown === "utc" ? parse(value + "Z") : parse(value);
      if (!isNaN(moment.getTime())) {
        input.value = wallClock(moment, /T\d\d:\d\d:\d\d/.test(value));
      }
    }
    input.setAttribute("data-time-shown", zone);
  }

  function renderLabels(root) {
    var name = zoneName(new Date());
    root.querySelectorAll("[data-time-zone-label]").forEach(function (label) {
      var text = zone === "local" ? "(local time, " + name + ")" : "(UTC)";
      if (label.textContent !== text) {
        label.textContent = text;
      }
    });
    root.querySelectorAll("[data-time-zone-name]").forEach(function (label) {
      var text = zone === "local" ? "local time (" + name + ")" : "UTC";
      if (label.textContent !== text) {
        label.textContent = text;
      }
    });
  }

  function render(root) {
    if (!root || !root.querySelectorAll) {
      return;
    }
    if (root.matches && root.matches("time[data-time]")) {
      renderTime(root);
    }
    root.querySelectorAll("time[data-time]").forEach(renderTime);
    root.querySelectorAll("input[data-time-input]").forEach(renderInput);
    renderLabels(root);
  }

  // --- pickers travel as UTC ----------------------------------------------------------

  // A local wall-clock value becomes an ISO instant with Z: the server reads that as is.
  function toUtc(value) {
    if (!value || !NAIVE.test(value)) {
      return value;
    }
    var moment = parse(value);
    return isNaN(moment.getTime()) ? value : moment.toISOString().replace(".000Z", "Z");
  }

  function onConfigRequest(event) {
    var source = event.detail && event.detail.elt;
    var form = source && (source.form || (source.closest && source.closest("form")));
    if (!form) {
      return;
    }
    form.querySelectorAll("input[data-time-input][name]").forEach(function (input) {
      if (input.getAttribute("data-time-shown") !== "local") {
        return;
      }
      var name = input.name;
      var converted = toUtc(input.value);
      var formData = event.detail.formData;
      if (formData && typeof formData.set === "function") {
        formData.set(name, converted);
      } else if (event.detail.parameters) {
        event.detail.parameters[name] = converted;
      }
    });
  }

  // --- the choice ---------------------------------------------------------------------

  function setZone(next) {
    zone = next === "local" ? "local" : "utc";
    document.cookie =
      COOKIE + "=" + zone + "; Path=/; Max-Age=" + YEAR_SECONDS + "; SameSite=Lax" +
      (window.location.protocol === "https:" ? "; Secure" : "");
    window.prismTime.zone = zone;
    document.documentElement.setAttribute("data-time-zone", zone);
    showChoice();
    render(document.body);
    document.dispatchEvent(new CustomEvent("prism:timezone", { detail: { zone: zone } }));
  }

  function showChoice() {
    document.querySelectorAll("[data-pref-time-zone]").forEach(function (button) {
      var chosen = button.getAttribute("data-pref-time-zone") === zone;
      button.setAttribute("aria-pressed", chosen ? "true" : "false");
    });
  }

  function bindControl() {
    document.querySelectorAll("[data-pref-time-zone]").forEach(function (button) {
      if (!button.hasAttribute("data-bound")) {
        button.setAttribute("data-bound", "");
        button.addEventListener("click", function () {
          setZone(button.getAttribute("data-pref-time-zone"));
        });
      }
    });
    showChoice();
    var preferences = document.getElementById("preferences");
    if (preferences) {
      preferences.hidden = false;
    }
  }

  window.prismTime = {
    zone: zone,
    zoneName: zoneName,
    format: format,
    parts: parts,
    setZone: setZone,
  };

  function start() {
    bindControl();
    render(document.body);
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        record.addedNodes.forEach(function (node) {
          if (node.nodeType === 1) {
            render(node);
          }
        });
      });
    }).observe(document.body, { childList: true, subtree: true });
  }

  document.addEventListener("htmx:configRequest", onConfigRequest);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
