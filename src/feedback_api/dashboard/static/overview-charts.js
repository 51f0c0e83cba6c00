// The overview's own charts (daily volume, response time, positive ratio, top questions,
// accuracy by model and intent, reasons), and the Plotly drawing the other charts share
// (model-accuracy.js and estimated-accuracy.js get `chart` and `draw` from dashboard.js).
"use strict";

(function () {
  const PLOT_CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };
  const BASE_LAYOUT = {
    margin: { l: 50, r: 20, t: 10, b: 40 },
    font: { family: "system-ui, sans-serif", size: 12, color: "#1f2430" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    legend: { orientation: "h", y: -0.18 },
    hovermode: "x unified",
  };
  const asText = (name) => window.modelColours.asText(name); // colours.js
  const $ = (id) => document.getElementById(id);

  function chart(name) {
    return document.querySelector(`[data-chart="${name}"]`);
  }

  async function draw(name, traces, layout, points) {
    const box = chart(name);
    let message = box.querySelector(".no-data");
    if (points === 0) {
      if (box.querySelector(".plot-container")) window.Plotly.purge(box);
      if (!message) {
        message = document.createElement("div");
        message.className = "no-data";
        message.textContent = "No data for this selection";
        box.appendChild(message);
      }
    } else {
      if (message) message.remove();
      await window.Plotly.react(box, traces, Object.assign({}, BASE_LAYOUT, layout), PLOT_CONFIG);
    }
    box.dataset.points = String(points);
  }

  function count(values) {
    return values.filter((v) => v !== null && v !== undefined).length;
  }

  function drawDaily(daily) {
    const items = daily.items;
    const x = items.map((d) => d.date);
    const volume = items.map((d) => d.total_queries);
    const anyTraffic = volume.some((v) => v > 0);
    chart("daily-volume").dataset.total = String(volume.reduce((a, b) => a + b, 0));
    const jobs = [
      draw(
        "daily-volume",
        [{ type: "bar", x, y: volume, name: "queries", marker: { color: "#4f7cff" } }],
        { yaxis: { title: { text: "queries" }, rangemode: "tozero" }, showlegend: false },
        anyTraffic ? items.length : 0
      ),
    ];
    const avg = items.map((d) => d.avg_response_time_ms);
    const p95 = items.map((d) => d.p95_response_time_ms);
    jobs.push(
      draw(
        "response-time",
        [
          { type: "scatter", mode: "lines+markers", x, y: avg, name: "average", line: { color: "#4f7cff" } },
          { type: "scatter", mode: "lines+markers", x, y: p95, name: "p95", line: { color: "#f79009" } },
        ],
        { yaxis: { title: { text: "ms" }, rangemode: "tozero" } },
        count(avg) + count(p95)
      )
    );
    const ratio = items.map((d) => (d.positive_ratio === null ? null : 100 * d.positive_ratio));
    const votes = items.map((d) => d.feedback_count);
    const step = roundStep(Math.max(0, ...votes) / 5);
    jobs.push(
      draw(
        "positive-ratio",
        // Plotly draws an overlaying axis's traces above its base's: the votes' bars on the
        // base axis (right), the ratio's line on the overlay (left), in front of the bars.
        [
          { type: "bar", x, y: votes, name: "votes", marker: { color: "#d0d8f5" } },
          {
            type: "scatter", mode: "lines+markers", x, y: ratio, name: "positive %", yaxis: "y2",
            line: { color: "#12b76a" },
          },
        ],
        {
          yaxis: {
            side: "right", showgrid: false, title: { text: "votes" }, tickformat: ",d",
            range: [0, step * Math.max(1, Math.ceil(Math.max(0, ...votes) / step))], dtick: step,
          },
          yaxis2: {
            overlaying: "y", side: "left", title: { text: "positive %" }, range: [0, 100], dtick: 20,
          },
          margin: { l: 50, r: 50, t: 10, b: 40 },
        },
        count(ratio)
      )
    );
    return jobs;
  }

  // The smallest of 1, 2, 5, 10, 20, 50... at least `rough`: round ticks for counts.
  function roundStep(rough) {
    let step = 1;
    for (;;) {
      for (const factor of [1, 2, 5]) if (step * factor >= rough) return step * factor;
      step *= 10;
    }
  }

  function shorten(text, n) {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > n ? flat.slice(0, n - 1) + "…" : flat;
  }

  function drawTop(top, days) {
    $("top-window").textContent = `last ${days} day${days === 1 ? "" : "s"}`;
    const items = top.items.slice().reverse();
    return draw(
      "top-queries",
      [
        {
          type: "bar", orientation: "h", x: items.map((q) => q.count),
          y: items.map((q, i) => `${items.length - i}. ${asText(shorten(q.query, 48))}`),
          text: items.map((q) => asText(q.query)), hovertemplate: "%{text}<br>%{x} times<extra></extra>",
          textposition: "none", marker: { color: "#4f7cff" },
        },
      ],
      { margin: { l: 320, r: 20, t: 10, b: 30 }, hovermode: "closest", showlegend: false },
      top.items.length
    );
  }

  function drawAccuracy(accuracy, colours) {
    const items = accuracy.items;
    const models = [...new Set(items.map((i) => i.model))].sort();
    const traces = models.map((model) => {
      const rows = items.filter((i) => i.model === model);
      return {
        type: "bar",
        name: asText(model),
        marker: { color: colours.get(model) },
        x: rows.map((i) => asText(i.intent || "(none)")),
        y: rows.map((i) => 100 * i.accuracy),
        customdata: rows.map((i) => [i.total, 100 * i.accuracy_ci_low, 100 * i.accuracy_ci_high]),
        hovertemplate:
          "%{fullData.name} / %{x}: %{y:.1f} % [%{customdata[1]:.1f}, %{customdata[2]:.1f}] of %{customdata[0]} votes<extra></extra>",
        error_y: {
          type: "data",
          symmetric: false,
          array: rows.map((i) => 100 * (i.accuracy_ci_high - i.accuracy)),
          arrayminus: rows.map((i) => 100 * (i.accuracy - i.accuracy_ci_low)),
          color: "#1f2430",
          thickness: 1.2,
          width: 3,
        },
      };
    });
    return draw(
      "accuracy",
      traces,
      { barmode: "group", yaxis: { title: { text: "positive %" }, range: [0, 100] }, hovermode: "closest" },
      items.length
    );
  }

  function drawReasons(reasons, colours) {
    // Per model (the all-models rows are the API's too, left out here): a reason's share of
    // the model's down-votes; reasons ordered by their share over all models.
    const down = reasons.items.filter((i) => i.down_votes > 0);
    const order = down.filter((i) => i.model === null).map((i) => i.reason);
    const items = down.filter((i) => i.model !== null);
    const models = [...new Set(items.map((i) => i.model))].sort();
    const traces = models.map((model) => {
      const rows = items
        .filter((i) => i.model === model)
        .sort((a, b) => order.indexOf(a.reason) - order.indexOf(b.reason));
      return {
        type: "bar",
        name: asText(model),
        marker: { color: colours.get(model) },
        x: rows.map((i) => asText(i.reason)),
        y: rows.map((i) => 100 * i.share_of_down_votes),
        customdata: rows.map((i) => i.down_votes),
        hovertemplate: "%{fullData.name} / %{x}: %{y:.1f} % of its down-votes (%{customdata})<extra></extra>",
      };
    });
    return draw(
      "reasons",
      traces,
      {
        barmode: "group", hovermode: "closest",
        xaxis: { categoryorder: "array", categoryarray: order.map(asText) },
        yaxis: { title: { text: "% of down-votes" }, rangemode: "tozero" },
      },
      items.length
    );
  }

  window.overviewCharts = { chart, draw, drawDaily, drawTop, drawAccuracy, drawReasons };
})();
