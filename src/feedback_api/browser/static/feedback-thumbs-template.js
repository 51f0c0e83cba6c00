// The markup and style of <feedback-thumbs> (feedback.js): a shadow root of two thumbs, a
// status line and the optional reasons and comment, styled through CSS custom properties
// and parts.

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

export const TEMPLATE = `
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

export const MESSAGES = {
  idle: "",
  sending: "Sending…",
  sent: "Thanks for your feedback",
  queued: "Offline: your vote will be sent later",
};
