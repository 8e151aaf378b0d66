// Run in a page by tests/e2e/test_layout.py: what sticks out of its box, words broken across
// lines, and whether the page scrolls sideways. Returns { sideways: {scrollWidth, innerWidth} | null, offenders: [...] }.
//
// An element's box is its nearest ancestor that clips (overflow hidden/clip) or that is drawn
// (a background or a border: a card, a pill, a button). In-flow elements and text must stay
// inside it; absolutely positioned ones (popovers, badges) only inside what clips them; fixed
// ones inside the viewport. Not judged: what sits in a scrolling container along the axis it
// scrolls (that is what it is for), text cut by `text-overflow: ellipsis` (intended), and
// visually-hidden text for screen readers. With no box at all, the viewport's width is the box.
() => {
  const TOLERANCE = 1;
  const MAX_REPORTED = 15;
  const styles = new Map();
  const style = (el) => {
    let s = styles.get(el);
    if (!s) {
      s = getComputedStyle(el);
      styles.set(el, s);
    }
    return s;
  };
  const SKIP_INSIDE = "svg, select, textarea, template, script, style, noscript, audio, video, iframe";

  const path = (el) => {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && e !== document.documentElement; e = e.parentElement) {
      let part = e.tagName.toLowerCase();
      if (e.id) {
        parts.unshift(`${part}#${e.id}`);
        break;
      }
      part += [...e.classList].slice(0, 3).map((c) => `.${c}`).join("");
      const parent = e.parentElement;
      if (parent) {
        const same = [...parent.children].filter((c) => c.tagName === e.tagName);
        if (same.length > 1) part += `:nth-of-type(${same.indexOf(e) + 1})`;
      }
      parts.unshift(part);
    }
    return parts.join(" > ");
  };

  const transparent = (color) => color === "transparent" || /^rgba\(.*,\s*0\)$/.test(color);
  const drawn = (el) => {
    if (el === document.body || el === document.documentElement) return false;
    const s = style(el);
    if (s.display === "inline" || s.display === "contents") return false;
    if (!transparent(s.backgroundColor) || s.backgroundImage !== "none") return true;
    return ["Top", "Right", "Bottom", "Left"].some(
      (side) => parseFloat(s[`border${side}Width`]) > 0 && !transparent(s[`border${side}Color`]),
    );
  };
  const clipsAxis = (v) => v === "hidden" || v === "clip";
  const scrollsAxis = (v) => v === "auto" || v === "scroll";
  const clips = (el) => {
    const s = style(el);
    return s.overflowX !== "visible" || s.overflowY !== "visible";
  };
  const visuallyHidden = (el) => {
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      if (e.classList.contains("visually-hidden")) return true;
      const clip = style(e).clip;
      if (clip && clip.startsWith("rect")) return true;
    }
    return false;
  };
  const shown = (el) =>
    el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true }) && !visuallyHidden(el);

  // The box `node` must stay in, and along which axes; null when nothing bounds it but the
  // viewport's width.
  const boxOf = (node, { selfCounts }) => {
    const el = node.nodeType === 1 ? node : node.parentElement;
    const position = node.nodeType === 1 ? style(el).position : "static";
    if (position === "fixed") return { viewport: true, x: true, y: false };
    let x = true;
    let y = true;
    let start = selfCounts ? el : el.parentElement;
    if (position === "absolute") {
      // Only the containing block and what holds it can clip it.
      while (start && start !== document.body) {
        const s = style(start);
        if (s.position !== "static" || s.transform !== "none") break;
        start = start.parentElement;
      }
    }
    for (let a = start; a && a !== document.documentElement; a = a.parentElement) {
      const s = style(a);
      if (s.display === "contents") continue;
      if (scrollsAxis(s.overflowX)) x = false;
      if (scrollsAxis(s.overflowY)) y = false;
      if (!x && !y) return null;
      // Cut on purpose, with an ellipsis (one line, or the last of a clamped few).
      if ((s.textOverflow === "ellipsis" || s.webkitLineClamp !== "none") && clips(a)) return null;
      const clipping = clipsAxis(s.overflowX) || clipsAxis(s.overflowY);
      if (clipping || (position !== "absolute" && drawn(a))) {
        return {
          el: a,
          x: x && (!clipping || clipsAxis(s.overflowX) || drawn(a)),
          y: y && (!clipping || clipsAxis(s.overflowY) || drawn(a)),
        };
      }
    }
    return x ? { viewport: true, x: true, y: false } : null;
  };

  const offenders = [];
  const range = document.createRange();
  // Inside something already reported, only the outermost offender is named.
  const reported = new Set();
  const judge = (node, rect, label) => {
    if (rect.width <= 0 || rect.height <= 0) return;
    const el = node.nodeType === 1 ? node : node.parentElement;
    if (reported.has(node.nodeType === 1 ? el.parentElement : el)) {
      reported.add(el);
      return;
    }
    const box = boxOf(node, { selfCounts: node.nodeType !== 1 });
    if (!box) return;
    const outer = box.viewport
      ? { left: 0, right: window.innerWidth, top: -Infinity, bottom: Infinity }
      : box.el.getBoundingClientRect();
    const out = [];
    if (box.x && rect.left < outer.left - TOLERANCE) out.push(`left by ${Math.round(outer.left - rect.left)}px`);
    if (box.x && rect.right > outer.right + TOLERANCE) out.push(`right by ${Math.round(rect.right - outer.right)}px`);
    if (box.y && rect.top < outer.top - TOLERANCE) out.push(`top by ${Math.round(outer.top - rect.top)}px`);
    if (box.y && rect.bottom > outer.bottom + TOLERANCE) out.push(`bottom by ${Math.round(rect.bottom - outer.bottom)}px`);
    if (!out.length) return;
    reported.add(el);
    offenders.push(
      `${label} sticks out of ${box.viewport ? "the viewport" : path(box.el)} (${out.join(", ")})`,
    );
  };

  // A word split across two lines ("Margar / et"): the box is too narrow for it, and a name or
  // a title should then end in an ellipsis. Links, addresses and handles may break anywhere.
  const CHUNK = /\S+/g;
  const WORD = /[\p{L}\p{M}\p{N}'’]{2,}/gu;
  const brokenWords = (text, parent) => {
    for (const chunk of text.data.matchAll(CHUNK)) {
      if (/[/@:]|\.\w/.test(chunk[0])) continue;
      for (const word of chunk[0].matchAll(WORD)) {
        const at = chunk.index + word.index;
        range.setStart(text, at);
        range.setEnd(text, at + word[0].length);
        const rects = [...range.getClientRects()].filter((r) => r.width > 0);
        if (rects.some((r) => Math.abs(r.top - rects[0].top) > 2)) {
          offenders.push(`${path(parent)} breaks the word “${word[0]}” across lines`);
        }
      }
    }
  };

  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest(SKIP_INSIDE) && !el.matches("svg")) continue;
    if (!shown(el)) continue;
    judge(el, el.getBoundingClientRect(), path(el));
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const parent = text.parentElement;
    if (!text.data.trim() || !parent || parent.closest(SKIP_INSIDE) || !shown(parent)) continue;
    range.selectNodeContents(text);
    const snippet = text.data.trim().slice(0, 30);
    judge(text, range.getBoundingClientRect(), `${path(parent)} (text “${snippet}”)`);
    brokenWords(text, parent);
  }

  const scroller = document.scrollingElement;
  return {
    sideways:
      scroller.scrollWidth > window.innerWidth
        ? { scrollWidth: scroller.scrollWidth, innerWidth: window.innerWidth }
        : null,
    offenders: offenders.slice(0, MAX_REPORTED),
    more: Math.max(0, offenders.length - MAX_REPORTED),
  };
}
