// How charts write times and values (charts.js loads this file).
//
// window.prismChartFormat:
//   zone()            "utc" | "local": window.prismTime's choice (static/js/time.js), else UTC;
//   timeText(s)       a time as every page writes it: 2026-12-04 18:20:27 UTC;
//   timeTicks         uPlot `values` of a time axis, 24-hour, dates where days start;
//   timeAxisLabel()   the time axis' label naming the zone;
//   hashrate(v)       1.52 kH/s, as the tiles write it;
//   formatter(item)   the value format of a series config ({format, unit}).
(function () {
  "use strict";

  var HASHRATE_UNITS = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s"];

  function zone() {
    return window.prismTime && window.prismTime.zone === "local" ? "local" : "utc";
  }

  // As every time on the pages (static/js/time.js), in the zone this browser chose.
  function timeText(seconds) {
    var time = window.prismTime;
    if (time && typeof time.format === "function") {
      return time.format(new Date(seconds * 1000), { seconds: true });
    }
    return fallbackTime(seconds, zone());
  }

  function pad(number) { return (number < 10 ? "0" : "") + number; }

  // The wall clock of a moment in the chosen zone: {year, month, day, hour, minute, second}.
  function clock(seconds) {
    var date = new Date(seconds * 1000);
    var time = window.prismTime;
    if (time && typeof time.parts === "function") return time.parts(date);
    return {
      year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(),
      hour: date.getUTCHours(), minute: date.getUTCMinutes(), second: date.getUTCSeconds(),
    };
  }

  // Ticks in the pages' 24-hour format: 14:30, with the date under the first tick of each
  // day (and under the axis' first tick unless the next one starts a day: no overlap);
  // dates alone once ticks are a day or more apart.
  function timeTicks(_u, splits, _axis, _space, increment) {
    var days = splits.map(function (seconds) {
      var at = clock(seconds);
      return at.year + "-" + pad(at.month) + "-" + pad(at.day);
    });
    return splits.map(function (seconds, n) {
      if (increment >= 86400) return days[n];
      var at = clock(seconds);
      var text = pad(at.hour) + ":" + pad(at.minute) + (increment < 60 ? ":" + pad(at.second) : "");
      var startsDay = n > 0 && days[n] !== days[n - 1];
      var first = n === 0 && !(days.length > 1 && days[1] !== days[0]);
      return startsDay || first ? text + "\n" + days[n] : text;
    });
  }

  function timeAxisLabel() {
    if (zone() !== "local") return "Time (UTC)";
    var time = window.prismTime;
    var name = time && typeof time.zoneName === "function" ? time.zoneName(new Date()) : "";
    return "Time (local" + (name ? ", " + name : "") + ")";
  }

  // As app/miners/tiles.py format_hashrate: 0 decimals from 100, 1 from 10, else 2.
  function formatHashrate(value) {
    var unit = 0;
    while (Math.abs(value) >= 1000 && unit < HASHRATE_UNITS.length - 1) {
      value /= 1000;
      unit += 1;
    }
    var abs = Math.abs(value);
    return value.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2) + " " + HASHRATE_UNITS[unit];
  }

  function formatNumber(value) {
    var abs = Math.abs(value);
    return value.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2);
  }

  function formatter(item) {
    if (item.format === "hashrate") return formatHashrate;
    return function (value) { return formatNumber(value) + (item.unit ? " " + item.unit : ""); };
  }

  // Without time.js: the same format, by hand.
  function fallbackTime(seconds, chosen) {
    var date = new Date(seconds * 1000);
    if (chosen === "local") {
      return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
        " " + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) +
        " local";
    }
    return date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  window.prismChartFormat = {
    zone: zone,
    timeText: timeText,
    timeTicks: timeTicks,
    timeAxisLabel: timeAxisLabel,
    hashrate: formatHashrate,
    formatter: formatter,
  };
})();
