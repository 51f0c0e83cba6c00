// What the reviewer sees of one queue (#review/<queue id>): the markup of the view, built
// once, and the answer under review with the users' votes and the other reviewers' labels.
// Every text from the API is set as text. review-work.js drives it.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const review = window.feedbackReview; // review.js
  const { VIEW, el, kbd } = review;

  // --- the answer under review -----------------------------------------------------------

  function field(list, label, value, { pre = false, json = false } = {}) {
    const blank = value === null || value === undefined || value === "" ||
      (Array.isArray(value) && value.length === 0);
    let text = blank ? "–" : String(value);
    if (json && !blank) text = JSON.stringify(value, null, 2);
    const dd = el("dd", { "data-field": label.toLowerCase().replace(/[^a-z]+/g, "-") });
    dd.append(pre || (json && !blank) ? el("pre", {}, text) : text);
    list.append(el("dt", {}, label), dd);
  }

  function chips(reasons) {
    return (reasons || []).map((reason) => el("span", { class: "chip" }, reason));
  }

  function showExchange(exchange) {
    const list = $("review-exchange");
    list.replaceChildren();
    field(list, "Question", exchange.query, { pre: true });
    field(list, "Answer", exchange.response, { pre: true });
    field(list, "Tools", (exchange.tools_called || []).join(", "));
    field(list, "Sources", exchange.sources_used, { json: true });
    field(list, "Model", exchange.model);
    field(list, "Intent", exchange.intent);
    field(list, "Project", exchange.project);
    field(list, "Latency", exchange.response_time_ms == null ? null : `${exchange.response_time_ms} ms`);
    field(list, "Memory used", exchange.memory_used);
    field(list, "Answered", exchange.created_at && new Date(exchange.created_at).toLocaleString());
    field(list, "Request id", exchange.request_id);
    field(list, "Metadata", exchange.metadata && Object.keys(exchange.metadata).length ? exchange.metadata : null, { json: true });
  }

  // Votes and other reviewers' labels: left out by the API while the queue is blind.
  function showOthers(claim) {
    const box = $("review-others");
    if (claim.votes === undefined && claim.labels === undefined) {
      box.replaceChildren(
        el("p", { class: "muted", "data-blind": true },
          "Blind queue: the users' votes and the other reviewers' labels stay hidden until you " +
          "have labelled this answer, so they do not sway your verdict.")
      );
      return;
    }
    const votes = claim.votes || [];
    const labels = claim.labels || [];
    box.replaceChildren(
      el("h4", {}, `Users' votes (${votes.length})`),
      votes.length
        ? el("ul", { class: "others" }, ...votes.map(voteItem))
        : el("p", { class: "muted" }, "No user voted on this answer."),
      el("h4", {}, `Other reviewers' labels (${labels.length})`),
      labels.length
        ? el("ul", { class: "others" }, ...labels.map(labelItem))
        : el("p", { class: "muted" }, "No other reviewer has labelled it yet.")
    );
  }

  function voteItem(vote) {
    const thumb = vote.is_helpful ? "👍 helpful" : "👎 not helpful";
    const stars = vote.stars ? " " + "★".repeat(vote.stars) + "☆".repeat(5 - vote.stars) : "";
    return el(
      "li", { "data-vote": true },
      el("b", {}, thumb + stars), " ", ...chips(vote.reasons),
      vote.comment ? el("div", {}, el("span", { class: "muted" }, "Comment: "), vote.comment) : null,
      vote.correction ? el("div", {}, el("span", { class: "muted" }, "Correction: "), vote.correction) : null
    );
  }

  function labelItem(label) {
    return el(
      "li", { "data-label": true },
      el("b", {}, `${label.reviewer}: ${label.verdict}`), " ", ...chips(label.reasons),
      label.correction ? el("div", {}, el("span", { class: "muted" }, "Correction: "), label.correction) : null,
      label.note ? el("div", {}, el("span", { class: "muted" }, "Note: "), label.note) : null
    );
  }

  // --- the view's parts, built once --------------------------------------------------------

  function build(lookAgainSeconds) {
    return (
      el("div", { id: "review-work", hidden: true },
        el("div", { class: "review-head" },
          el("a", { href: "#" + VIEW, class: "back" }, "← All queues"),
          el("h2", { id: "review-queue-name" }),
          el("progress", { id: "review-progress-bar", "aria-label": "Answers fully labelled" }),
          el("span", { id: "review-progress", class: "muted" }),
          el("span", { id: "review-lease", class: "lease" })),
        el("p", { id: "review-notice", class: "notice", role: "status", hidden: true }),
        el("div", { id: "review-empty", class: "empty-state", hidden: true },
          el("h3", {}, "Nothing left for you in this queue"),
          el("p", {}, "Every answer here has the labels it needs, is held by another reviewer, " +
            "or was labelled or skipped by you. Answers come back when a lease runs out or new " +
            "ones are queued."),
          el("p", { id: "review-waiting", class: "muted", hidden: true },
            `Answers other reviewers hold may still come to you: looking again every ${lookAgainSeconds} s.`),
          el("p", { id: "review-closed", class: "muted", hidden: true },
            "This queue is closed: it hands nothing out until an admin opens it again."),
          el("button", { type: "button", id: "review-again" }, "Look again")),
        el("div", { id: "review-task", class: "review-task", hidden: true },
          el("article", { id: "review-item", class: "card", tabindex: "-1", "aria-labelledby": "review-item-title" },
            el("h3", { id: "review-item-title" }, "The answer to review"),
            el("dl", { id: "review-exchange", class: "exchange" }),
            el("section", { id: "review-others", "aria-label": "Votes and other labels" })),
          el("aside", { class: "review-side" },
            el("details", { id: "review-instructions-box", open: true },
              el("summary", {}, "Instructions"),
              el("div", { id: "review-instructions", class: "markdown" })),
            labelForm())))
    );
  }

  function labelForm() {
    return el("form", { id: "review-form", class: "card", "aria-label": "Your label" },
      el("fieldset", { class: "verdicts" },
        el("legend", {}, "Verdict"),
        el("button", { type: "button", "data-verdict": "correct", "aria-pressed": "false" },
          kbd("1"), " Correct"),
        el("button", { type: "button", "data-verdict": "incorrect", "aria-pressed": "false" },
          kbd("2"), " Incorrect")),
      el("fieldset", { id: "review-reasons", class: "reasons" }),
      el("label", { for: "review-correction" }, kbd("c"), " Correction ",
        el("span", { class: "muted" }, "(the right answer, when this one is wrong)")),
      el("textarea", { id: "review-correction", rows: "4" }),
      el("label", { for: "review-note" }, kbd("n"), " Note ", el("span", { class: "muted" }, "(for the team)")),
      el("textarea", { id: "review-note", rows: "2" }),
      el("p", { id: "review-form-error", class: "form-error", role: "alert", hidden: true }),
      el("div", { class: "actions" },
        el("button", { type: "submit", class: "primary", "data-action": "submit" },
          "Submit and next ", kbd("Enter")),
        el("button", { type: "button", "data-action": "skip" }, "Skip ", kbd("s"))),
      el("p", { class: "muted keys" },
        "Keys: 1 correct, 2 incorrect, 3–9 reasons, c correction, n note, Enter submits " +
        "(Ctrl+Enter in a text box), s skips, Esc leaves a text box."));
  }

  review.item = { build, showExchange, showOthers };
})();
