// The feedback explorer (/dashboard#feedback): votes newest first over GET /v1/feedback,
// with its filters and keyset pages; a row opens the whole exchange (GET /v1/interactions/{id}).
// Every text from the API is set with textContent: nothing it sends is ever parsed as HTML.
"use strict";

(function () {
  const PAGE_SIZE = 50;
  const VIEW = "feedback";
  const FILTERS = ["q", "thumb", "reason", "model", "intent", "project", "since", "until"];
  const $ = (id) => document.getElementById(id);
  const shared = window.feedbackDashboard; // api.js: api() asks for a key on a 401

  // --- the view: #feedback shows the explorer, #review the review page, else the overview --

  function hashParts() {
    const hash = window.location.hash.slice(1);
    const at = hash.indexOf("?");
    return at < 0 ? [hash, ""] : [hash.slice(0, at), hash.slice(at + 1)];
  }

  // #review and #review/<queue id>: the review page (review.js), which shows itself.
  const OTHER_VIEWS = ["review"];

  function currentView() {
    const name = hashParts()[0].split("/")[0];
    return name === VIEW || OTHER_VIEWS.includes(name) ? name : "overview";
  }

  function showView() {
    const view = currentView();
    const was = document.body.dataset.view;
    document.body.dataset.view = view;
    for (const link of document.querySelectorAll("[data-view-link]")) {
      if (link.dataset.viewLink === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    $("explorer").hidden = view !== VIEW;
    if (view === VIEW && was !== VIEW) {
      restoreFilters();
      reload();
    } else if (view !== VIEW && was === VIEW) {
      // The charts were laid out while hidden: let Plotly measure them again.
      window.dispatchEvent(new Event("resize"));
    }
  }

  // --- filters, kept in the address bar after #feedback ----------------------------------

  function ensureOption(select, value, label) {
    for (const option of select.options) if (option.value === value) return option;
    const option = new Option(label || value, value);
    select.add(option);
    return option;
  }

  function restoreFilters() {
    const query = new URLSearchParams(hashParts()[1]);
    for (const name of FILTERS) {
      const field = $("fx-" + name);
      const value = query.get(name) || "";
      if (field.tagName === "SELECT" && value) ensureOption(field, value).selected = true;
      else field.value = value;
    }
  }

  function readFilters() {
    const filters = {};
    for (const name of FILTERS) filters[name] = $("fx-" + name).value.trim();
    return filters;
  }

  function saveFilters(filters) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
    const text = query.toString();
    window.history.replaceState(null, "", "#" + VIEW + (text ? "?" + text : ""));
  }

  function nextDay(day) {
    const date = new Date(day + "T00:00:00Z");
    date.setUTCDate(date.getUTCDate() + 1);
    return date.toISOString().slice(0, 10);
  }

  // A search needs a letter or digit (the API says so with a 422 otherwise).
  function searchable(q) {
    return /[\p{L}\p{N}]/u.test(q);
  }

  function apiParams(filters, cursor) {
    const params = { limit: PAGE_SIZE, cursor };
    if (filters.q && searchable(filters.q)) params.q = filters.q;
    if (filters.thumb) params.is_helpful = filters.thumb === "up" ? "true" : "false";
    for (const name of ["reason", "model", "intent", "project"]) params[name] = filters[name];
    if (filters.since) params.since = filters.since + "T00:00:00Z";
    if (filters.until) params.until = nextDay(filters.until) + "T00:00:00Z";
    return params;
  }

  let seen = null; // the projects of the accuracy figures, asked once
  const labelSets = new Map(); // project -> its labels (its own set or the default)

  async function fillChoices() {
    // The same source as the overview's selectors: every model x intent x project seen.
    if (!seen) {
      seen = shared.api("/v1/feedback/accuracy", { group_by: "model,intent,project" }).then((all) => {
        for (const name of ["model", "intent", "project"]) {
          const values = [...new Set(all.items.map((item) => item[name]).filter((v) => v))].sort();
          for (const value of values) ensureOption($("fx-" + name), value);
        }
        return [...new Set(all.items.map((item) => item.project).filter((v) => v))];
      });
    }
    const projects = await seen;
    const chosen = $("fx-project").value;
    for (const project of chosen ? [chosen] : projects) {
      if (!labelSets.has(project)) {
        const set = await shared.api("/v1/projects/" + encodeURIComponent(project) + "/reasons");
        labelSets.set(project, set.reasons);
      }
      for (const label of labelSets.get(project)) ensureOption($("fx-reason"), label);
    }
  }

  // --- the list ---------------------------------------------------------------------------

  let cursors = [null]; // cursors[i] opens page i
  let page = 0;
  let nextCursor = null;
  let items = new Map();
  let loading = null;
  let again = false;

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined || text === "" ? "–" : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function stars(n) {
    return n ? "★".repeat(n) + "☆".repeat(5 - n) : "";
  }

  const SVG = "http://www.w3.org/2000/svg";
  // A thumb drawn, not typed: an emoji needs an emoji font, which many machines lack (every
  // row then shows the same empty box). Up is a green thumb up, down a red thumb down.
  const THUMB_PATH =
    "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06" +
    "L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22" +
    "l3.02-7.05c.09-.23.14-.47.14-.73v-2z";

  function thumb(item) {
    const up = item.is_helpful;
    const box = document.createElement("span");
    box.className = "thumb-icon " + (up ? "up" : "down");
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "18");
    svg.setAttribute("height", "18");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", THUMB_PATH);
    path.setAttribute("fill", up ? "#067647" : "#b42318");
    if (!up) path.setAttribute("transform", "rotate(180 12 12)");
    svg.appendChild(path);
    // What a screen reader says, and what a copy of the row carries.
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = up ? "thumbs up" : "thumbs down";
    box.append(svg, label);
    return box;
  }

  function shorten(text, n) {
    if (!text) return text;
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > n ? flat.slice(0, n - 1) + "…" : flat;
  }

  function when(stamp) {
    return new Date(stamp).toLocaleString();
  }

  function reasonChips(container, reasons) {
    container.replaceChildren();
    if (!reasons || reasons.length === 0) {
      container.textContent = "–";
      return;
    }
    for (const reason of reasons) {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = reason;
      container.appendChild(chip);
    }
  }

  function drawRows(list) {
    const body = $("feedback-rows");
    body.replaceChildren();
    items = new Map();
    for (const item of list) {
      items.set(item.id, item);
      const row = document.createElement("tr");
      row.dataset.feedbackId = item.id;
      row.tabIndex = 0;
      const time = document.createElement("time");
      time.dateTime = item.created_at;
      time.textContent = when(item.created_at);
      cell(row, "").replaceChildren(time);
      const thumbCell = cell(row, "", "thumb");
      thumbCell.replaceChildren(thumb(item));
      thumbCell.dataset.thumb = item.is_helpful ? "up" : "down";
      thumbCell.title = item.is_helpful ? "thumbs up" : "thumbs down";
      cell(row, stars(item.stars), "stars");
      reasonChips(cell(row, "", "reasons"), item.reasons);
      cell(row, shorten(item.comment, 120), "comment");
      cell(row, shorten(item.correction, 120), "correction");
      cell(row, shorten(item.query, 120), "question");
      cell(row, item.model);
      cell(row, item.intent);
      cell(row, item.project);
      body.appendChild(row);
    }
    $("explorer-empty").hidden = list.length > 0;
  }

  async function loadPage() {
    const filters = readFilters();
    saveFilters(filters);
    const hint = $("explorer-hint");
    hint.hidden = !filters.q || searchable(filters.q);
    hint.textContent = hint.hidden ? "" : "Type a letter or digit to search; showing every vote.";
    const answer = await shared.api("/v1/feedback", apiParams(filters, cursors[page]));
    nextCursor = answer.next_cursor;
    drawRows(answer.items);
    $("fx-prev").disabled = page === 0;
    $("fx-next").disabled = !nextCursor;
    $("fx-page").textContent = `page ${page + 1}`;
  }

  function showError(error) {
    const box = $("explorer-error");
    box.textContent =
      error instanceof shared.ApiError
        ? `The API answered ${error.status}: ${error.message}`
        : `Could not load the votes: ${error.message}`;
    box.hidden = false;
  }

  function load() {
    if (loading) {
      again = true; // a filter changed while loading: load again with it afterwards
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        try {
          await loadPage();
          $("explorer-error").hidden = true;
        } catch (error) {
          showError(error);
        }
      } while (again);
    })().finally(() => {
      loading = null;
      const box = $("explorer");
      box.dataset.loads = String(Number(box.dataset.loads || 0) + 1);
    });
    return loading;
  }

  function reload() {
    cursors = [null];
    page = 0;
    fillChoices().catch(showError);
    return load();
  }

  // --- one vote, with its whole exchange --------------------------------------------------

  function field(list, label, value, { pre = false, json = false } = {}) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    const box = pre || json ? dd.appendChild(document.createElement("pre")) : dd;
    if (json) box.textContent = value === null || value === undefined ? "–" : JSON.stringify(value, null, 2);
    else box.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
    dd.dataset.field = label.toLowerCase().replace(/[^a-z]+/g, "-");
    list.append(dt, dd);
    return dd;
  }

  async function openDetail(id) {
    const item = items.get(id);
    if (!item) return;
    const dialog = $("feedback-detail");
    const list = $("detail-fields");
    dialog.dataset.feedbackId = id;
    $("detail-title").replaceChildren(thumb(item), " " + shorten(item.query, 80));
    list.replaceChildren();
    if (!dialog.open) dialog.showModal();
    const exchange = await shared.api("/v1/interactions/" + encodeURIComponent(item.interaction_id));
    if (dialog.dataset.feedbackId !== id) return; // another row was opened meanwhile
    field(list, "Question", exchange.query, { pre: true });
    field(list, "Answer", exchange.response, { pre: true });
    field(list, "Correction", item.correction, { pre: true });
    field(list, "Comment", item.comment, { pre: true });
    reasonChips(field(list, "Reasons", ""), item.reasons);
    field(list, "Vote", `${item.is_helpful ? "thumbs up" : "thumbs down"}${item.stars ? ", " + stars(item.stars) : ""}`);
    field(list, "Model", exchange.model);
    field(list, "Intent", exchange.intent);
    field(list, "Project", exchange.project);
    field(list, "Tools", (exchange.tools_called || []).join(", "));
    field(list, "Sources", exchange.sources_used, { json: true });
    field(list, "Latency", exchange.response_time_ms === null ? null : `${exchange.response_time_ms} ms`);
    field(list, "Memory used", exchange.memory_used);
    field(list, "Answered", when(exchange.created_at));
    field(list, "Voted", when(item.created_at));
    field(list, "User", item.user_id);
    field(list, "Session", exchange.session_id);
    field(list, "Request id", exchange.request_id);
    field(list, "Exchange metadata", exchange.metadata, { json: true });
    field(list, "Vote metadata", item.metadata, { json: true });
    dialog.dataset.state = "ready";
  }

  function rowOf(event) {
    const row = event.target.closest("tr[data-feedback-id]");
    return row ? row.dataset.feedbackId : null;
  }

  // --- wiring -----------------------------------------------------------------------------

  let typing = null;

  document.addEventListener("DOMContentLoaded", () => {
    const form = $("explorer-filters");
    form.addEventListener("submit", (event) => event.preventDefault());
    form.addEventListener("change", (event) => {
      if (event.target.id === "fx-project") $("fx-reason").length = 1; // another label set
      reload();
    });
    // Search as one types, once the typing pauses.
    $("fx-q").addEventListener("input", () => {
      window.clearTimeout(typing);
      typing = window.setTimeout(reload, 300);
    });
    $("fx-next").addEventListener("click", () => {
      if (!nextCursor) return;
      cursors = cursors.slice(0, page + 1).concat([nextCursor]);
      page += 1;
      load();
    });
    $("fx-prev").addEventListener("click", () => {
      if (page === 0) return;
      page -= 1;
      load();
    });
    const rows = $("feedback-rows");
    const open = (id) => {
      if (id) openDetail(id).catch(showError);
    };
    rows.addEventListener("click", (event) => open(rowOf(event)));
    rows.addEventListener("keydown", (event) => {
      if (event.key === "Enter") open(rowOf(event));
    });
    $("detail-close").addEventListener("click", () => $("feedback-detail").close());
    $("feedback-detail").addEventListener("close", () => {
      delete $("feedback-detail").dataset.state;
    });
    window.addEventListener("hashchange", showView);
    showView();
  });
})();
