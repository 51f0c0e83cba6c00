// feedback.js: a chat frontend's votes to feedback-api. An ES module with no build step and no
// dependencies, served by the API at /static/feedback.js (docs/browser.md); it imports the two
// files served beside it: the delivery of votes and the markup of <feedback-thumbs>.
//
//   <script type="module" src="https://feedback.example.com/static/feedback.js"></script>
//   <feedback-thumbs request-id="req-42" token="..."></feedback-thumbs>
//
//   import { sendFeedback } from "https://feedback.example.com/static/feedback.js";
//   await sendFeedback({ requestId: "req-42", token, isHelpful: false, comment: "wrong year" });
//
// Every vote is written to localStorage before it is sent and removed once the server has
// answered it (a 2xx, or a 4xx that no retry would change). A vote whose answer never came (a
// network error, a 5xx, the page closed first) is sent again the next time the module is
// imported, with the same Idempotency-Key: the server stores it once, also when the first
// attempt did arrive. Requests go out with `keepalive`, so a vote made while the page unloads
// still reaches the server.

import {
  FeedbackError,
  deliver,
  inFlight,
  inOrder,
  newKey,
  readPending,
  remember,
  writePending,
} from "./feedback-delivery.js";
import { MESSAGES, TEMPLATE } from "./feedback-thumbs-template.js";

export { FeedbackError };

// Votes kept for a later page load are sent again for at most a week (a feedback token lives
// a day by default; an expired one is answered 401).
const MAX_PENDING_AGE_MS = 7 * 24 * 3600 * 1000;

// The API this module was served by: the default for `baseUrl` and `base-url`.
const DEFAULT_BASE_URL = new URL("..", import.meta.url).href;

/** The votes kept for a later attempt, oldest first (a copy). */
export function pendingVotes() {
  return readPending().map((e) => ({ ...e, body: JSON.parse(e.body) }));
}

// --- sending -------------------------------------------------------------------------------

function endpoint(baseUrl) {
  const base = new URL(String(baseUrl || DEFAULT_BASE_URL), document.baseURI).href;
  return new URL("v1/feedback", base.endsWith("/") ? base : base + "/").href;
}

function voteBody({ token, requestId, isHelpful, stars, comment, reasons, correction }) {
  if (requestId === undefined || requestId === null || String(requestId).trim() === "") {
    throw new TypeError("sendFeedback needs the requestId of the logged interaction");
  }
  if (typeof isHelpful !== "boolean") {
    throw new TypeError("sendFeedback needs isHelpful: true (thumbs up) or false (thumbs down)");
  }
  const body = { request_id: String(requestId), is_helpful: isHelpful };
  // Fields left out are left out of the body: a server that does not know one refuses it.
  if (stars !== undefined && stars !== null) body.stars = stars;
  if (comment !== undefined && comment !== null && comment !== "") body.comment = comment;
  if (reasons !== undefined && reasons !== null) {
    const labels = [...new Set(Array.from(reasons, String))];
    if (labels.length) body.reasons = labels;
  }
  if (correction !== undefined && correction !== null && correction !== "") {
    body.correction = correction;
  }
  if (token) body.feedback_token = String(token);
  return body;
}


/**
 * Send one vote: `POST /v1/feedback` by request_id, with the interaction's feedback token.
 * Resolves to the stored vote as the server answered it; rejects with a FeedbackError (4xx:
 * `status` and the server's `detail`; network error or 5xx: `queued`, resent on the next load).
 * `stars`, `comment`, `reasons` and `correction` are sent only when given.
 */
export async function sendFeedback(options) {
  const body = voteBody(options || {});
  const url = endpoint(options.baseUrl);
  const entry = {
    key: newKey(),
    url,
    target: `${url} ${body.request_id}`,
    body: JSON.stringify(body),
    at: Date.now(),
  };
  remember(entry);
  return inOrder(entry.target, () => deliver(entry));
}

/**
 * Send the votes kept from earlier pages once each (done when the module is imported, and
 * when the browser comes back online). Resolves to how many were sent, kept and dropped.
 */
export async function flushPending() {
  const now = Date.now();
  const list = readPending();
  const fresh = list.filter((e) => now - e.at < MAX_PENDING_AGE_MS);
  if (fresh.length !== list.length) writePending(fresh);
  const superseded = Symbol("superseded");
  // Still waiting when its turn comes? A newer vote on its interaction may have replaced it.
  const stillPending = (entry) => readPending().some((e) => e.key === entry.key);
  const results = await Promise.allSettled(
    fresh
      .filter((entry) => !inFlight.has(entry.key))
      .map((entry) =>
        inOrder(entry.target, () => (stillPending(entry) ? deliver(entry) : superseded)),
      ),
  );
  const outcome = { sent: 0, kept: 0, dropped: 0 };
  for (const result of results) {
    if (result.status === "fulfilled") outcome.sent += result.value === superseded ? 0 : 1;
    else if (result.reason instanceof FeedbackError && result.reason.queued) outcome.kept += 1;
    else outcome.dropped += 1;
  }
  return outcome;
}

// --- <feedback-thumbs> ---------------------------------------------------------------------


/**
 * `<feedback-thumbs request-id token base-url>`: two thumbs that send the vote with
 * sendFeedback, and an optional comment box and reasons (`comment`,
 * `reasons="incorrect,incomplete"` or `reasons="incorrect:Wrong answer,other"`), shown once a
 * thumb is chosen and sent with the vote when the user presses Send (and with a changed
 * thumb). `vote="up"|"down"` shows a vote the page already knows; `label`, `label-up`,
 * `label-down`, `label-reasons`, `label-comment` and `label-send` replace the English texts.
 * Dispatches `feedback-sent` and `feedback-failed` (bubbling, composed; `detail` has the vote
 * and the server's answer or the error), and reflects its state in `data-state` (idle,
 * sending, sent, queued, failed).
 */
export class FeedbackWidget extends HTMLElement {
  static observedAttributes = [
    "request-id",
    "vote",
    "comment",
    "reasons",
    "label",
    "label-up",
    "label-down",
    "label-reasons",
    "label-comment",
    "label-send",
  ];

  #vote = null; // "up" | "down" | null
  #state = "idle";
  #requestId = null;
  #sends = 0; // the latest send sets the state: an earlier answer may come after it
  #root;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    this.#root.innerHTML = TEMPLATE;
    for (const button of this.#buttons()) {
      button.addEventListener("click", () => this.#choose(button.dataset.vote));
    }
    this.#form().addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.#vote) this.#send(true);
    });
  }

  /** "up", "down" or null: the vote this element shows. */
  get vote() {
    return this.#vote;
  }

  /** idle, sending, sent, queued or failed. */
  get state() {
    return this.#state;
  }

  connectedCallback() {
    this.#render();
  }

  attributeChangedCallback(name, previous, value) {
    if (name === "request-id" && value !== this.#requestId) {
      // Another exchange: its vote starts afresh (from `vote`, when the page knows it).
      this.#requestId = value;
      this.#vote = this.#presetVote();
      this.#setState("idle");
      this.#form().hidden = true;
    } else if (name === "vote" && this.#state === "idle") {
      this.#vote = this.#presetVote();
    }
    this.#render();
  }

  #presetVote() {
    const vote = this.getAttribute("vote");
    return vote === "up" || vote === "down" ? vote : null;
  }

  #buttons() {
    return this.#root.querySelectorAll(".thumbs button");
  }

  #form() {
    return this.#root.querySelector("form");
  }

  #hasDetails() {
    return this.hasAttribute("comment") || this.#reasonChoices().length > 0;
  }

  #reasonChoices() {
    return (this.getAttribute("reasons") || "")
      .split(",")
      .map((item) => item.trim())
      .filter(Boolean)
      .map((item) => {
        const [value, ...text] = item.split(":");
        const label = value.trim();
        return { value: label, text: text.join(":").trim() || label.replaceAll("_", " ") };
      });
  }

  #render() {
    const up = this.#root.querySelector('[data-vote="up"]');
    const down = this.#root.querySelector('[data-vote="down"]');
    up.setAttribute("aria-label", this.getAttribute("label-up") || "Good answer");
    down.setAttribute("aria-label", this.getAttribute("label-down") || "Bad answer");
    const group = this.#root.querySelector(".thumbs");
    group.setAttribute("aria-label", this.getAttribute("label") || "Rate this answer");
    this.#root.querySelector("legend").textContent = this.getAttribute("label-reasons") || "Why?";
    this.#root.querySelector("label.comment span").textContent =
      this.getAttribute("label-comment") || "Comment";
    this.#root.querySelector('[type="submit"]').textContent =
      this.getAttribute("label-send") || "Send";
    for (const button of this.#buttons()) {
      button.setAttribute("aria-pressed", String(button.dataset.vote === this.#vote));
    }
    const fieldset = this.#root.querySelector("fieldset");
    const choices = this.#reasonChoices();
    const shown = Array.from(fieldset.querySelectorAll("input"), (input) => input.value);
    if (shown.join(",") !== choices.map((c) => c.value).join(",")) {
      for (const label of fieldset.querySelectorAll("label")) label.remove();
      for (const choice of choices) {
        const label = document.createElement("label");
        label.className = "reason";
        label.setAttribute("part", "reason");
        const input = document.createElement("input");
        input.type = "checkbox";
        input.name = "reasons";
        input.value = choice.value;
        label.append(input, document.createTextNode(choice.text));
        fieldset.append(label);
      }
    }
    fieldset.hidden = choices.length === 0;
    this.#root.querySelector("label.comment").hidden = !this.hasAttribute("comment");
  }

  #choose(vote) {
    if (vote === this.#vote && (this.#state === "sent" || this.#state === "sending")) return;
    this.#vote = vote;
    this.#render();
    if (this.#hasDetails()) this.#form().hidden = false;
    this.#send(false);
  }

  #details() {
    const reasons = Array.from(
      this.#root.querySelectorAll('fieldset input[type="checkbox"]:checked'),
      (input) => input.value,
    );
    const comment = this.#root.querySelector("textarea").value.trim();
    return {
      reasons: reasons.length ? reasons : undefined,
      comment: this.hasAttribute("comment") && comment ? comment : undefined,
    };
  }

  async #send(fromForm) {
    // The details go with every send: a changed thumb must not erase a comment sent before.
    const vote = {
      baseUrl: this.getAttribute("base-url") || undefined,
      token: this.getAttribute("token") || undefined,
      requestId: this.getAttribute("request-id"),
      isHelpful: this.#vote === "up",
      ...this.#details(),
    };
    const requestId = this.#requestId;
    const send = ++this.#sends;
    // Only the latest send of this exchange speaks for the element; every answer is an event.
    const current = () => send === this.#sends && requestId === this.#requestId;
    this.#setState("sending");
    try {
      const response = await sendFeedback(vote);
      if (current()) {
        this.#setState("sent");
        if (fromForm) this.#form().hidden = true;
      }
      this.#emit("feedback-sent", { vote, response });
    } catch (error) {
      const isQueued = error instanceof FeedbackError && error.queued;
      if (current()) this.#setState(isQueued ? "queued" : "failed", error.message);
      this.#emit("feedback-failed", { vote, error, queued: isQueued });
    }
  }

  #setState(state, message) {
    this.#state = state;
    this.dataset.state = state;
    this.#root.querySelector(".thumbs").setAttribute("aria-busy", String(state === "sending"));
    const text = state === "failed" ? `Could not send: ${message}` : MESSAGES[state];
    this.#root.querySelector(".status").textContent = text;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

// Imported twice (two URLs of the module), the first definition stays.
if (!customElements.get("feedback-thumbs")) {
  customElements.define("feedback-thumbs", FeedbackWidget);
}

/** The import's own flushPending(): the votes earlier pages could not deliver, sent once. */
export const flushed = flushPending();
window.addEventListener("online", () => flushPending());
