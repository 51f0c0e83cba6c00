// feedback.js: a chat frontend's votes to feedback-api. An ES module with no build step and no
// dependencies, served by the API at /static/feedback.js (docs/browser.md).
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

const STORAGE_KEY = "feedback-api:pending-votes";
// Votes kept for a later page load: the newest per interaction, at most this many, for at
// most a week (a feedback token lives a day by default; an expired one is answered 401).
const MAX_PENDING = 100;
const MAX_PENDING_AGE_MS = 7 * 24 * 3600 * 1000;
// The Fetch standard gives keepalive requests of one page 64 KiB in flight together; a larger
// vote (a long comment) goes out as an ordinary request.
const KEEPALIVE_BYTES = 60 * 1024;
// Answers worth another attempt on a later load; any other 4xx is final.
const RETRY_STATUSES = new Set([408, 425, 429]);

// The API this module was served by: the default for `baseUrl` and `base-url`.
const DEFAULT_BASE_URL = new URL("..", import.meta.url).href;

/** A vote the server refused (`status` 4xx), or one kept to be resent (`queued`). */
export class FeedbackError extends Error {
  constructor(message, { status = 0, body = null, queued = false } = {}) {
    super(message);
    this.name = "FeedbackError";
    this.status = status;
    this.body = body;
    this.queued = queued;
  }
}

// --- the votes waiting for an answer, in localStorage -------------------------------------

function storage() {
  try {
    return window.localStorage; // throws where storage is blocked
  } catch {
    return null;
  }
}

function readPending() {
  try {
    const list = JSON.parse(storage()?.getItem(STORAGE_KEY) || "[]");
    return Array.isArray(list) ? list.filter(isEntry) : [];
  } catch {
    return [];
  }
}

function isEntry(entry) {
  return (
    entry !== null &&
    typeof entry === "object" &&
    typeof entry.key === "string" &&
    typeof entry.url === "string" &&
    typeof entry.target === "string" &&
    typeof entry.body === "string" &&
    typeof entry.at === "number"
  );
}

function writePending(list) {
  try {
    if (list.length) storage()?.setItem(STORAGE_KEY, JSON.stringify(list));
    else storage()?.removeItem(STORAGE_KEY);
  } catch {
    // Full or blocked storage: the vote is still sent, it just cannot wait for a later load.
  }
}

function remember(entry) {
  // A newer vote on the same interaction replaces the one waiting: the token's one vote.
  const list = readPending().filter((e) => e.key !== entry.key && e.target !== entry.target);
  list.push(entry);
  writePending(list.slice(-MAX_PENDING));
}

function forget(key) {
  const list = readPending();
  const rest = list.filter((e) => e.key !== key);
  if (rest.length !== list.length) writePending(rest);
}

/** The votes kept for a later attempt, oldest first (a copy). */
export function pendingVotes() {
  return readPending().map((e) => ({ ...e, body: JSON.parse(e.body) }));
}

// --- sending -------------------------------------------------------------------------------

function newKey() {
  // getRandomValues, not randomUUID: the latter exists only in secure contexts.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "feedback-js-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

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

// One vote at a time per interaction, in the order they were made: a changed vote must not
// overtake the one it replaces.
const chains = new Map();

function inOrder(target, task) {
  const previous = chains.get(target) || Promise.resolve();
  const next = previous.catch(() => undefined).then(task);
  chains.set(target, next);
  next
    .finally(() => {
      if (chains.get(target) === next) chains.delete(target);
    })
    .catch(() => undefined);
  return next;
}

const inFlight = new Set();

async function post(entry, keepalive) {
  return fetch(entry.url, {
    method: "POST",
    mode: "cors",
    credentials: "omit",
    keepalive,
    headers: { "Content-Type": "application/json", "Idempotency-Key": entry.key },
    body: entry.body,
  });
}

async function deliver(entry) {
  inFlight.add(entry.key);
  try {
    const keepalive = new TextEncoder().encode(entry.body).length <= KEEPALIVE_BYTES;
    let response;
    try {
      response = await post(entry, keepalive);
    } catch (error) {
      if (!keepalive) throw queued(error);
      // The page's keepalive budget may be spent by other requests: once more without it.
      try {
        response = await post(entry, false);
      } catch (again) {
        throw queued(again);
      }
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (response.ok) {
      forget(entry.key);
      return body;
    }
    const detail = (body && typeof body.detail === "string" && body.detail) || "";
    const message = detail || `the server answered ${response.status}`;
    if (response.status >= 500 || RETRY_STATUSES.has(response.status)) {
      throw new FeedbackError(message, { status: response.status, body, queued: true });
    }
    forget(entry.key);
    throw new FeedbackError(message, { status: response.status, body });
  } finally {
    inFlight.delete(entry.key);
  }
}

function queued(error) {
  return new FeedbackError(`the vote could not be sent (${error.message}); it will be resent`, {
    queued: true,
  });
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

// Material Design's thumb icon (Apache License 2.0); the thumb down is the same, turned.
const THUMB =
  '<svg viewBox="0 0 24 24" width="1em" height="1em" aria-hidden="true" focusable="false">' +
  '<path fill="currentColor" d="M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0' +
  "-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54" +
  '-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z"/></svg>';

const STYLE = `
:host {
  display: inline-flex;
  flex-direction: column;
  align-items: flex-start;
  gap: var(--feedback-gap, 0.5em);
  font: var(--feedback-font, inherit);
  color: var(--feedback-color, inherit);
}
:host([hidden]) { display: none; }
.thumbs { display: inline-flex; align-items: center; gap: var(--feedback-gap, 0.5em); }
button {
  font: inherit;
  color: inherit;
  line-height: 1;
  min-width: 2.25em;
  min-height: 2.25em;
  padding: 0.4em 0.6em;
  cursor: pointer;
  background: var(--feedback-background, transparent);
  border: 1px solid var(--feedback-border-color, rgba(127, 127, 127, 0.45));
  border-radius: var(--feedback-radius, 0.5em);
}
button:hover { background: var(--feedback-hover-background, rgba(127, 127, 127, 0.12)); }
button:focus-visible {
  outline: 2px solid var(--feedback-focus-color, Highlight);
  outline-offset: 2px;
}
button[aria-pressed="true"] {
  color: var(--feedback-pressed-color, inherit);
  background: var(--feedback-pressed-background, rgba(127, 127, 127, 0.22));
  border-color: var(--feedback-pressed-color, currentColor);
}
[data-vote="down"] svg { transform: rotate(180deg); }
.status { font-size: 0.85em; opacity: 0.8; }
:host([data-state="failed"]) .status { color: var(--feedback-error-color, #b3261e); opacity: 1; }
form { display: flex; flex-direction: column; gap: 0.5em; }
form [type="submit"] { align-self: flex-start; }
form[hidden], [hidden] { display: none !important; }
fieldset { border: 0; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 0.25em 0.75em; }
legend { padding: 0; margin-bottom: 0.25em; }
label.reason { display: inline-flex; align-items: center; gap: 0.25em; }
label.comment { display: flex; flex-direction: column; gap: 0.25em; }
textarea {
  font: inherit;
  color: inherit;
  min-width: 16em;
  background: var(--feedback-background, transparent);
  border: 1px solid var(--feedback-border-color, rgba(127, 127, 127, 0.45));
  border-radius: var(--feedback-radius, 0.5em);
  padding: 0.4em;
}
`;

const TEMPLATE = `
<style>${STYLE}</style>
<div class="thumbs" part="thumbs" role="group">
  <button type="button" data-vote="up" part="button up" aria-pressed="false">
    <slot name="up">${THUMB}</slot>
  </button>
  <button type="button" data-vote="down" part="button down" aria-pressed="false">
    <slot name="down">${THUMB}</slot>
  </button>
  <span class="status" part="status" role="status" aria-live="polite"></span>
</div>
<form class="details" part="details" hidden>
  <fieldset class="reasons" part="reasons" hidden><legend part="legend"></legend></fieldset>
  <label class="comment" part="comment-label" hidden>
    <span></span>
    <textarea name="comment" part="comment" rows="2" maxlength="20000"></textarea>
  </label>
  <button type="submit" part="button send">Send</button>
</form>
`;

const MESSAGES = {
  idle: "",
  sending: "Sending…",
  sent: "Thanks for your feedback",
  queued: "Offline: your vote will be sent later",
};

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
