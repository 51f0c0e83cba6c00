// The feedback-api dashboard: reads only the public JSON API, draws with the bundled Plotly.
"use strict";

(function () {
  const KEY_STORAGE = "feedback-api-key";
  const INTERVAL_STORAGE = "feedback-api-dashboard-interval";
  const DIMENSIONS = ["model", "intent", "project"];
  const PLOT_CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };
  const BASE_LAYOUT = {
    margin: { l: 50, r: 20, t: 10, b: 40 },
    font: { family: "system-ui, sans-serif", size: 12, color: "#1f2430" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    legend: { orientation: "h", y: -0.18 },
    hovermode: "x unified",
  };
  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // --- API access, with the key asked for once when the server answers 401 -------------

  let pendingKey = null;

  function askForKey(reason) {
    // Several requests may get a 401 at once: they all wait for the same dialog.
    if (pendingKey) return pendingKey;
    pendingKey = new Promise((resolve) => {
      const dialog = $("key-dialog");
      const input = $("key-input");
      $("key-reason").textContent = reason;
      input.value = "";
      const finish = (key) => {
        dialog.close();
        $("key-form").onsubmit = null;
        $("key-cancel").onclick = null;
        resolve(key);
      };
      $("key-form").onsubmit = (event) => {
        event.preventDefault();
        finish(input.value.trim() || null);
      };
      $("key-cancel").onclick = () => finish(null);
      dialog.showModal();
      input.focus();
    }).finally(() => {
      pendingKey = null;
    });
    return pendingKey;
  }

  // `send` (optional): { method, body (sent as JSON), headers, scope (named in the dialog),
  // keepalive (for a call made while the page goes away) }.
  async function api(path, params, send) {
    const { method = "GET", body, headers: extra = {}, scope = "read", keepalive } = send || {};
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    for (;;) {
      const key = sessionStorage.getItem(KEY_STORAGE);
      const headers = { Accept: "application/json", ...extra };
      if (key) headers.Authorization = "Bearer " + key;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const init = { method, headers, keepalive, body: body === undefined ? undefined : JSON.stringify(body) };
      const response = await fetch(url, init);
      if (response.status === 401) {
        if (key) sessionStorage.removeItem(KEY_STORAGE);
        const entered = await askForKey(
          key ? "That key was not accepted; try another." : `This server asks for an API key with ${scope} access.`
        );
        if (!entered) throw new ApiError(401, `an API key with ${scope} access is needed`);
        sessionStorage.setItem(KEY_STORAGE, entered);
        continue;
      }
      if (!response.ok) {
        const answer = await response.json().catch(() => ({}));
        const error = new ApiError(response.status, answer.detail || response.statusText);
        error.code = answer.code;
        throw error;
      }
      return response.status === 204 ? null : response.json();
    }
  }

  // Another key, asked for at once (a key of the wrong scope, say).
  async function changeKey(reason) {
    const entered = await askForKey(reason);
    if (entered) sessionStorage.setItem(KEY_STORAGE, entered);
    return entered;
  }

  // The feedback explorer (explorer.js) and the review page (review.js) call the API the same
  // way, key dialog included.
  window.feedbackDashboard = { api, ApiError, changeKey };

  // --- filters ---------------------------------------------------------------------------

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  function addDays(day, n) {
    const date = new Date(day + "T00:00:00Z");
    date.setUTCDate(date.getUTCDate() + n);
    return isoDay(date);
  }

  function daysBetween(a, b) {
    return Math.round((Date.parse(b + "T00:00:00Z") - Date.parse(a + "T00:00:00Z")) / 86400000);
  }

  function readFilters() {
    const until = $("until").value || isoDay(new Date());
    let since = $("since").value || addDays(until, -29);
    if (since > until) since = until;
    const filters = { since, until };
    for (const name of DIMENSIONS) filters[name] = $(name).value || null;
    return filters;
  }

  function restoreFilters() {
    const query = new URLSearchParams(window.location.search);
    const today = isoDay(new Date());
    $("until").value = query.get("until") || today;
    $("since").value = query.get("since") || addDays($("until").value, -29);
    for (const name of DIMENSIONS) {
      const value = query.get(name);
      if (value) ensureOption($(name), value).selected = true;
    }
    $("interval").value = localStorage.getItem(INTERVAL_STORAGE) || "60";
  }

  function saveFilters(filters) {
    // The address bar keeps the selection, so a view can be bookmarked or shared.
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
    // The hash names the view (#feedback: the explorer, which keeps its own filters there).
    window.history.replaceState(null, "", "?" + query.toString() + window.location.hash);
  }

  function ensureOption(select, value) {
    for (const option of select.options) if (option.value === value) return option;
    const option = new Option(value, value);
    select.add(option);
    return option;
  }

  function fillOptions(items) {
    for (const name of DIMENSIONS) {
      const select = $(name);
      const values = [...new Set(items.map((item) => item[name]).filter((v) => v))].sort();
      for (const value of values) ensureOption(select, value);
    }
  }

  // --- charts ----------------------------------------------------------------------------

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
          y: items.map((q, i) => `${items.length - i}. ${shorten(q.query, 48)}`),
          text: items.map((q) => q.query), hovertemplate: "%{text}<br>%{x} times<extra></extra>",
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
        name: model,
        marker: { color: colours.get(model) },
        x: rows.map((i) => i.intent || "(none)"),
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
        name: model,
        marker: { color: colours.get(model) },
        x: rows.map((i) => i.reason),
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
        xaxis: { categoryorder: "array", categoryarray: order },
        yaxis: { title: { text: "% of down-votes" }, rangemode: "tozero" },
      },
      items.length
    );
  }

  function showAlerts(body) {
    const banner = $("alerts-banner");
    const items = body.items;
    banner.dataset.count = String(items.length);
    banner.hidden = items.length === 0;
    $("alerts-title").textContent =
      `${items.length} open regression alert${items.length === 1 ? "" : "s"}: ` +
      `the last ${body.recent_days} days against the ${body.baseline_days} before`;
    const list = $("alerts-list");
    list.replaceChildren(
      ...items.map((a) => {
        const li = document.createElement("li");
        const segment = [a.model, a.intent && `intent ${a.intent}`, a.project && `project ${a.project}`]
          .filter((v) => v)
          .join(" / ");
        const pct = (v) => (100 * v).toFixed(1) + " %";
        // textContent, never HTML: model names come from API callers.
        li.textContent =
          `${segment}: ${pct(a.baseline_rate)} → ${pct(a.recent_rate)} ` +
          `(${a.baseline_votes.toLocaleString()} → ${a.recent_votes.toLocaleString()} votes, ` +
          `p = ${a.p_value.toPrecision(2)}), since ${new Date(a.opened_at).toLocaleString()}`;
        return li;
      })
    );
  }

  function formatNumber(value, digits) {
    if (value === null || value === undefined) return "–";
    return value.toLocaleString(undefined, { maximumFractionDigits: digits || 0 });
  }

  function showStats(stats) {
    $("kpi-votes").textContent = formatNumber(stats.total_feedback);
    $("kpi-positive").textContent = stats.positive_pct === null ? "–" : formatNumber(stats.positive_pct, 1) + " %";
    $("kpi-users").textContent = formatNumber(stats.unique_users);
    $("kpi-sessions").textContent = formatNumber(stats.unique_sessions);
    $("kpi-latency").textContent =
      stats.avg_response_time_ms === null ? "–" : formatNumber(stats.avg_response_time_ms) + " ms";
  }

  function showAsOf(asOf) {
    const label = $("as-of");
    label.dataset.asOf = asOf || "";
    label.textContent = asOf
      ? `figures as of ${new Date(asOf).toLocaleString()}`
      : "figures not refreshed yet";
  }

  // Every model the page knows (all votes, whatever the filters, and what the charts show)
  // gets its colour once, so a model has one colour on every chart (colours.js).
  function pageColours(palette, ...bodies) {
    const names = [];
    for (const body of bodies) {
      // Rows without a model are all-models sums; a series without one: answers without.
      for (const row of body.items || []) if (row.model) names.push(row.model);
      for (const series of body.series || []) names.push(series.model || "(none)");
    }
    const colours = window.modelColours.assign(names, palette);
    document.body.dataset.modelColours = JSON.stringify(Object.fromEntries(colours));
    return colours;
  }

  // --- the refresh loop ------------------------------------------------------------------

  let timer = null;
  let loading = null;
  let again = false;

  async function load() {
    const filters = readFilters();
    saveFilters(filters);
    const dims = {};
    for (const name of DIMENSIONS) dims[name] = filters[name];
    const today = isoDay(new Date());
    const topDays = Math.min(366, Math.max(1, daysBetween(filters.since, today) + 1));
    const range = { since: filters.since + "T00:00:00Z", until: addDays(filters.until, 1) + "T00:00:00Z" };
    const [all, daily, top, accuracy, stats, reasons, byModel, alerts, estimated, palette] = await Promise.all([
      api("/v1/feedback/accuracy", { group_by: "model,intent,project" }),
      api("/v1/metrics/daily", { since: filters.since, until: filters.until, ...dims }),
      // Top questions are counted over every model and project: that operation has no filters.
      api("/v1/metrics/top-queries", { limit: 10, days: topDays }),
      api("/v1/feedback/accuracy", { group_by: "model,intent", ...dims }),
      api("/v1/feedback/stats", { ...range, ...dims }),
      api("/v1/metrics/reasons", { since: filters.since, until: filters.until, ...dims }),
      api("/v1/metrics/daily", { since: filters.since, until: filters.until, group_by: "model", ...dims }),
      api("/v1/alerts", { status: "open" }),
      // Computed from the tables when asked (review.md): a failure here leaves the other charts.
      api("/v1/metrics/estimated-accuracy", { ...range, group_by: "model", ...dims }).catch(
        (error) => ({ items: [], error: error.message })
      ),
      window.modelColours.loadPalette(),
    ]);
    fillOptions(all.items);
    const empty = all.items.length === 0 && top.items.length === 0 &&
      !daily.items.some((d) => d.total_queries > 0);
    $("empty-state").hidden = !empty;
    document.body.dataset.state = empty ? "empty" : "ready";
    showAsOf(accuracy.as_of || daily.as_of);
    showStats(stats);
    showAlerts(alerts);
    const colours = pageColours(palette, all, accuracy, reasons, byModel, estimated);
    await Promise.all([
      ...drawDaily(daily), drawTop(top, topDays), drawAccuracy(accuracy, colours),
      drawReasons(reasons, colours),
      window.modelAccuracy.drawChart(byModel, colours, { chart, draw, isoDay }),
      window.estimatedAccuracy.drawChart(estimated, colours, { chart, draw }),
    ]);
  }

  function showError(error) {
    const box = $("error");
    box.textContent =
      error instanceof ApiError
        ? `The API answered ${error.status}: ${error.message}`
        : `Could not load the figures: ${error.message}`;
    box.hidden = false;
  }

  // The review view (review.js) may run with a key of the review scope, which reads no
  // figures: the overview waits while it is shown and loads again once it is left.
  let parked = false;

  function reviewing() {
    return /^#review(\/|$)/.test(window.location.hash);
  }

  async function refresh() {
    window.clearTimeout(timer);
    if (reviewing()) {
      parked = true;
      return null;
    }
    if (loading) {
      // A filter changed while loading: load once more with the new selection afterwards.
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        try {
          await load();
          $("error").hidden = true;
        } catch (error) {
          showError(error);
        }
      } while (again);
    })().finally(() => {
      loading = null;
      document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
      schedule();
    });
    return loading;
  }

  function schedule() {
    window.clearTimeout(timer);
    const seconds = Number($("interval").value);
    if (seconds > 0) {
      timer = window.setTimeout(() => {
        if (document.hidden) schedule();
        else refresh();
      }, seconds * 1000);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    restoreFilters();
    $("filters").addEventListener("change", (event) => {
      if (event.target.id === "interval") {
        localStorage.setItem(INTERVAL_STORAGE, event.target.value);
        schedule();
      } else {
        refresh();
      }
    });
    $("filters").addEventListener("submit", (event) => event.preventDefault());
    $("reload").addEventListener("click", () => refresh());
    window.addEventListener("hashchange", () => {
      if (parked && !reviewing()) {
        parked = false;
        refresh();
      }
    });
    refresh();
  });
})();
