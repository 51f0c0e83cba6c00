// A small markdown renderer for review instructions that builds DOM nodes and never parses
// HTML: every piece of the text becomes a text node, so markup in it shows as written and
// nothing in it can run. It knows headings, paragraphs, lists, quotes, code, rules, emphasis,
// inline code and links (http, https and mailto only); anything else stays plain text.
"use strict";

(function () {
  const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
  // Code spans first, then links, then strong and emphasis (not inside words for `_`).
  const INLINE = new RegExp(
    [
      "`([^`]+)`",
      "\\[([^\\]]+)\\]\\(([^()\\s]+)\\)",
      "\\*\\*(\\S(?:.*?\\S)?)\\*\\*",
      "(?<![\\p{L}\\p{N}])__(\\S(?:.*?\\S)?)__(?![\\p{L}\\p{N}])",
      "\\*(\\S(?:[^*]*?\\S)?)\\*",
      "(?<![\\p{L}\\p{N}])_(\\S(?:[^_]*?\\S)?)_(?![\\p{L}\\p{N}])",
    ].join("|"),
    "gu"
  );
  const FENCE = /^\s*(```|~~~)/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
  const QUOTE = /^\s{0,3}>\s?(.*)$/;
  const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
  const NUMBERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;

  function element(tag, children) {
    const node = document.createElement(tag);
    for (const child of children || []) node.append(child);
    return node;
  }

  function safeHref(target) {
    try {
      // Absolute only: a relative target would point into this service, where it is no page.
      const url = new URL(target);
      return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
    } catch {
      return null;
    }
  }

  // Inline text -> an array of nodes (text nodes and elements, never parsed markup).
  function inline(text) {
    const nodes = [];
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
      last = match.index + match[0].length;
      const [whole, code, label, target, strong, strong2, em, em2] = match;
      if (code !== undefined) {
        const node = element("code");
        node.textContent = code;
        nodes.push(node);
      } else if (label !== undefined) {
        const href = safeHref(target);
        if (href === null) {
          nodes.push(document.createTextNode(whole));
          continue;
        }
        const link = element("a", inline(label));
        link.href = href;
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        nodes.push(link);
      } else if (strong !== undefined || strong2 !== undefined) {
        nodes.push(element("strong", inline(strong ?? strong2)));
      } else {
        nodes.push(element("em", inline(em ?? em2)));
      }
    }
    if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
    return nodes;
  }

  function paragraph(lines) {
    return element("p", inline(lines.map((line) => line.trim()).join(" ")));
  }

  // A list's items: lines that start an item, with the indented lines that continue them.
  function list(lines, start, pattern, ordered) {
    const items = [];
    let i = start;
    for (; i < lines.length; i++) {
      const match = lines[i].match(pattern);
      if (match) items.push([ordered ? match[2] : match[1]]);
      else if (/^\s+\S/.test(lines[i])) items[items.length - 1].push(lines[i]);
      else break;
    }
    const node = element(
      ordered ? "ol" : "ul",
      items.map((item) => element("li", inline(item.map((line) => line.trim()).join(" "))))
    );
    const first = Number(lines[start].match(pattern)[1]);
    if (ordered && first !== 1) node.start = first;
    return [node, i];
  }

  function blocks(lines, headingOffset) {
    const out = [];
    let i = 0;
    let text = [];
    const flush = () => {
      if (text.length) out.push(paragraph(text));
      text = [];
    };
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) {
        flush();
        i += 1;
        continue;
      }
      const fence = line.match(FENCE);
      if (fence) {
        flush();
        const body = [];
        for (i += 1; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) {
          body.push(lines[i]);
        }
        i += 1; // the closing fence (or the end of the text)
        const code = element("code");
        code.textContent = body.join("\n");
        out.push(element("pre", [code]));
        continue;
      }
      const heading = line.match(HEADING);
      if (heading) {
        flush();
        const level = Math.min(6, heading[1].length + headingOffset);
        out.push(element("h" + level, inline(heading[2])));
        i += 1;
        continue;
      }
      if (RULE.test(line)) {
        flush();
        out.push(element("hr"));
        i += 1;
        continue;
      }
      if (QUOTE.test(line)) {
        flush();
        const quoted = [];
        for (; i < lines.length && QUOTE.test(lines[i]); i++) quoted.push(lines[i].match(QUOTE)[1]);
        out.push(element("blockquote", blocks(quoted, headingOffset)));
        continue;
      }
      const bullet = BULLET.test(line);
      if (bullet || NUMBERED.test(line)) {
        flush();
        const [node, next] = list(lines, i, bullet ? BULLET : NUMBERED, !bullet);
        out.push(node);
        i = next;
        continue;
      }
      text.push(line);
      i += 1;
    }
    flush();
    return out;
  }

  // `headingOffset`: how many levels the text's headings sit below the page's (# -> h1+offset).
  function render(markdown, headingOffset) {
    const fragment = document.createDocumentFragment();
    fragment.append(...blocks(String(markdown || "").split(/\r\n|\r|\n/), headingOffset || 0));
    return fragment;
  }

  window.feedbackMarkdown = { render };
})();
