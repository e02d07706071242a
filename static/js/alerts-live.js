// Live Alerts page: when the ops stream announces an alert transition ({"type": "alert"}),
// ask the page for its live region again (#alerts-live, data-live-url: the server renders
// it, filters applied) and swap it in with htmx; the answer carries the nav's firing count
// out of band. Only while an Alerts page is shown: other pages hold no stream for this.
(function () {
  "use strict";

  if (window.prismAlertsLive) {
    return;
  }
  window.prismAlertsLive = true;

  var STREAM_URL = "/api/stream/ops";
  var RETRY_MS = 15000;
  var DEBOUNCE_MS = 250; // a rule firing for 50 subjects at once: one refresh

  var source = null;
  var retryTimer = null;
  var refreshTimer = null;
  var connected = false;

  function liveRegion() {
    var region = document.getElementById("alerts-live");
    return region && region.getAttribute("data-live-url") ? region : null;
  }

  function render() {
    var controls = document.getElementById("alerts-live-controls");
    var status = document.getElementById("alerts-live-status");
    if (controls) {
      controls.hidden = !liveRegion();
    }
    if (status) {
      status.setAttribute("data-state", connected ? "live" : "offline");
      status.textContent = connected ? "Live" : "Offline: reconnecting…";
    }
  }

  function refresh() {
    var region = liveRegion();
    if (!region || !window.htmx) {
      return;
    }
    window.htmx.ajax("GET", region.getAttribute("data-live-url"), {
      target: "#alerts-live",
      swap: "outerHTML",
    });
  }

  function scheduleRefresh() {
    if (!refreshTimer) {
      refreshTimer = window.setTimeout(function () {
        refreshTimer = null;
        refresh();
      }, DEBOUNCE_MS);
    }
  }

  function onMessage(message) {
    var payload;
    try {
      payload = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    if (payload && payload.type === "alert") {
      scheduleRefresh();
    }
  }

  function connect() {
    if (source || retryTimer) {
      return;
    }
    source = new EventSource(STREAM_URL);
    source.onopen = function () {
      connected = true;
      render();
      scheduleRefresh(); // transitions made while the stream was down
    };
    source.onerror = function () {
      connected = false;
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        retryTimer = window.setTimeout(function () {
          retryTimer = null;
          sync();
        }, RETRY_MS);
      }
      render();
    };
    source.onmessage = onMessage;
  }

  function disconnect() {
    if (source) {
      source.close();
      source = null;
    }
    if (retryTimer) {
      window.clearTimeout(retryTimer);
      retryTimer = null;
    }
    connected = false;
  }

  function sync() {
    if (liveRegion()) {
      connect();
    } else {
      disconnect();
    }
    render();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", sync);
  } else {
    sync();
  }
  document.addEventListener("htmx:afterSettle", sync);
  document.addEventListener("htmx:historyRestore", sync);
  window.addEventListener("pagehide", disconnect);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      sync();
    }
  });
})();
