// The arithmetic of honest charts, apart from drawing (charts.js loads this file).
//
// window.prismChartData:
//   epoch(iso)                     unix seconds of an ISO-8601 time (null for none);
//   gapThreshold(t, bucket, hint)  how far apart two points may be before the data between
//                                  them counts as missing;
//   counterRates(t, values, gap)   a cumulative counter as its increase per minute;
//   rejectPercent(acc, rej)        rejected / (accepted + rejected) in %, per point;
//   withGaps(t, columns, gap)      the columns with a null row between points too far apart,
//                                  so uPlot (spanGaps false) breaks the line there.
(function () {
  "use strict";

  function epoch(iso) {
    if (iso == null) return null;
    var ms = Date.parse(iso);
    return isNaN(ms) ? null : ms / 1000;
  }

  function median(numbers) {
    var sorted = numbers.slice().sort(function (a, b) { return a - b; });
    return sorted[Math.floor(sorted.length / 2)];
  }

  // Buckets: neighbours are exactly one bucket apart, so any wider step skipped a whole
  // bucket without samples (half a second of slack for the floats). Raw samples: three
  // times their usual spacing, and never more than `hint` (the page's stale-after), so a
  // miner sending every 10 s shows a minute's silence even in a week-long view.
  function gapThreshold(t, bucketSeconds, hint) {
    if (bucketSeconds) return bucketSeconds + 0.5;
    var steps = [];
    for (var i = 1; i < t.length; i++) steps.push(t[i] - t[i - 1]);
    var usual = steps.length ? 3 * median(steps) : Infinity;
    return hint ? Math.min(hint, usual) : usual;
  }

  // The increase between neighbouring points over the time between them, per minute. A
  // counter lower than before was reset (the miner restarted): it counted up again from 0,
  // so its increase is its value, never a negative rate. No rate for a first point, nor
  // across missing data (what happened during a gap is unknown).
  function counterRates(t, values, gap) {
    var rates = [];
    var previous = -1;
    for (var i = 0; i < t.length; i++) {
      var value = values[i];
      rates.push(null);
      if (value == null) continue;
      if (previous >= 0 && t[i] - t[previous] <= gap) {
        var before = values[previous];
        var increase = value >= before ? value - before : value;
        rates[i] = (increase / (t[i] - t[previous])) * 60;
      }
      previous = i;
    }
    return rates;
  }

  function rejectPercent(accepted, rejected) {
    return accepted.map(function (good, i) {
      var bad = rejected[i];
      if (good == null || bad == null || good + bad <= 0) return null;
      return (100 * bad) / (good + bad);
    });
  }

  function withGaps(t, columns, gap) {
    var times = [];
    var out = columns.map(function () { return []; });
    for (var i = 0; i < t.length; i++) {
      if (i > 0 && t[i] - t[i - 1] > gap) {
        times.push((t[i - 1] + t[i]) / 2);
        out.forEach(function (column) { column.push(null); });
      }
      times.push(t[i]);
      columns.forEach(function (column, c) {
        var value = column ? column[i] : null;
        out[c].push(value == null ? null : value);
      });
    }
    return { t: times, columns: out };
  }

  window.prismChartData = {
    epoch: epoch,
    gapThreshold: gapThreshold,
    counterRates: counterRates,
    rejectPercent: rejectPercent,
    withGaps: withGaps,
  };
})();
