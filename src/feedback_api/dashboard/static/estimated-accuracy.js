// "Estimated accuracy by model": per model, the share of correct answers estimated from the
// reviewed random sample and the thumbs (PPI++, GET /v1/metrics/estimated-accuracy) beside
// the voted accuracy of the same answers, each with its 95 % interval, and under each model
// how many of its answers were reviewed. Solid bars: estimated; hatched: voted.
"use strict";

(function () {
  const asText = (name) => window.modelColours.asText(name); // colours.js
  const NO_SAMPLE = "No reviewed random sample covers these answers (rules on the Review page)";

  function bars(kind, rows, colours) {
    const estimated = kind === "estimated";
    const value = (r) => (estimated ? r.estimated_accuracy : r.voted_accuracy);
    const low = (r) => (estimated ? r.estimated_ci_low : r.voted_ci_low);
    const high = (r) => (estimated ? r.estimated_ci_high : r.voted_ci_high);
    const pct = (v) => (v === null ? null : 100 * v);
    return {
      type: "bar",
      name: estimated ? "estimated (reviewed sample + thumbs)" : "voted (thumbs only)",
      x: rows.map((r) => asText(r.model)),
      y: rows.map((r) => pct(value(r))),
      marker: {
        color: rows.map((r) => colours.get(r.model)),
        opacity: estimated ? 0.95 : 0.6,
        pattern: estimated ? { shape: "" } : { shape: "/", fgcolor: "#1f2430", size: 6, solidity: 0.25 },
        line: { color: "#1f2430", width: estimated ? 0 : 0.8 },
      },
      customdata: rows.map((r) => [
        pct(low(r)), pct(high(r)), r.reviewed, r.answers, r.votes, r.warning || "",
      ]),
      hovertemplate:
        (estimated
          ? "%{x}, estimated: %{y:.1f} % [%{customdata[0]:.1f}, %{customdata[1]:.1f}]" +
            " from %{customdata[2]} reviewed of %{customdata[3]} answers %{customdata[5]}"
          : "%{x}, voted: %{y:.1f} % [%{customdata[0]:.1f}, %{customdata[1]:.1f}]" +
            " of %{customdata[4]} votes") + "<extra></extra>",
      error_y: {
        type: "data",
        symmetric: false,
        array: rows.map((r) => (value(r) === null ? null : 100 * (high(r) - value(r)))),
        arrayminus: rows.map((r) => (value(r) === null ? null : 100 * (value(r) - low(r)))),
        color: "#1f2430",
        thickness: 1.2,
        width: 4,
      },
    };
  }

  // `body`: GET /v1/metrics/estimated-accuracy grouped by model; `page`: { chart, draw }.
  async function drawChart(body, colours, page) {
    // Only the models whose answers a random-sample rule covered: the others have nothing
    // to estimate (and their voted accuracy is on the other charts).
    const rows = body.items.filter((r) => r.model && r.answers > 0);
    const box = page.chart("estimated-accuracy");
    box.dataset.reviewed = JSON.stringify(Object.fromEntries(rows.map((r) => [r.model, r.reviewed])));
    const ticks = rows.map(
      (r) => `${asText(r.model)}<br>${r.reviewed.toLocaleString()} reviewed of ${r.answers.toLocaleString()}`
    );
    const shown = rows.filter((r) => r.estimated_accuracy !== null || r.voted_accuracy !== null);
    await page.draw(
      "estimated-accuracy",
      [bars("estimated", rows, colours), bars("voted", rows, colours)],
      {
        barmode: "group",
        hovermode: "closest",
        xaxis: { tickvals: rows.map((r) => asText(r.model)), ticktext: ticks },
        yaxis: { title: { text: "% of answers correct" }, range: [0, 100] },
        margin: { l: 50, r: 20, t: 10, b: 60 },
        legend: { orientation: "h", y: -0.3 },
      },
      shown.length
    );
    const message = box.querySelector(".no-data");
    if (message) message.textContent = body.error ? `Not available: ${body.error}` : NO_SAMPLE;
  }

  window.estimatedAccuracy = { drawChart };
})();
