// How feedback.js delivers a vote: written to localStorage before it is sent, sent with
// keepalive and its Idempotency-Key, one at a time per interaction, and forgotten once the
// server has answered it (a 2xx, or a 4xx that no retry would change). feedback.js imports it.

const STORAGE_KEY = "feedback-api:pending-votes";
// Votes kept for a later page load: the newest per interaction, at most this many (feedback.js
// drops those older than a week when it sends them again).
const MAX_PENDING = 100;
// The Fetch standard gives keepalive requests of one page 64 KiB in flight together; a larger
// vote (a long comment) goes out as an ordinary request.
const KEEPALIVE_BYTES = 60 * 1024;
// Answers worth another attempt on a later load; any other 4xx is final.
const RETRY_STATUSES = new Set([408, 425, 429]);

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

export function readPending() {
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

export function writePending(list) {
  try {
    if (list.length) storage()?.setItem(STORAGE_KEY, JSON.stringify(list));
    else storage()?.removeItem(STORAGE_KEY);
  } catch {
    // Full or blocked storage: the vote is still sent, it just cannot wait for a later load.
  }
}

export function remember(entry) {
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

// --- sending -------------------------------------------------------------------------------

export function newKey() {
  // getRandomValues, not randomUUID: the latter exists only in secure contexts.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "feedback-js-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// One vote at a time per interaction, in the order they were made: a changed vote must not
// overtake the one it replaces.
const chains = new Map();

export function inOrder(target, task) {
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

export const inFlight = new Set();

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

export async function deliver(entry) {
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
