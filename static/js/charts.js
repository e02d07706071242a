// Time-series charts with uPlot, fed by the API's columnar series endpoints.
//
// Markup (the element is filled in place; its text content is the no-JavaScript fallback):
//   <div class="chart" data-chart-url="/api/miners/xmrig/series?since=...&until=...&points=800"
//        data-chart-series='[{"key": "effectiveHashrate", "label": "Effective hashrate",
//                             "unit": "H/s", "format": "hashrate"}]'
//        role="img" aria-label="Hashrate over the last 24 hours">...fallback text...</div>
// The endpoint answers {since, until, bucketSeconds, t: [unix seconds],
// series: {key: {min: [], max: [], avg: []}}}.
//
// Honest by construction:
// - the time axis spans the answer's since..until, whatever part of it has data;
// - points further apart than a bucket (raw samples: than their usual spacing, at most
//   data-chart-gap seconds) get a null between them: the line breaks where data is missing;
// - each series draws one line (data-chart-options "line": the bucket's min, avg or max) and
//   its bucket's min-max as a band behind it, so what downsampling folded stays visible;
// - "kind": "counter" series are cumulative counters drawn as their increase per minute
//   (a reset counts again from 0), "rejectPercent" adds rejected / (accepted + rejected) in %;
// - "thresholds" draw limit lines; every axis names its unit ("axis", and the time zone).
// Optional attributes:
// - data-chart-options='{"line": "min", "kind": "level", "axis": "°C", "thresholds": [...]}';
// - a series may carry "format": "hashrate" (1.52 kH/s, as the tiles) and "hidden": true
//   (off until its legend entry is clicked);
// - data-chart-sync="key": charts of one key share their cursor;
// - data-chart-annotations="id": a <script type="application/json"> island of incidents
//   [{start, end|null, severity, title}] drawn as shaded spans;
// - inside an element with data-chart-zoom="/page/url" (and data-chart-reset), dragging
//   across a chart asks for that page with the dragged since/until: the zoom is a URL.
// Times are UTC unless window.prismTime.zone is "local". Charts with the same data-chart-url
// share one request. Once drawn, the element has data-chart-state="ready" and its
// `prismChart` property holds {plot, range, data, payload}; plot.prism says what the
// plugins drew (bands, thresholds, annotations, tooltip).
// If loading fails, the fallback text stays, after a short note saying why.
// Its parts (chart-data.js, chart-format.js, chart-draw.js, charts.css) load only on pages
// with charts, so base.html names charts.js alone.
(function () {
  "use strict";

  var PARTS = [
    ["/static/js/chart-data.js", "prismChartData"],
    ["/static/js/chart-format.js", "prismChartFormat"],
    ["/static/js/chart-draw.js", "prismChartDraw"],
  ];
  var STYLESHEET = "/static/css/charts.css";
  var PALETTE = ["--chart-1", "--chart-2", "--chart-3"];
  var MIN_ZOOM_SECONDS = 60;
  var partsLoaded = null;

  function loadScript(src, global) {
    return new Promise(function (resolve, reject) {
      if (window[global]) { resolve(); return; }
      var script = document.createElement("script");
      script.src = src;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  function loadParts() {
    if (!partsLoaded) {
      if (!document.querySelector('link[href="' + STYLESHEET + '"]')) {
        var link = document.createElement("link");
        link.rel = "stylesheet";
        link.href = STYLESHEET;
        document.head.appendChild(link);
      }
      partsLoaded = Promise.all(PARTS.map(function (part) { return loadScript(part[0], part[1]); }));
    }
    return partsLoaded;
  }

  function parseJSON(text, fallback) {
    try { return text ? JSON.parse(text) : fallback; } catch (_error) { return fallback; }
  }

  function annotationsOf(element) {
    var id = element.getAttribute("data-chart-annotations");
    var island = id && document.getElementById(id);
    return island ? parseJSON(island.textContent, []) : [];
  }

  function nulls(length) {
    var out = [];
    for (var i = 0; i < length; i++) out.push(null);
    return out;
  }

  // The columns uPlot draws, before gaps: per series its line, band and formatter.
  function columnsOf(config, options, payload, gap) {
    var D = window.prismChartData;
    var t = payload.t;
    var counter = options.kind === "counter";
    var line = options.line || "avg";
    var columns = config.map(function (item) {
      var stats = payload.series[item.key] || {};
      if (counter) {
        // A counter's newest value in a bucket is its maximum (unless it was reset there).
        return { item: item, values: D.counterRates(t, stats.max || nulls(t.length), gap) };
      }
      return {
        item: item,
        values: stats[line] || nulls(t.length),
        lo: stats.min || nulls(t.length),
        hi: stats.max || nulls(t.length),
      };
    });
    if (options.rejectPercent && columns.length >= 2) {
      columns.push({
        item: { key: "rejectPercent", label: "Rejected %", unit: "%" },
        values: D.rejectPercent(columns[0].values, columns[1].values),
        scale: "%",
      });
    }
    return columns;
  }

  function yRange(bandColumns, thresholds) {
    return function (u) {
      var low = Infinity;
      var high = -Infinity;
      function take(value) {
        if (value == null) return;
        if (value < low) low = value;
        if (value > high) high = value;
      }
      u.series.forEach(function (series, index) {
        if (index === 0 || !series.show || series.scale !== "y") return;
        u.data[index].forEach(take);
        var band = bandColumns[index];
        if (band) { band.lo.forEach(take); band.hi.forEach(take); }
      });
      // Limits stay in view: how far a reading is from them is what the chart is for.
      thresholds.forEach(function (limit) { take(limit.value); });
      if (low === Infinity) return [0, 1];
      return window.uPlot.rangeNum(low, high, 0.1, true);
    };
  }

  function percentRange(u, _min, max) {
    return [0, Math.min(100, Math.max(5, (max || 0) * 1.2))];
  }

  function describer(columns, annotations) {
    return function (u, idx) {
      var time = u.data[0][idx];
      var lines = [window.prismChartFormat.timeText(time)];
      columns.forEach(function (column, n) {
        var series = u.series[n + 1];
        if (!series.show) return;
        var format = window.prismChartFormat.formatter(column.item);
        var value = u.data[n + 1][idx];
        var text = column.item.label + ": " + (value == null ? "no data" : format(value));
        var lo = column.gapped && column.gapped.lo[idx];
        var hi = column.gapped && column.gapped.hi[idx];
        if (value != null && lo != null && hi != null && lo !== hi) {
          text += " (" + format(lo) + " to " + format(hi) + ")";
        }
        lines.push(text);
      });
      annotations.forEach(function (incident) {
        var end = incident.end == null ? Infinity : incident.end;
        if (incident.start <= time && time <= end) {
          lines.push("Incident: " + incident.title + " (" + incident.severity + ")");
        }
      });
      return lines;
    };
  }

  function isoSeconds(seconds) {
    return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  // A drag across the chart asks for the page of the dragged range (the zoom is a URL).
  function zoomTo(section, since, until) {
    if (until - since < MIN_ZOOM_SECONDS) {
      var middle = (since + until) / 2;
      since = Math.floor(middle - MIN_ZOOM_SECONDS / 2);
      until = since + MIN_ZOOM_SECONDS;
    }
    var query = new URLSearchParams({ since: isoSeconds(since), until: isoSeconds(until) });
    var reset = section.getAttribute("data-chart-reset");
    if (reset) query.set("reset", reset);
    var url = section.getAttribute("data-chart-zoom") + "?" + query.toString();
    if (window.htmx) {
      window.htmx.ajax("GET", url, { source: section, target: section, swap: "outerHTML" });
    } else {
      window.location.assign(url);
    }
  }

  function zoomHook(section) {
    return function (u) {
      var select = u.select;
      if (select.width < 3) return;
      var since = Math.floor(u.posToVal(select.left, "x"));
      var until = Math.ceil(u.posToVal(select.left + select.width, "x"));
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      zoomTo(section, since, until);
    };
  }

  function build(element, payload) {
    var D = window.prismChartData;
    var W = window.prismChartDraw;
    var config = parseJSON(element.getAttribute("data-chart-series"), []);
    var options = parseJSON(element.getAttribute("data-chart-options"), {});
    var thresholdList = options.thresholds || [];
    var annotations = annotationsOf(element);
    var F = window.prismChartFormat;
    var currentZone = F.zone();
    var t = payload.t;
    var since = D.epoch(payload.since);
    var until = D.epoch(payload.until);
    if (since == null || until == null) {  // an endpoint without its window: the data's
      since = t.length ? t[0] : 0;
      until = t.length ? t[t.length - 1] : 1;
    }
    var gap = D.gapThreshold(t, payload.bucketSeconds,
      parseFloat(element.getAttribute("data-chart-gap")) || null);
    var columns = columnsOf(config, options, payload, gap);
    var flat = [];
    columns.forEach(function (column) { flat.push(column.values, column.lo, column.hi); });
    // No points at all: the window's two ends without values, so the axes still show it.
    var gapped = t.length ? D.withGaps(t, flat, gap)
      : D.withGaps([since, until], flat.map(function () { return [null, null]; }), Infinity);
    var data = [gapped.t];
    var series = [{ label: "Time", value: function (_u, v) { return v == null ? "" : F.timeText(v); } }];
    var bandColumns = {};
    var bandList = [];
    var hasValues = false;
    columns.forEach(function (column, n) {
      var values = gapped.columns[3 * n];
      column.gapped = column.lo ? { lo: gapped.columns[3 * n + 1], hi: gapped.columns[3 * n + 2] } : null;
      hasValues = hasValues || values.some(function (v) { return v != null; });
      var color = column.scale === "%" ? W.cssVar("--critical", "#b91c1c") : W.cssVar(PALETTE[n % PALETTE.length], "#888");
      data.push(values);
      series.push({
        label: column.item.label,
        stroke: color,
        width: 2,
        scale: column.scale || "y",
        show: !column.item.hidden,
        spanGaps: false,
        dash: column.scale === "%" ? [4, 4] : undefined,
        value: function (_u, v) { return v == null ? "—" : F.formatter(column.item)(v); },
      });
      if (column.gapped) {
        bandColumns[n + 1] = column.gapped;
        bandList.push({ series: n + 1, lo: column.gapped.lo, hi: column.gapped.hi, color: color });
      }
    });
    var textColor = W.cssVar("--muted", "#888");
    var gridColor = W.cssVar("--border", "#ccc");
    var axis = { stroke: textColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } };
    var xAxis = Object.assign({}, axis, { label: F.timeAxisLabel(), values: F.timeTicks, size: 50 });
    var firstFormat = config.length && config[0].format === "hashrate";
    var yAxis = Object.assign({}, axis, {
      scale: "y",
      label: options.axis || (config[0] && config[0].unit) || "",
      size: firstFormat ? 80 : 60,
    });
    if (firstFormat) yAxis.values = function (_u, splits) { return splits.map(F.hashrate); };
    var axes = [xAxis, yAxis];
    var scales = {
      x: { time: true, range: function () { return [since, until]; } },
      y: { range: yRange(bandColumns, thresholdList) },
    };
    if (options.rejectPercent) {
      scales["%"] = { range: percentRange };
      axes.push(Object.assign({}, axis, { scale: "%", side: 1, label: "% rejected", size: 50, grid: { show: false } }));
    }
    var section = element.closest("[data-chart-zoom]");
    var sync = element.getAttribute("data-chart-sync");
    var plugins = [
      W.annotations(annotations),
      W.bands(bandList),
      W.thresholds(thresholdList, options.axis),
      W.tooltip(describer(columns, annotations)),
    ];
    var height = parseInt(element.getAttribute("data-chart-height") || "240", 10);
    var uplotOptions = {
      width: Math.max(element.clientWidth, 240),
      height: height,
      series: series,
      axes: axes,
      scales: scales,
      plugins: plugins,
      legend: { live: false },
      cursor: {
        sync: sync ? { key: sync } : undefined,
        // Only a page that can show another range zooms; the chart itself never rescales.
        drag: { x: !!section, y: false, setScale: false },
      },
      hooks: {
        setSelect: section ? [zoomHook(section)] : [],
        ready: [function () { element.setAttribute("data-chart-state", "ready"); }],
      },
    };
    if (currentZone === "utc") {
      uplotOptions.tzDate = function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); };
    }
    element.textContent = "";
    element.classList.add("chart-ready");
    var plot = new window.uPlot(uplotOptions, data, element);
    if (!hasValues) {
      var note = document.createElement("p");
      note.className = "chart-empty";
      note.textContent = "No data in this range.";
      element.appendChild(note);
    }
    var observer = null;
    if (window.ResizeObserver) {
      observer = new ResizeObserver(function () {
        plot.setSize({ width: Math.max(element.clientWidth, 240), height: height });
      });
      observer.observe(element);
    }
    element.prismChart = {
      plot: plot,
      range: [since, until],
      data: data,
      payload: payload,
      destroy: function () {
        if (observer) observer.disconnect();
        plot.destroy();
      },
    };
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
    Promise.all([requests[url], loadParts()])
      .then(function (answers) { build(element, answers[0]); })
      .catch(function (error) { fail(element, error); });
  }

  function loadAll(root) {
    if (!window.uPlot) return;
    var requests = {};
    (root || document).querySelectorAll(".chart[data-chart-url]").forEach(function (element) {
      load(element, requests);
    });
  }

  // A chart leaving the page (an htmx swap) leaves its cursor sync group and its observer:
  // htmx announces the cleanup of every element it removes, one by one.
  function destroy(element) {
    if (element && element.prismChart) {
      element.prismChart.destroy();
      element.prismChart = null;
    }
  }

  // Another time zone chosen (time.js): the same answers drawn again in it.
  function redrawAll() {
    document.querySelectorAll(".chart").forEach(function (element) {
      var chart = element.prismChart;
      if (!chart) return;
      destroy(element);
      build(element, chart.payload);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { loadAll(document); });
  document.addEventListener("prism:timezone", redrawAll);
  document.addEventListener("htmx:afterSettle", function (event) { loadAll(event.detail.elt); });
  document.addEventListener("htmx:beforeCleanupElement", function (event) { destroy(event.detail.elt); });
})();
