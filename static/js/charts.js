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
(function () {
  "use strict";

  var PALETTE = ["--chart-1", "--chart-2", "--chart-3"];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function formatValue(unit) {
    return function (_u, value) {
      if (value == null) return "—";
      var abs = Math.abs(value);
      var digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
      return value.toFixed(digits) + (unit ? " " + unit : "");
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
        value: formatValue(item.unit),
      });
      data.push(stats.max);
      series.push({
        label: item.label + " (max)",
        stroke: color,
        width: 1,
        dash: [4, 4],
        value: formatValue(item.unit),
      });
    });
    var textColor = cssVar("--muted");
    var gridColor = cssVar("--border");
    var axis = { stroke: textColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } };
    var options = {
      width: Math.max(element.clientWidth, 240),
      height: parseInt(element.getAttribute("data-chart-height") || "240", 10),
      series: series,
      axes: [axis, Object.assign({}, axis, { size: 60 })],
      scales: { x: { time: true } },
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    };
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

  function load(element) {
    if (element.getAttribute("data-chart-state")) return;
    element.setAttribute("data-chart-state", "loading");
    fetch(element.getAttribute("data-chart-url"), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (payload) {
        build(element, payload);
        element.setAttribute("data-chart-state", "ready");
      })
      .catch(function (error) {
        element.setAttribute("data-chart-state", "error");
        element.textContent = "Chart unavailable (" + error.message + ").";
      });
  }

  function loadAll(root) {
    if (!window.uPlot) return;
    (root || document).querySelectorAll(".chart[data-chart-url]").forEach(load);
  }

  document.addEventListener("DOMContentLoaded", function () { loadAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { loadAll(event.detail.elt); });
})();
