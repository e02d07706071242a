// Live Audit page: when the ops stream announces an audit row ({"type": "audit"}), fetch the
// rows newer than the newest one shown (the server renders them, filters applied) and put
// them on top of #audit-table. Only on the first page of a valid filter (data-live="on").
(function () {
  "use strict";

  if (window.prismAuditLive) {
    return;
  }
  window.prismAuditLive = true;

  var STREAM_URL = "/api/stream/ops";
  var RETRY_MS = 15000;
  var DEBOUNCE_MS = 250; // a burst of actions: one fetch
  var MAX_ROWS = 500;

  var source = null;
  var retryTimer = null;
  var fetchTimer = null;
  var fetching = false;
  var again = false;
  var connected = false;

  function liveTable() {
    var table = document.getElementById("audit-table");
    return table && table.getAttribute("data-live") === "on" ? table : null;
  }

  function newestId(table) {
    var row = table.tBodies[0] && table.tBodies[0].querySelector("tr[data-id]");
    return row ? parseInt(row.getAttribute("data-id"), 10) || 0 : 0;
  }

  function render() {
    var controls = document.getElementById("audit-live-controls");
    var status = document.getElementById("audit-live-status");
    var table = liveTable();
    if (controls) {
      controls.hidden = !table;
    }
    if (status) {
      status.setAttribute("data-state", connected ? "live" : "offline");
      status.textContent = connected ? "Live" : "Offline: reconnecting…";
    }
  }

  function refresh() {
    var table = liveTable();
    if (!table) {
      return;
    }
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    var url = table.getAttribute("data-rows-url") || "/audit/rows";
    url += (url.indexOf("?") === -1 ? "?" : "&") + "after=" + newestId(table);
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
          return "";
        }
        return response.ok ? response.text() : "";
      })
      .then(function (html) {
        insert(html);
      })
      .catch(function () {})
      .then(function () {
        fetching = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  function insert(html) {
    var table = liveTable();
    if (!table || !html) {
      return;
    }
    var body = table.tBodies[0];
    var holder = document.createElement("tbody");
    holder.innerHTML = html; // rendered and escaped by the server (partials/audit/row.html)
    var rows = holder.querySelectorAll("tr[data-id]");
    if (!rows.length) {
      return;
    }
    body.querySelectorAll("tr.empty-row").forEach(function (row) {
      row.remove();
    });
    var first = body.firstChild;
    rows.forEach(function (row) {
      if (!document.getElementById(row.id)) {
        body.insertBefore(row, first);
      }
    });
    var all = body.querySelectorAll("tr[data-id]");
    for (var i = all.length - 1; i >= MAX_ROWS; i--) {
      all[i].remove();
    }
    if (window.htmx) {
      window.htmx.process(body);
    }
  }

  function onMessage(message) {
    var payload;
    try {
      payload = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    if (!payload || payload.type !== "audit") {
      return;
    }
    if (!fetchTimer) {
      fetchTimer = window.setTimeout(function () {
        fetchTimer = null;
        refresh();
      }, DEBOUNCE_MS);
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
      refresh(); // rows written while the stream was down
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
    if (liveTable()) {
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
