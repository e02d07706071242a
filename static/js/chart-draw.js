// What charts.js draws on top of uPlot's lines, as uPlot plugins (charts.js loads this file).
//
// window.prismChartDraw:
//   bands(list)        per series index, its min-max band ({series, lo, hi}) behind the lines;
//   thresholds(list)   horizontal limits ({value, label, level}) across the whole plot;
//   annotations(list)  incidents ({start, end, severity, title}) as shaded time spans;
//   tooltip(format)    a box at the cursor with the time and each shown series' value;
// Each plugin records what it drew in `u.prism` (pixel positions in CSS px) so that tests
// and the page can read the chart without looking at pixels.
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function record(u, key, value) {
    u.prism = u.prism || {};
    u.prism[key] = value;
  }

  // Canvas work inside the plotting area only (bands and spans must not paint the axes).
  function clipped(u, paint) {
    var ctx = u.ctx;
    var box = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.left, box.top, box.width, box.height);
    ctx.clip();
    paint(ctx, box);
    ctx.restore();
  }

  function bands(list) {
    function paintBand(u, ctx, band) {
      var x = u.data[0];
      var scale = u.series[band.series].scale;
      var run = [];
      function flush() {
        if (run.length > 1) {
          ctx.beginPath();
          run.forEach(function (i, n) {
            var px = u.valToPos(x[i], "x", true);
            var py = u.valToPos(band.hi[i], scale, true);
            if (n === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
          });
          for (var n = run.length - 1; n >= 0; n--) {
            ctx.lineTo(u.valToPos(x[run[n]], "x", true), u.valToPos(band.lo[run[n]], scale, true));
          }
          ctx.closePath();
          ctx.fill();
        }
        run = [];
      }
      for (var i = 0; i < x.length; i++) {
        if (band.lo[i] == null || band.hi[i] == null) flush(); else run.push(i);
      }
      flush();
    }
    return {
      hooks: {
        // After the grid, before the lines: the band sits behind its line.
        drawAxes: [function (u) {
          clipped(u, function (ctx) {
            ctx.globalAlpha = 0.18;
            list.forEach(function (band) {
              var series = u.series[band.series];
              if (!series.show) return;
              ctx.fillStyle = band.color;
              paintBand(u, ctx, band);
            });
          });
          record(u, "bands", list.filter(function (band) { return u.series[band.series].show; })
            .map(function (band) { return u.series[band.series].label; }));
        }],
      },
    };
  }

  var LEVEL_COLORS = { warning: ["--warning", "#b45309"], critical: ["--critical", "#b91c1c"] };

  function levelColor(level) {
    var pair = LEVEL_COLORS[level] || ["--muted", "#888"];
    return cssVar(pair[0], pair[1]);
  }

  function thresholds(list, unit) {
    return {
      hooks: {
        draw: [function (u) {
          var drawn = [];
          var pxRatio = window.devicePixelRatio || 1;
          clipped(u, function (ctx, box) {
            ctx.lineWidth = pxRatio;
            ctx.setLineDash([6 * pxRatio, 4 * pxRatio]);
            ctx.font = 11 * pxRatio + "px sans-serif";
            ctx.textAlign = "right";
            ctx.textBaseline = "bottom";
            list.forEach(function (limit) {
              var y = Math.round(u.valToPos(limit.value, "y", true));
              if (y < box.top || y > box.top + box.height) return;
              var color = levelColor(limit.level);
              ctx.strokeStyle = color;
              ctx.fillStyle = color;
              ctx.beginPath();
              ctx.moveTo(box.left, y);
              ctx.lineTo(box.left + box.width, y);
              ctx.stroke();
              ctx.fillText(limit.label + " " + limit.value + (unit ? " " + unit : ""),
                box.left + box.width - 4 * pxRatio, y - 2 * pxRatio);
              drawn.push({ value: limit.value, level: limit.level, y: y / pxRatio });
            });
          });
          record(u, "thresholds", drawn);
        }],
      },
    };
  }

  function annotations(list) {
    return {
      hooks: {
        drawAxes: [function (u) {
          var drawn = [];
          var pxRatio = window.devicePixelRatio || 1;
          var min = u.scales.x.min;
          var max = u.scales.x.max;
          clipped(u, function (ctx, box) {
            list.forEach(function (incident) {
              var end = incident.end == null ? max : incident.end;
              if (end < min || incident.start > max) return;
              var left = u.valToPos(Math.max(incident.start, min), "x", true);
              var right = u.valToPos(Math.min(end, max), "x", true);
              var width = Math.max(right - left, 2 * pxRatio);
              ctx.fillStyle = levelColor(incident.severity);
              ctx.globalAlpha = 0.12;
              ctx.fillRect(left, box.top, width, box.height);
              // A solid edge where it began, and a strip along the top for the whole span.
              ctx.globalAlpha = 0.9;
              if (incident.start >= min) ctx.fillRect(left, box.top, 2 * pxRatio, box.height);
              ctx.fillRect(left, box.top, width, 3 * pxRatio);
              drawn.push({
                title: incident.title,
                severity: incident.severity,
                left: (left - box.left) / pxRatio,
                right: (left - box.left + width) / pxRatio,
              });
            });
          });
          record(u, "annotations", drawn);
        }],
      },
    };
  }

  // `describe(u, idx)` gives the lines for the point under the cursor; the box shows only on
  // the chart under the pointer (its synced neighbours show just their cursor line).
  function tooltip(describe) {
    var box = null;
    var hovered = false;
    function hide() {
      box.hidden = true;
      box.removeAttribute("data-idx");
    }
    return {
      hooks: {
        init: [function (u) {
          box = document.createElement("div");
          box.className = "chart-tooltip";
          box.setAttribute("role", "status");
          box.hidden = true;
          u.over.appendChild(box);
          u.over.addEventListener("mouseenter", function () { hovered = true; });
          u.over.addEventListener("mouseleave", function () { hovered = false; hide(); });
          record(u, "tooltip", box);
        }],
        setCursor: [function (u) {
          var idx = u.cursor.idx;
          var left = u.cursor.left;
          var top = u.cursor.top;
          if (!hovered || idx == null || left == null || left < 0) { hide(); return; }
          box.textContent = "";
          describe(u, idx).forEach(function (line, n) {
            var row = document.createElement("div");
            if (n === 0) row.className = "chart-tooltip-time";
            row.textContent = line;
            box.appendChild(row);
          });
          box.hidden = false;
          box.setAttribute("data-idx", String(idx));
          // Beside the pointer, on the side with room.
          var width = box.offsetWidth;
          var height = box.offsetHeight;
          var x = left + 12 + width > u.over.clientWidth ? left - 12 - width : left + 12;
          var y = top + 12 + height > u.over.clientHeight ? Math.max(top - 12 - height, 0) : top + 12;
          box.style.transform = "translate(" + Math.round(x) + "px, " + Math.round(y) + "px)";
        }],
      },
    };
  }

  window.prismChartDraw = {
    bands: bands,
    thresholds: thresholds,
    annotations: annotations,
    tooltip: tooltip,
    cssVar: cssVar,
  };
})();
