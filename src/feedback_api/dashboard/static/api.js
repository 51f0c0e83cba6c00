// API access for the dashboard's pages: GET and POST on the public JSON API, with the key
// asked for once (a dialog) when the server answers 401 and kept in this tab only.
"use strict";

(function () {
  const KEY_STORAGE = "feedback-api-key";
  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

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
})();
