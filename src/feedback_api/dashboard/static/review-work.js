// One review queue worked through (#review/<queue id>), an answer at a time, with the keyboard
// alone: POST .../claim, then .../submit or .../decline, the lease renewed while the answer is
// open. Every text from the API is set as text; the instructions go through markdown.js. The
// view's markup and the answer shown are review-item.js's.
"use strict";

(function () {
  const REASON_KEYS = "3456789"; // keys 1 and 2 are the verdicts
  const LOOK_AGAIN_SECONDS = 5;
  const $ = (id) => document.getElementById(id);
  const shared = window.feedbackDashboard;
  const markdown = window.feedbackMarkdown;
  const review = window.feedbackReview; // review.js
  const { el, kbd, call, describe, showError, progressOf } = review;
  const item = review.item; // review-item.js

  // --- one queue -------------------------------------------------------------------------

  let queue = null; // the open queue, as GET /v1/review/queues/{id} answers
  let current = null; // the claim being worked on
  let me = null; // this reviewer's name, as the API wrote it on a label
  let verdict = null;
  let busy = false;
  let deadline = 0; // when the lease runs out, on this browser's clock
  let ticker = null;
  let beater = null;
  let lookAgain = null;
  let visit = 0; // counts the times a queue was left: an answer that comes after is dropped

  async function openQueue(id) {
    $("review-list").hidden = true;
    $("review-work").hidden = false;
    if (!queue || queue.id !== id) {
      queue = null;
      $("review-queue-name").textContent = "";
      await loadQueue(id);
    }
    if (!current) await claimNext();
  }

  async function loadQueue(id) {
    const asked = visit;
    const loaded = await call(`/v1/review/queues/${encodeURIComponent(id)}`);
    if (asked !== visit) return; // the reviewer left the queue meanwhile
    queue = loaded;
    $("review-queue-name").textContent = queue.name;
    const p = progressOf(queue);
    const mine = me && p.labels[me] !== undefined ? ` · your labels: ${p.labels[me]}` : "";
    $("review-progress").textContent =
      `${p.labelled} of ${p.total} answers fully labelled · ${p.pending} pending · ` +
      `${p.in_review} in review` + (p.needs_adjudication ? ` · ${p.needs_adjudication} to adjudicate` : "") + mine;
    const progress = $("review-progress-bar");
    progress.max = p.total || 1;
    progress.value = p.labelled;
    if (!current) showInstructions(queue.instructions);
  }

  function showInstructions(text) {
    const box = $("review-instructions");
    box.replaceChildren(markdown.render(text, 3));
    $("review-instructions-box").hidden = !text;
  }

  // Nothing for this reviewer now, but answers others hold or have not finished may still
  // come (a lease runs out, an answer is given back, another reviewer's label is needed
  // first): the page looks again while the queue has any, and the tab is in front.
  function waitForMore() {
    const p = progressOf(queue);
    // A closed queue hands nothing out: nothing to look again for until it is opened.
    const waiting = !queue.closed && p.pending + p.in_review > 0;
    $("review-closed").hidden = !queue.closed;
    const section = $("review");
    // Said together with the state: "empty" without "waiting" means nothing can come.
    if (waiting) section.dataset.waiting = "";
    else delete section.dataset.waiting;
    section.dataset.state = "empty";
    $("review-waiting").hidden = !waiting;
    if (waiting) {
      lookAgain = window.setTimeout(() => {
        if (document.hidden) waitForMore();
        else claimNext().catch(showError);
      }, LOOK_AGAIN_SECONDS * 1000);
    }
    $("review-again").focus();
  }

  async function claimNext() {
    window.clearTimeout(lookAgain);
    stopLease();
    current = null;
    const section = $("review");
    $("review-error").hidden = true;
    section.dataset.state = "loading";
    delete section.dataset.assignmentId;
    delete section.dataset.waiting;
    const started = Date.now();
    const id = queue.id;
    const asked = visit;
    // A queue known to be closed is looked at again rather than asked for an answer: a
    // claim on it is refused (409) until it is reopened.
    const knownClosed = queue.closed;
    if (knownClosed) {
      await loadQueue(id);
      if (asked !== visit) return; // the reviewer left the queue meanwhile
    }
    let claim = null;
    if (!queue.closed) {
      try {
        claim = await call(`/v1/review/queues/${encodeURIComponent(id)}/claim`, { method: "POST" });
      } catch (error) {
        if (error.status !== 409) throw error; // closed since it was loaded: said below
      }
    }
    if (asked !== visit) {
      giveBack(claim, false); // the reviewer left the queue meanwhile
      return;
    }
    if (!claim) {
      $("review-task").hidden = true;
      $("review-empty").hidden = false;
      if (!(knownClosed && queue.closed)) await loadQueue(id); // else loaded just now
      if (asked === visit) waitForMore();
      return;
    }
    current = claim;
    showItem(claim);
    startLease(started);
    section.dataset.assignmentId = claim.assignment_id;
    section.dataset.itemId = claim.item_id;
    section.dataset.state = "item";
    // The progress follows; the answer does not wait for it.
    loadQueue(id).catch(showError);
  }

  function showItem(claim) {
    item.showExchange(claim.interaction || {});
    item.showOthers(claim);
    showInstructions(claim.instructions ?? queue.instructions);
    resetForm(claim.label_set || []);
    $("review-empty").hidden = true;
    $("review-task").hidden = false;
    $("review-item").focus();
    window.scrollTo(0, 0);
  }

  // --- the label form ----------------------------------------------------------------------

  function resetForm(names) {
    verdict = null;
    for (const button of document.querySelectorAll("#review-form [data-verdict]")) {
      button.setAttribute("aria-pressed", "false");
    }
    $("review-reasons").replaceChildren(
      el("legend", {}, "Reasons"),
      ...names.map((name, i) =>
        el("button", { type: "button", "data-reason": name, "aria-pressed": "false" },
          i < REASON_KEYS.length ? kbd(REASON_KEYS[i]) : null, i < REASON_KEYS.length ? " " : null, name)
      )
    );
    $("review-reasons").hidden = names.length === 0;
    $("review-correction").value = "";
    $("review-note").value = "";
    formError(null);
  }

  function setVerdict(value) {
    verdict = value;
    for (const button of document.querySelectorAll("#review-form [data-verdict]")) {
      button.setAttribute("aria-pressed", String(button.dataset.verdict === value));
    }
    formError(null);
  }

  function toggle(button) {
    button.setAttribute("aria-pressed", String(button.getAttribute("aria-pressed") !== "true"));
  }

  function formError(message) {
    const box = $("review-form-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function notice(message) {
    const box = $("review-notice");
    box.textContent = message;
    box.hidden = !message;
  }

  const blankToNull = (text) => (text.trim() ? text.trim() : null);

  async function submit() {
    if (!current || busy) return;
    if (!verdict) {
      formError("Choose a verdict first: 1 for correct, 2 for incorrect.");
      return;
    }
    const reasons = [...document.querySelectorAll('#review-reasons [aria-pressed="true"]')]
      .map((button) => button.dataset.reason);
    const body = {
      lease_token: current.lease_token,
      verdict,
      reasons,
      correction: blankToNull($("review-correction").value),
      note: blankToNull($("review-note").value),
    };
    await act(async () => {
      const path = `/v1/review/assignments/${encodeURIComponent(current.assignment_id)}/submit`;
      const label = await call(path, { method: "POST", body });
      if (label && label.reviewer) me = label.reviewer;
      const section = $("review");
      section.dataset.submitted = String(Number(section.dataset.submitted || 0) + 1);
      notice(`Saved: ${verdict}. Here is the next answer.`);
    });
  }

  async function skip() {
    if (!current || busy) return;
    await act(async () => {
      const path = `/v1/review/assignments/${encodeURIComponent(current.assignment_id)}/decline`;
      await call(path, { method: "POST", body: { lease_token: current.lease_token } });
      notice("Skipped: this answer will not come back to you. Here is the next one.");
    });
  }

  // Sends the label or the skip, then claims the next answer. A 409 (the lease went to
  // someone else, or it was already labelled) moves on too; another error keeps the answer.
  // Only the sending is guarded: once it is done the answer is let go, so a key pressed
  // while the next one loads finds nothing to send twice.
  async function act(send) {
    busy = true;
    try {
      await send();
    } catch (error) {
      if (!(error instanceof shared.ApiError) || error.status !== 409) {
        formError(describe(error));
        return;
      }
      notice(`Not stored: ${error.message}. Here is the next answer.`);
    } finally {
      busy = false;
    }
    current = null;
    await claimNext().catch(showError);
  }

  // --- the lease ---------------------------------------------------------------------------

  function leaseSeconds() {
    return Number(queue.lease_seconds) || 900;
  }

  function startLease(claimedAt) {
    // The lease runs lease_seconds from the server's claim: counted from before the request
    // left, the countdown never shows more time than there is.
    deadline = claimedAt + leaseSeconds() * 1000;
    ticker = window.setInterval(showLease, 1000);
    const every = Math.min(60, Math.max(5, leaseSeconds() / 3));
    beater = window.setInterval(heartbeat, every * 1000);
    showLease();
  }

  function stopLease() {
    window.clearInterval(ticker);
    window.clearInterval(beater);
    ticker = beater = null;
    $("review-lease").textContent = "";
    delete $("review-lease").dataset.leaseLeft;
  }

  function showLease() {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    const box = $("review-lease");
    box.dataset.leaseLeft = String(left);
    box.classList.toggle("short", left < 60);
    const mmss = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    box.textContent = left > 0
      ? `Lease: ${mmss} left`
      : "Lease ran out: your label still counts unless another reviewer takes this answer";
  }

  // Renewed while the answer is open and the tab is shown; a tab left in the background
  // lets the lease run out, so a forgotten tab does not hold an answer for ever.
  async function heartbeat() {
    if (!current || busy || document.hidden) return;
    const held = current;
    const sent = Date.now();
    try {
      const path = `/v1/review/assignments/${encodeURIComponent(held.assignment_id)}/heartbeat`;
      await call(path, { method: "POST", body: { lease_token: held.lease_token } });
      if (current === held) deadline = sent + leaseSeconds() * 1000;
    } catch (error) {
      if (current !== held || busy) return;
      if (error instanceof shared.ApiError && error.status === 409) {
        notice(`This answer went to another reviewer (${error.message}). Here is the next one.`);
        busy = true;
        claimNext().catch(showError).finally(() => { busy = false; });
      } else {
        notice(`The lease could not be renewed: ${describe(error)}`);
      }
    }
  }

  // Leaving the queue gives the answer back at once rather than when its lease runs out.
  function release(keepalive) {
    const held = current;
    current = null;
    stopLease();
    giveBack(held, keepalive);
  }

  function giveBack(claim, keepalive) {
    if (!claim) return;
    const path = `/v1/review/assignments/${encodeURIComponent(claim.assignment_id)}/release`;
    call(path, { method: "POST", body: { lease_token: claim.lease_token }, keepalive }).catch(() => {
      // Not given back: its lease runs out by itself.
    });
  }

  // --- keys ---------------------------------------------------------------------------------

  function onKey(event) {
    const section = $("review");
    if (section.hidden || section.dataset.state !== "item" || event.defaultPrevented) return;
    if (event.altKey || document.querySelector("dialog[open]")) return;
    const target = event.target;
    const typing = target.matches("textarea, input, select");
    if (event.key === "Enter") {
      const command = event.ctrlKey || event.metaKey;
      // A focused button or link does what it says; a text box takes new lines.
      if (!command && (typing || target.matches("button, a, summary"))) return;
      event.preventDefault();
      submit();
      return;
    }
    if (event.key === "Escape" && typing) {
      $("review-item").focus();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey) return;
    if (event.key === "1" || event.key === "2") {
      setVerdict(event.key === "1" ? "correct" : "incorrect");
    } else if (event.key === "s" || event.key === "S") {
      skip();
    } else if (event.key === "c" || event.key === "n") {
      $(event.key === "c" ? "review-correction" : "review-note").focus();
    } else if (REASON_KEYS.includes(event.key)) {
      const button = document.querySelectorAll("#review-reasons [data-reason]")[REASON_KEYS.indexOf(event.key)];
      if (button) toggle(button);
    } else {
      return;
    }
    event.preventDefault();
  }

  // --- wiring ---------------------------------------------------------------------------------

  async function open(id) {
    if (queue && queue.id !== id) leave(false);
    await openQueue(id);
  }

  // Leaving the queue: its answer is given back, the next visit loads the queue again.
  function leave(keepalive) {
    release(keepalive);
    window.clearTimeout(lookAgain);
    visit += 1;
    queue = null;
    notice("");
  }

  function wire() {
    $("review-form").addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    $("review-form").addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      if (button.dataset.verdict) setVerdict(button.dataset.verdict);
      else if (button.dataset.reason !== undefined) toggle(button);
      else if (button.dataset.action === "skip") skip();
    });
    $("review-again").addEventListener("click", () => {
      notice("");
      claimNext().catch(showError);
    });
    document.addEventListener("keydown", onKey);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) heartbeat();
    });
    window.addEventListener("pagehide", () => release(true));
  }

  function build() {
    return item.build(LOOK_AGAIN_SECONDS);
  }

  review.work = { build, wire, open, leave };
})();
