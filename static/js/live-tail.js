// Live tail of the events page: streamed agent events that match the page's filters are
// added to #events-table (first page only), marked with the class live-new so they stand
// out. Without this file the page is a static list.
(function () {
  "use strict";

  if (window.prismLiveTail) {
    return; // loaded twice (base.html and the events page): one tail is enough
  }
  window.prismLiveTail = true;

  var STREAM_URL = "/api/stream/ops";
  var RETRY_MS = 15000; // after the server refused the stream (EventSource gives up then)
  var DEFAULT_MAX_ROWS = 500;

  var source = null;
  var retryTimer = null;
  var connected = false;
  var paused = false;
  var pending = []; // events that arrived while paused, oldest first
  var pendingCount = 0; // how many arrived while paused (pending keeps at most max rows)

  function byId(id) {
    return document.getElementById(id);
  }

  function tailTable() {
    var table = byId("events-table");
    return table && table.getAttribute("data-live-tail") === "on" ? table : null;
  }

  function maxRows(table) {
    var value = parseInt(table.getAttribute("data-max-rows") || "", 10);
    return value > 0 ? value : DEFAULT_MAX_ROWS;
  }

  // ISO times from the server may carry microseconds; Date.parse is only sure of milliseconds.
  function parseTime(text) {
    return Date.parse(String(text || "").replace(/(\.\d{3})\d+/, "$1"));
  }

  function setHidden(element, hidden) {
    if (element) {
      element.hidden = hidden;
    }
  }

  // --- connection ---------------------------------------------------------------------

  function connect() {
    if (source || retryTimer) {
      return;
    }
    source = new EventSource(STREAM_URL);
    source.onopen = function () {
      connected = true;
      render();
    };
    source.onerror = function () {
      connected = false;
      // EventSource reconnects by itself unless the server refused (e.g. session ended).
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

  // --- filters ------------------------------------------------------------------------

  function matches(table, event) {
    if (!event || typeof event.id !== "string" || typeof event.at !== "string") {
      return false;
    }
    var agentId = String(event.agentId || "");
    var agent = table.getAttribute("data-agent") || "";
    if (agent && agentId !== agent) {
      return false;
    }
    // An id prefix or a part of a name (the server lists the agents whose name matches).
    var agentMatch = table.getAttribute("data-agent-match") || "";
    if (agentMatch) {
      var named = (table.getAttribute("data-agent-named") || "").split(",");
      if (agentId.toLowerCase().indexOf(agentMatch) !== 0 && named.indexOf(agentId) === -1) {
        return false;
      }
    }
    var text = table.getAttribute("data-q") || "";
    if (text && String(event.message || "").toLowerCase().indexOf(text) === -1) {
      return false;
    }
    var kinds = (table.getAttribute("data-kinds") || "").split(",").filter(Boolean);
    if (kinds.length && kinds.indexOf(event.kind) === -1) {
      return false;
    }
    var at = parseTime(event.at);
    if (isNaN(at)) {
      return false;
    }
    var since = table.getAttribute("data-since");
    if (since && at < parseTime(since)) {
      return false;
    }
    var until = table.getAttribute("data-until");
    if (until && at >= parseTime(until)) {
      return false;
    }
    return true;
  }

  // --- rows ---------------------------------------------------------------------------

  function cell(child) {
    var td = document.createElement("td");
    td.appendChild(child);
    return td;
  }

  function cellOf(className, child) {
    var td = cell(child);
    td.className = className;
    return td;
  }

  // The same text as the server's: "2026-12-04 18:20:27 UTC", or the chosen zone's.
  function timeText(at) {
    if (window.prismTime) {
      return window.prismTime.format(new Date(parseTime(at)));
    }
    return at.slice(0, 19).replace("T", " ") + " UTC";
  }

  // The stream carries ids only: the name comes from a row already shown or the suggestions.
  function agentName(agentId) {
    var rows = document.querySelectorAll("#events-table td.event-agent");
    for (var i = 0; i < rows.length; i++) {
      var link = rows[i].querySelector("a");
      var name = rows[i].querySelector(".agent-name");
      if (link && name && link.textContent === agentId) {
        return name.textContent;
      }
    }
    var options = document.querySelectorAll("#events-agent-ids option");
    for (var j = 0; j < options.length; j++) {
      if (options[j].value === agentId) {
        return options[j].getAttribute("label") || "";
      }
    }
    return "";
  }

  function buildRow(event) {
    var row = document.createElement("tr");
    row.className = "live-new";
    row.setAttribute("data-id", event.id);
    row.setAttribute("data-at", event.at);

    var time = document.createElement("time");
    time.setAttribute("datetime", event.at);
    time.setAttribute("data-time", "absolute");
    time.setAttribute("data-precision", "second");
    time.textContent = timeText(event.at);
    row.appendChild(cellOf("event-time", time));

    var agentId = String(event.agentId || "");
    var agentCell = document.createElement("td");
    agentCell.className = "event-agent";
    var link = document.createElement("a");
    link.setAttribute("href", "/agents/" + encodeURIComponent(agentId));
    link.textContent = agentId;
    agentCell.appendChild(link);
    var name = agentName(agentId);
    if (name) {
      var label = document.createElement("span");
      label.className = "agent-name muted";
      label.textContent = name;
      agentCell.appendChild(document.createTextNode(" "));
      agentCell.appendChild(label);
    }
    row.appendChild(agentCell);

    var kind = String(event.kind || "");
    var badge = document.createElement("span");
    var warning = kind === "warn" || kind === "error";
    badge.className = "badge " + (warning ? "status-" : "kind-") + kind;
    badge.textContent = kind;
    row.appendChild(cellOf("event-kind", badge));

    row.appendChild(cellOf("event-message", document.createTextNode(String(event.message || ""))));
    return row;
  }

  // True when the row sorts after (is older than) the event: order is (at desc, id desc).
  function isOlder(row, at, id) {
    var rowAt = parseTime(row.getAttribute("data-at"));
    var rowId = row.getAttribute("data-id") || "";
    return rowAt < at || (rowAt === at && rowId < id);
  }

  function insert(table, event) {
    var body = table.tBodies[0];
    if (!body) {
      return;
    }
    var rows = body.querySelectorAll("tr[data-id]");
    var at = parseTime(event.at);
    var before = null;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-id") === event.id) {
        return; // already shown (rendered by the server, or streamed twice)
      }
      if (!before && isOlder(rows[i], at, event.id)) {
        before = rows[i];
      }
    }
    if (!before && table.getAttribute("data-has-older") === "true") {
      return; // older than every row shown: it belongs to a later page
    }
    body.querySelectorAll("tr.empty-row").forEach(function (row) {
      row.remove();
    });
    body.insertBefore(buildRow(event), before);
    countOne();
    trim(table, body);
  }

  // The total of matching events follows the rows the tail adds (unless it is "more than").
  function countOne() {
    var total = byId("events-total");
    var value = total ? parseInt(total.getAttribute("data-total") || "", 10) : NaN;
    if (!total || isNaN(value) || /^more/.test(total.textContent)) {
      return;
    }
    total.setAttribute("data-total", String(value + 1));
    total.textContent = (value + 1).toLocaleString("en-US");
  }

  function trim(table, body) {
    var rows = body.querySelectorAll("tr[data-id]");
    var limit = maxRows(table);
    if (rows.length <= limit) {
      return;
    }
    for (var i = rows.length - 1; i >= limit; i--) {
      rows[i].remove();
    }
    // The rows dropped are still reachable: "Older events" continues after the last one kept.
    var last = rows[limit - 1];
    table.setAttribute("data-has-older", "true");
    pointOlderLink(table, last.getAttribute("data-at"), last.getAttribute("data-id"));
  }

  function encodeCursor(values) {
    // Same as the server's encode_cursor: urlsafe base64 of compact JSON, no padding.
    var bytes = new TextEncoder().encode(JSON.stringify(values));
    var binary = "";
    bytes.forEach(function (byte) {
      binary += String.fromCharCode(byte);
    });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function pointOlderLink(table, at, id) {
    var pager = byId("events-pager");
    if (!pager) {
      pager = document.createElement("nav");
      pager.id = "events-pager";
      pager.className = "pagination";
      pager.setAttribute("aria-label", "Pages");
      var wrap = table.closest(".table-wrap") || table;
      wrap.parentNode.insertBefore(pager, wrap.nextSibling);
    }
    // A new element rather than a new href: htmx boosted the old link with its old href.
    var link = document.createElement("a");
    link.id = "events-older";
    link.className = "button";
    link.textContent = "Older events";
    var pageUrl = table.getAttribute("data-page-url") || "/events";
    var separator = pageUrl.indexOf("?") === -1 ? "?" : "&";
    link.setAttribute("href", pageUrl + separator + "cursor=" + encodeCursor([at, id]));
    var old = byId("events-older");
    if (old) {
      old.replaceWith(link);
    } else {
      pager.appendChild(link);
    }
    if (window.htmx) {
      window.htmx.process(link);
    }
  }

  // --- stream messages ----------------------------------------------------------------

  function onMessage(message) {
    var payload;
    try {
      payload = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    if (!payload || payload.type !== "agent_event") {
      return;
    }
    var table = tailTable();
    if (!table || !matches(table, payload.data)) {
      return;
    }
    if (paused) {
      pending.push(payload.data);
      if (pending.length > maxRows(table)) {
        pending.shift();
      }
      pendingCount += 1;
      render();
      return;
    }
    insert(table, payload.data);
  }

  function resume() {
    var table = tailTable();
    var queued = pending;
    paused = false;
    pending = [];
    pendingCount = 0;
    if (table) {
      // The filters may have changed while paused: check again.
      queued.forEach(function (event) {
        if (matches(table, event)) {
          insert(table, event);
        }
      });
    }
    render();
  }

  // --- controls -----------------------------------------------------------------------

  function render() {
    var table = tailTable();
    var status = byId("tail-status");
    var button = byId("tail-pause");
    var note = byId("tail-pending");
    setHidden(byId("tail-controls"), !table);
    setHidden(button, !table);
    if (!table) {
      setHidden(note, true);
      return;
    }
    var state = !connected ? "offline" : paused ? "paused" : "live";
    if (status) {
      status.setAttribute("data-state", state);
      status.textContent =
        state === "live" ? "Live" : state === "paused" ? "Paused" : "Offline: reconnecting…";
    }
    if (button) {
      button.setAttribute("aria-pressed", paused ? "true" : "false");
      button.textContent = paused ? "Resume" : "Pause";
    }
    if (note) {
      note.hidden = !paused || pendingCount === 0;
      note.textContent =
        pendingCount === 1
          ? "1 new event — resume to show"
          : pendingCount + " new events — resume to show";
    }
  }

  function onPauseClick() {
    if (paused) {
      resume();
    } else {
      paused = true;
      render();
    }
  }

  // Start or stop with the page: called on load and after every htmx swap.
  function sync() {
    var button = byId("tail-pause");
    if (button && !button.hasAttribute("data-tail-bound")) {
      button.setAttribute("data-tail-bound", "");
      button.addEventListener("click", onPauseClick);
    }
    if (tailTable()) {
      connect();
    } else {
      disconnect();
      if (!byId("events-table")) {
        // Left the events page: a later visit starts unpaused.
        paused = false;
        pending = [];
        pendingCount = 0;
      }
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
      sync(); // restored from the back-forward cache: the stream was closed on leaving
    }
  });
})();
