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

  // On narrow screens tables stack their rows (app.css): each cell says which column it is,
  // from the table's own headings. Tables opt out with data-cell-labels="off".
  function labelCells(table) {
    if (!table.tHead || table.getAttribute("data-cell-labels") === "off") {
      return;
    }
    // The visible words of each heading: an "Actions" column hidden from sight gets none.
    var headings = table.tHead.rows.length
      ? Array.prototype.map.call(table.tHead.rows[0].cells, function (cell) {
          var copy = cell.cloneNode(true);
          copy.querySelectorAll(".visually-hidden").forEach(function (hidden) {
            hidden.remove();
          });
          return copy.textContent.replace(/\s+/g, " ").trim();
        })
      : [];
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          var label = headings[column] || "";
          column += cell.colSpan || 1;
          if (label && cell.colSpan === 1 && cell.getAttribute("data-label") !== label) {
            cell.setAttribute("data-label", label);
          }
        });
      });
    });
  }

  function labelTables(root) {
    if (!root || !root.querySelectorAll) {
      return;
    }
    var table = root.closest ? root.closest(".table-wrap table") : null;
    if (table) {
      labelCells(table);
    }
    root.querySelectorAll(".table-wrap table").forEach(labelCells);
  }

  function startLabels() {
    labelTables(document.body);
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        record.addedNodes.forEach(function (node) {
          if (node.nodeType === 1 && (node.tagName === "TR" || node.querySelector("tr"))) {
            labelTables(node);
          }
        });
      });
    }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startLabels);
  } else {
    startLabels();
  }

  // A session that ended mid-way: htmx gets 401 from the server; go to the login page.
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 401) {
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
    }
  });
})();

// --- Pages that hold still -------------------------------------------------------------
// Live regions refresh by morphing (idiomorph, hx-swap="morph:outerHTML"): the nodes stay,
// so scroll position, focus and typed text survive a refresh. What the reader changed on
// the page stays theirs: an open or closed <details>, the value of the focused input, the
// column labels this file gives stacked table cells. Times shown in local time (time.js)
// are shown so again: the server always sends them in UTC.
(function () {
  "use strict";

  if (!window.Idiomorph) {
    return;
  }
  var defaults = window.Idiomorph.defaults;
  defaults.ignoreActiveValue = true;

  defaults.callbacks.beforeAttributeUpdated = function (name, element, change) {
    if (name === "open" && element.tagName === "DETAILS") {
      return false;
    }
    if (name === "data-label" && change === "remove") {
      return false;
    }
    return true;
  };

  // time.js renders the <time> elements it sees added: a morphed one is handed back to it
  // as a fresh copy once the morph is over (focus moves to the copy).
  var morphedTimes = [];
  function renderMorphedTimes() {
    var times = morphedTimes;
    morphedTimes = [];
    times.forEach(function (element) {
      if (!element.isConnected) {
        return;
      }
      var focused = document.activeElement === element;
      var copy = element.cloneNode(true);
      element.replaceWith(copy);
      if (focused) {
        copy.focus({ preventScroll: true });
      }
    });
  }
  defaults.callbacks.afterNodeMorphed = function (oldNode) {
    var local = window.prismTime && window.prismTime.zone !== "utc";
    if (local && oldNode.nodeType === 1 && oldNode.matches("time[data-time]")) {
      if (!morphedTimes.length) {
        window.queueMicrotask(renderMorphedTimes);
      }
      morphedTimes.push(oldNode);
    }
  };
})();
