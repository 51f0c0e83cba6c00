// The feedback-api dashboard's overview: its filters, the figures beside the charts and the
// refresh loop. It reads only the public JSON API (api.js); the charts are drawn with the
// bundled Plotly (overview-charts.js, model-accuracy.js, estimated-accuracy.js).
"use strict";

(function () {
  const INTERVAL_STORAGE = "feedback-api-dashboard-interval";
  const DIMENSIONS = ["model", "intent", "project"];
  const $ = (id) => document.getElementById(id);
  const { api, ApiError } = window.feedbackDashboard; // api.js
  const { chart, draw, drawDaily, drawTop, drawAccuracy, drawReasons } = window.overviewCharts;

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
    let until = $("until").value || isoDay(new Date());
    let since = $("since").value || addDays(until, -29);
    // From after To: the days between them, and the fields say so.
    if (since > until) [since, until] = [until, since];
    $("since").value = since;
    $("until").value = until;
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

  // --- the figures beside the charts ------------------------------------------------------

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
