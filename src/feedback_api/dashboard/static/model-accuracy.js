// "Accuracy by model over time": a line per model, and its 95 % Wilson band when the model is
// picked (a click on its legend entry) or pointed at. Five bands at once blur into one.
"use strict";

(function () {
  // The 97.5th percentile of the standard normal: 95 % intervals, as the API's (stats.py).
  const asText = (name) => window.modelColours.asText(name); // colours.js
  const Z_95 = 1.959963984540054;
  // Below this median of votes per model and day, a day's interval is too wide to read
  // (about +-15 points at 80 %): the chart sums ISO weeks instead (docs/alerts.md).
  const DAILY_MIN_VOTES = 30;
  // The chart draws the models with the most votes, at most this many.
  const MAX_MODEL_SERIES = 8;
  const BAND_ALPHA = 0.18;
  // The models whose band stays shown, across reloads of the figures.
  const picked = new Set();
  let pointedAt = null;

  function wilson(positive, total) {
    const p = positive / total;
    const z2 = Z_95 * Z_95;
    const denominator = 1 + z2 / total;
    const centre = (p + z2 / (2 * total)) / denominator;
    const half = (Z_95 * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total))) / denominator;
    return [Math.max(0, centre - half), Math.min(1, centre + half)];
  }

  function median(values) {
    if (values.length === 0) return 0;
    const sorted = values.slice().sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  function isoMonday(day, isoDay) {
    const date = new Date(day + "T00:00:00Z");
    date.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7));
    return isoDay(date);
  }

  function translucent(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  // Daily points when a model's day usually has enough votes to read, else ISO weeks.
  function bucketsOf(series) {
    const perDay = [];
    for (const s of series) {
      for (const d of s.items) if (d.positive + d.negative > 0) perDay.push(d.positive + d.negative);
    }
    return median(perDay) >= DAILY_MIN_VOTES ? "day" : "week";
  }

  function drawChart(grouped, colours, page) {
    const bucket = bucketsOf(grouped.series);
    const box = page.chart("model-accuracy");
    box.dataset.bucket = bucket;
    document.getElementById("model-accuracy-note").textContent =
      (bucket === "day"
        ? "one point per day"
        : `one point per ISO week (a model's day has fewer than ${DAILY_MIN_VOTES} votes)`) +
      "; click a model in the legend, or point at its line, for its 95 % Wilson band";
    const traces = [];
    let points = 0;
    grouped.series.slice(0, MAX_MODEL_SERIES).forEach((s) => {
      const buckets = new Map();
      for (const d of s.items) {
        const key = bucket === "day" ? d.date : isoMonday(d.date, page.isoDay);
        const sum = buckets.get(key) || { positive: 0, total: 0 };
        sum.positive += d.positive;
        sum.total += d.positive + d.negative;
        buckets.set(key, sum);
      }
      const x = [];
      const rate = [];
      const low = [];
      const high = [];
      const votes = [];
      for (const [key, sum] of buckets) {
        x.push(key);
        votes.push(sum.total);
        if (sum.total === 0) {
          rate.push(null);
          low.push(null);
          high.push(null);
          continue;
        }
        const [lo, hi] = wilson(sum.positive, sum.total);
        rate.push((100 * sum.positive) / sum.total);
        low.push(100 * lo);
        high.push(100 * hi);
        points += 1;
      }
      const name = s.model || "(none)";
      const colour = colours.get(name);
      // hoveron "points": a band's area would otherwise take the pointer from the lines.
      const band = { type: "scatter", mode: "lines", x, legendgroup: name, showlegend: false,
        hoverinfo: "skip", hoveron: "points", line: { width: 0, color: colour }, connectgaps: false };
      traces.push({ ...band, y: high });
      traces.push({ ...band, y: low, fill: "tonexty", fillcolor: bandFill(colour, picked.has(name)) });
      traces.push({
        type: "scatter", mode: "lines+markers", x, y: rate, name: asText(name), legendgroup: name,
        line: { color: colour }, customdata: votes.map((v, i) => [v, low[i], high[i]]),
        hovertemplate:
          `${bucket === "day" ? "%{x}" : "week of %{x}"}: %{y:.1f} % ` +
          "[%{customdata[1]:.1f}, %{customdata[2]:.1f}] of %{customdata[0]} votes<extra>%{fullData.name}</extra>",
      });
    });
    return page
      .draw(
        "model-accuracy",
        traces,
        { yaxis: { title: { text: "positive %" }, range: [0, 100] }, hovermode: "closest" },
        points
      )
      .then(() => pickable(box));
  }

  function bandFill(colour, shown) {
    // An invisible band is still drawn, so that showing it is a restyle, not a new plot.
    return translucent(colour, shown ? BAND_ALPHA : 0);
  }

  function showBand(box, name) {
    const index = box.data.findIndex((t) => t.fill === "tonexty" && t.legendgroup === name);
    if (index < 0) return;
    const shown = picked.has(name) || pointedAt === name;
    window.Plotly.restyle(box, { fillcolor: bandFill(box.data[index].line.color, shown) }, [index]);
    const names = box.data.filter((t) => t.fill === "tonexty").map((t) => t.legendgroup);
    box.dataset.bands = JSON.stringify(names.filter((n) => picked.has(n) || pointedAt === n));
  }

  function pickable(box) {
    box.dataset.bands = JSON.stringify([...picked]);
    if (!box.on) return; // no data: nothing drawn
    // Listeners are set again at each draw: Plotly.react keeps the old ones, so clear those.
    for (const name of ["plotly_legendclick", "plotly_hover", "plotly_unhover"]) {
      box.removeAllListeners(name);
    }
    box.on("plotly_legendclick", (event) => {
      const name = event.data[event.curveNumber].legendgroup;
      if (picked.has(name)) picked.delete(name);
      else picked.add(name);
      showBand(box, name);
      return false; // a click picks the model; it does not hide its line
    });
    box.on("plotly_hover", (event) => {
      const name = event.points[0].data.legendgroup;
      if (name === pointedAt) return;
      const before = pointedAt;
      pointedAt = name;
      if (before) showBand(box, before);
      showBand(box, name);
    });
    box.on("plotly_unhover", () => {
      const before = pointedAt;
      pointedAt = null;
      if (before) showBand(box, before);
    });
  }

  window.modelAccuracy = { drawChart };
})();
