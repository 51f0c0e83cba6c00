// One colour per model on every chart. The same rule as feedback_api/dashboard/colours.py
// (a browser test checks both give the same colours); the palette is model-colours.json.
// And names as a chart shows them (`asText`).
"use strict";

(function () {
  const FNV_OFFSET = 0x811c9dc5;
  const FNV_PRIME = 0x01000193;

  function fnv1a(name) {
    let value = FNV_OFFSET;
    for (const byte of new TextEncoder().encode(name)) {
      value = Math.imul(value ^ byte, FNV_PRIME) >>> 0;
    }
    return value >>> 0;
  }

  // Python sorts strings by code point; JavaScript's default sort is by UTF-16 unit.
  function byCodePoint(a, b) {
    const x = Array.from(a, (c) => c.codePointAt(0));
    const y = Array.from(b, (c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  }

  // A model's slot is its name's hash; a slot already taken in this view passes to the next
  // free one, in the order of the names.
  function assign(models, palette) {
    const taken = new Set();
    const result = new Map();
    for (const name of [...new Set(models)].sort(byCodePoint)) {
      let slot = fnv1a(name) % palette.length;
      if (taken.size < palette.length) {
        while (taken.has(slot)) slot = (slot + 1) % palette.length;
      }
      taken.add(slot);
      result.set(name, palette[slot]);
    }
    return result;
  }

  let palette = null;

  async function loadPalette() {
    if (!palette) {
      palette = fetch("/dashboard/static/model-colours.json")
        .then((response) => response.json())
        .then((body) => body.palette)
        .catch((error) => {
          palette = null; // asked again at the next load
          throw error;
        });
    }
    return palette;
  }

  // A name a client chose (a model, an intent, a reason, a question), as text on a chart:
  // Plotly reads a subset of HTML in trace names, tick labels and hover text, so a model
  // named `<a href=...>` would be a link on the page. Its entities are shown as characters.
  function asText(name) {
    return String(name).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  window.modelColours = { assign, asText, fnv1a, loadPalette };
})();
