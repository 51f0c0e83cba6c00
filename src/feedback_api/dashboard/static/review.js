// The review page: #review lists the queues with their progress and agreement; #review/<id>
// works through one queue (review-work.js). Every text from the API is set as text
// (instructions through markdown.js, which builds nodes): nothing a caller or an admin wrote
// is ever parsed as HTML.
"use strict";

(function () {
  const VIEW = "review";
  const REVIEWER_STORAGE = "feedback-api-reviewer";
  const STATUSES = ["pending", "in_review", "done", "needs_adjudication"];
  const $ = (id) => document.getElementById(id);
  const shared = window.feedbackDashboard; // api.js: api() asks for a key on a 401

  // el("tag", {attribute: value}, child, ...): strings become text nodes, never markup.
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  const kbd = (key) => el("kbd", {}, key);

  // --- calling the API as a reviewer ------------------------------------------------------

  let askingName = null;

  // Without API keys (open mode) a reviewer names themself: the API asks with a 422.
  function askName(reason) {
    if (askingName) return askingName;
    askingName = new Promise((resolve) => {
      const dialog = $("reviewer-dialog");
      const input = $("reviewer-input");
      $("reviewer-reason").textContent = reason;
      input.value = localStorage.getItem(REVIEWER_STORAGE) || "";
      const finish = (name) => {
        dialog.close();
        resolve(name);
      };
      $("reviewer-form").onsubmit = (event) => {
        event.preventDefault();
        if (input.reportValidity()) finish(input.value.trim());
      };
      $("reviewer-cancel").onclick = () => finish(null);
      dialog.showModal();
      input.focus();
    }).finally(() => {
      askingName = null;
    });
    return askingName;
  }

  async function call(path, send, params) {
    for (;;) {
      const name = localStorage.getItem(REVIEWER_STORAGE);
      const headers = name ? { "X-Reviewer": name } : {};
      try {
        return await shared.api(path, params, { ...send, headers, scope: "review" });
      } catch (error) {
        if (error.status === 422 && /X-Reviewer/i.test(error.message)) {
          const entered = await askName(error.message);
          if (!entered) throw error;
          localStorage.setItem(REVIEWER_STORAGE, entered);
          continue;
        }
        if (error.status === 403) {
          const key = await shared.changeKey(`${error.message}: use a key with the review scope.`);
          if (!key) throw error;
          continue;
        }
        throw error;
      }
    }
  }

  function describe(error) {
    return error instanceof shared.ApiError
      ? `The API answered ${error.status}: ${error.message}`
      : `Could not reach the API: ${error.message}`;
  }

  function showError(error) {
    const box = $("review-error");
    box.textContent = describe(error);
    box.hidden = false;
    $("review").dataset.state = "error";
  }

  // --- figures -----------------------------------------------------------------------------

  function progressOf(queue) {
    const counts = queue.progress.items;
    const byStatus = Object.fromEntries(STATUSES.map((s) => [s, Number(counts[s] || 0)]));
    const total = STATUSES.reduce((sum, s) => sum + byStatus[s], 0);
    const labelled = byStatus.done + byStatus.needs_adjudication;
    return { ...byStatus, total, labelled, labels: queue.progress.labels };
  }

  function fixed(value, digits) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
  }

  function alphaText(agreement) {
    if (!agreement || agreement.krippendorff_alpha === null) return "–";
    const ci = agreement.alpha_ci_low === null
      ? ""
      : ` [${fixed(agreement.alpha_ci_low, 2)}, ${fixed(agreement.alpha_ci_high, 2)}]`;
    return fixed(agreement.krippendorff_alpha, 2) + ci;
  }

  function bar(done, total, label) {
    return el("progress", { max: String(total || 1), value: String(done), "aria-label": label });
  }

  // review-item.js (loaded next) adds `item`: what one queue's view shows; review-work.js
  // (after it) adds `work`: one queue, worked through.
  const review = { VIEW, el, kbd, call, describe, showError, progressOf, bar };
  window.feedbackReview = review;

  // --- the list of queues ------------------------------------------------------------------

  async function showList() {
    $("review-work").hidden = true;
    $("review-list").hidden = false;
    const answer = await call("/v1/review/queues");
    const queues = answer.queues;
    const agreements = await Promise.all(
      queues.map((q) => call(`/v1/review/queues/${encodeURIComponent(q.id)}/agreement`))
    );
    $("review-queues").replaceChildren(...queues.map((q, i) => queueRow(q, agreements[i])));
    $("review-queues-empty").hidden = queues.length > 0;
    const section = $("review");
    section.dataset.state = "list";
    section.dataset.loads = String(Number(section.dataset.loads || 0) + 1);
  }

  function queueRow(queue, agreement) {
    const p = progressOf(queue);
    const cell = (field, ...children) => el("td", { "data-field": field }, ...children);
    const pct = p.total ? Math.round((100 * p.labelled) / p.total) + " %" : "–";
    const alpha = cell("alpha", alphaText(agreement));
    if (agreement) {
      alpha.title = `Krippendorff's alpha (nominal) over ${agreement.items_with_2_or_more_labels}` +
        " answers with 2 or more labels, with its 95 % bootstrap interval";
    }
    return el(
      "tr",
      { "data-queue-id": queue.id, "data-state": queue.closed ? "closed" : "open" },
      cell("name", el("a", { href: `#${VIEW}/${encodeURIComponent(queue.id)}` }, queue.name)),
      cell("pending", String(p.pending)),
      cell("in-review", String(p.in_review)),
      cell("done", String(p.done)),
      cell("needs-adjudication", String(p.needs_adjudication)),
      cell("progress", bar(p.labelled, p.total, `${queue.name}: answers fully labelled`), " ", pct),
      alpha,
      cell("reviewers-per-item", String(queue.reviewers_per_item)),
      cell("blind", queue.blind ? "blind" : "open votes"),
      cell("status", queue.closed ? "closed" : "open")
    );
  }

  // --- the view -------------------------------------------------------------------------

  function route() {
    const [name, id] = window.location.hash.slice(1).split("?")[0].split("/");
    const section = $("review");
    if (name !== VIEW) {
      review.work.leave(false);
      section.hidden = true;
      return;
    }
    section.hidden = false;
    $("review-error").hidden = true;
    if (id) {
      review.work.open(decodeURIComponent(id)).catch(showError);
    } else {
      review.work.leave(false);
      showList().catch(showError);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    build(review.work);
    review.work.wire();
    window.addEventListener("hashchange", route);
    route();
  });

  // --- the page's parts, built once ------------------------------------------------------------

  function build(work) {
    const heads = ["Queue", "Pending", "In review", "Done", "To adjudicate", "Labelled",
      "Agreement (α)", "Reviewers per answer", "Votes", "Status"];
    $("review").append(
      el("div", { id: "review-error", class: "error", role: "alert", hidden: true }),
      el("div", { id: "review-list" },
        el("h2", {}, "Review queues"),
        el("p", { class: "muted" }, "Open a queue to label its answers one after another. " +
          "Agreement is Krippendorff's alpha over the answers with two or more labels."),
        el("div", { class: "card table-card" },
          el("table", { class: "votes queues" },
            el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", { id: "review-queues" })),
          el("p", { id: "review-queues-empty", class: "muted", hidden: true },
            "No review queues yet: an admin creates one with POST /v1/review/queues " +
            "or the feedback-api review command."))),
      work.build()
    );
    // Outside the view: a modal dialog shows above whatever view is hidden.
    document.body.append(
      el("dialog", { id: "reviewer-dialog" },
        el("form", { id: "reviewer-form" },
          el("h2", {}, "Who is reviewing?"),
          el("p", { id: "reviewer-reason" }),
          el("label", { for: "reviewer-input" }, "Your name (letters, digits, _ - .)"),
          el("input", { id: "reviewer-input", required: true, maxlength: "40",
            pattern: "[A-Za-z0-9_.\\-]{1,40}", autocomplete: "username" }),
          el("menu", {},
            el("button", { type: "button", id: "reviewer-cancel" }, "Cancel"),
            el("button", { type: "submit" }, "Review as this name"))))
    );
  }
})();
