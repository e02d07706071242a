// Time-series charts with uPlot, fed by the API's columnar series endpoints.
//
// Markup (the element is filled in place; its text content is the no-JavaScript fallback):
//   <div class="chart" data-chart-url="/api/miners/xmrig/series?since=...&points=600"
//        data-chart-series='[{"key": "hashrate1m", "label": "Hashrate 1m", "unit": "H/s"}]'
//        data-chart-title="Hashrate" role="img" aria-label="Hashrate over the last 24 hours">
//     ...fallback text...
//   </div>
// The endpoint answers {t: [unix seconds], series: {key: {min: [], max: [], avg: []}}}.
// Each configured series draws its average as a line and its per-bucket maximum as a
// thin line, so a spike that downsampling folded into one bucket stays visible.
//
// Optional additions (older markup keeps working unchanged):
// - a series may carry "format": "hashrate" to write values as the miner tiles do
//   (1.52 kH/s, scaled by 1000 up to TH/s) in the legend and, for the first series, the axis;
// - charts with the same data-chart-url (one series endpoint, several charts) share one
//   request when they load together;
// - data-chart-utc on the element writes times in UTC instead of the browser's zone (for
//   pages whose range picker speaks UTC);
// - if loading fails, the fallback text stays, after a short note saying why;
(function () {
  "use strict";

  var PALETTE = ["--chart-1", "--chart-2", "--chart-3"];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  var HASHRATE_UNITS = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s"];

  // As app/services/tiles.py format_hashrate: 0 decimals from 100, 1 from 10, else 2.
  function formatHashrate(value) {
    var unit = 0;
    while (Math.abs(value) >= 1000 && unit < HASHRATE_UNITS.length - 1) {
      value /= 1000;
      unit += 1;
    }
    var abs = Math.abs(value);
    return value.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2) + " " + HASHRATE_UNITS[unit];
  }

  function formatter(item) {
    if (item.format === "hashrate") return formatHashrate;
    return function (value) {
      var abs = Math.abs(value);
      var digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
      return value.toFixed(digits) + (item.unit ? " " + item.unit : "");
    };
  }

  function formatValue(item) {
    var format = formatter(item);
    return function (_u, value) {
      return value == null ? "—" : format(value);
    };
  }

  function build(element, payload) {
    var config = JSON.parse(element.getAttribute("data-chart-series") || "[]");
    var data = [payload.t];
    var series = [{}];
    config.forEach(function (item, index) {
      var stats = payload.series[item.key] || { avg: [], max: [] };
      var color = cssVar(PALETTE[index % PALETTE.length]);
      data.push(stats.avg);
      series.push({
        label: item.label,
        stroke: color,
        width: 2,
        spanGaps: false,
        value: formatValue(item),
      });
      data.push(stats.max);
      series.push({
        label: item.label + " (max)",
        stroke: color,
        width: 1,
        dash: [4, 4],
        value: formatValue(item),
      });
    });
    var textColor = cssVar("--muted");
    var gridColor = cssVar("--border");
    var axis = { stroke: textColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } };
    var yAxis = Object.assign({}, axis, { size: 60 });
    if (config.length && config[0].format === "hashrate") {
      yAxis.size = 80;
      yAxis.values = function (_u, splits) { return splits.map(formatHashrate); };
    }
    var options = {
      width: Math.max(element.clientWidth, 240),
      height: parseInt(element.getAttribute("data-chart-height") || "240", 10),
      series: series,
      axes: [axis, yAxis],
      scales: { x: { time: true } },
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    };
    if (element.hasAttribute("data-chart-utc")) {
      options.tzDate = function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); };
    }
    element.textContent = "";
    element.classList.add("chart-ready");
    if (!payload.t.length) {
      element.textContent = "No data in this range.";
      return;
    }
    var plot = new window.uPlot(options, data, element);
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        plot.setSize({ width: Math.max(element.clientWidth, 240), height: options.height });
      }).observe(element);
    }
  }

  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      });
  }

  function fail(element, error) {
    element.setAttribute("data-chart-state", "error");
    var note = document.createElement("p");
    note.className = "chart-error";
    note.textContent = "Chart unavailable (" + error.message + ").";
    element.insertBefore(note, element.firstChild);
  }

  // `requests` maps a URL to its pending answer, so charts of one endpoint share a request.
  function load(element, requests) {
    if (element.getAttribute("data-chart-state")) return;
    element.setAttribute("data-chart-state", "loading");
    var url = element.getAttribute("data-chart-url");
    requests[url] = requests[url] || fetchJSON(url);
    requests[url]
      .then(function (payload) {
        build(element, payload);
        element.setAttribute("data-chart-state", "ready");
      })
      .catch(function (error) { fail(element, error); });
  }

  function loadAll(root) {
    if (!window.uPlot) return;
    var requests = {};
    (root || document).querySelectorAll(".chart[data-chart-url]").forEach(function (element) {
      load(element, requests);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { loadAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { loadAll(event.detail.elt); });
})();
