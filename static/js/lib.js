// Small shared helpers for the Spaces pages: no framework, no build step.

import { gettext } from "./i18n.js";

/** Escape text for HTML (attribute values included). */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

/** 1234 → 1.2K, as the server's `compact` filter does. */
export function compact(n) {
  n = Number(n) || 0;
  if (n < 1000) return String(n);
  const [value, suffix] = n < 1e6 ? [n / 1e3, "K"] : [n / 1e6, "M"];
  const text = value < 10 ? value.toFixed(1).replace(/\.0$/, "") : value.toFixed(0);
  return text + suffix;
}

/** 1234 → 1,234 (the server's intcomma). */
export function intcomma(n) {
  return (Number(n) || 0).toLocaleString("en-US");
}

/** The roles on a Space's stage, in the order the stage lists them. */
export const STAGE = ["host", "cohost", "speaker"];

function initial(user) {
  return (Array.from(user.name || user.username || "?")[0] || "?").toUpperCase();
}

/** The avatar of includes/avatar.html: an initial on a colour derived from the user id. */
export function avatar(user, size = "") {
  const cls = size ? ` avatar-${size}` : "";
  return `<span class="avatar${cls}" style="--h:${Number(user.id)}" aria-hidden="true">${esc(initial(user))}</span>`;
}

/** Make the .avatar element `el` (from a blank includes/avatar.html) show `user`. */
export function fillAvatar(el, user, size = "") {
  el.className = size ? `avatar avatar-${size}` : "avatar";
  el.style.setProperty("--h", String(Number(user.id)));
  el.textContent = initial(user);
}

/** A copy of the element a server-rendered <template id="…"> holds (a blank include), to fill. */
export function fromTemplate(id) {
  const t = document.getElementById(id);
  return t.content.firstElementChild.cloneNode(true);
}

/** Set the text of every [data-slot=name] under `root`. */
export function fillSlot(root, name, text) {
  root.querySelectorAll(`[data-slot="${name}"]`).forEach((el) => {
    el.textContent = text;
  });
}

export function profileUrl(user) {
  return `/u/${encodeURIComponent(user.username)}/`;
}

/** Icons come from <template data-icon="name"> elements the page renders once. */
const iconCache = new Map();
export function icon(name) {
  if (!iconCache.has(name)) {
    const t = document.querySelector(`template[data-icon="${name}"]`);
    iconCache.set(name, t ? t.innerHTML.trim() : "");
  }
  return iconCache.get(name);
}

/** Post a form (or fields) to a site URL and get JSON back: {ok, message, state} or
 * {ok: false, error: {code, message, fields}}. Network failures become an error too. */
export async function postJSON(url, body, csrf) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrf },
    });
  } catch {
    return { ok: false, error: { code: "network", message: gettext("You seem to be offline. Try again.") } };
  }
  if (response.redirected && response.url.includes("/accounts/login/")) {
    window.location.assign(response.url);
    return { ok: false, error: { code: "not_authenticated", message: gettext("Please log in again.") } };
  }
  try {
    return await response.json();
  } catch {
    const message = response.status === 403
      ? gettext("Your session expired. Reload the page and try again.")
      : gettext("Something went wrong. Try again.");
    return { ok: false, error: { code: `http_${response.status}`, message } };
  }
}

export async function getJSON(url) {
  const response = await fetch(url, {
    credentials: "same-origin", headers: { Accept: "application/json" },
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

/** A polite toast in a live region; errors use role=alert. */
let toastRegion = null;
export function toast(message, level = "success") {
  if (!message) return;
  if (!toastRegion) {
    toastRegion = document.createElement("div");
    toastRegion.className = "toast-region";
    document.body.append(toastRegion);
  }
  const item = document.createElement("div");
  item.className = `msg msg-${level}`;
  item.setAttribute("role", level === "error" ? "alert" : "status");
  item.textContent = message;
  toastRegion.append(item);
  setTimeout(() => item.remove(), level === "error" ? 6000 : 3500);
}

/**
 * A WebSocket that comes back by itself: exponential backoff with jitter (1 s … 30 s), a
 * heartbeat while open, and no reconnect after a close code the caller says is final.
 *
 *   new Socket(path, {onOpen, onMessage, onClose(code) → true to stop, heartbeat: fn, heartbeatMs})
 */
export class Socket {
  constructor(path, handlers) {
    this.path = path;
    this.h = handlers;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
    this.beat = null;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${this.path}`;
  }

  open() {
    this.stopped = false;
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      if (this.h.heartbeat) {
        clearInterval(this.beat);
        this.beat = setInterval(() => this.h.heartbeat(this), this.h.heartbeatMs || 20000);
      }
      this.h.onOpen?.(this);
    });
    ws.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.h.onMessage?.(message, this);
    });
    ws.addEventListener("close", (event) => {
      clearInterval(this.beat);
      if (this.ws !== ws) return;
      this.ws = null;
      const final = this.h.onClose?.(event.code, this) === true;
      if (!final && !this.stopped) this.retry();
    });
    // An error is always followed by a close; nothing to do here.
    ws.addEventListener("error", () => {});
  }

  retry() {
    const delay = Math.min(30000, 1000 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt = Math.min(this.attempt + 1, 6);
    this.h.onRetry?.(delay, this);
    this.timer = setTimeout(() => this.open(), delay);
  }

  /** Give up on a connection that stopped answering (a silent network drop: no close ever
   * comes) and open a new one, with the usual backoff. */
  reconnect() {
    const ws = this.ws;
    if (!ws || this.stopped) return;
    this.ws = null; // its late close event is ignored
    clearInterval(this.beat);
    try {
      ws.close();
    } catch {
      // already closing
    }
    const final = this.h.onClose?.(1006, this) === true;
    if (!final && !this.stopped) this.retry();
  }

  get connected() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (!this.connected) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  close(code = 1000) {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.beat);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(code);
  }
}

// "Copy link" (the Space's share menu, the replay and clip pages): the Clipboard API where the
// page may use it (a secure context, permission given), else the selected field and
// execCommand. True when copied.
async function copyField(input) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(input.value);
      return true;
    }
  } catch {
    // Refused (no permission, page not focused): the fallback below may still work.
  }
  input.focus();
  input.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

export function wireCopyButtons(root) {
  for (const button of root.querySelectorAll("button[data-copy]")) {
    const input = document.getElementById(button.dataset.copy);
    if (!input) continue;
    input.addEventListener("focus", () => input.select());
    const label = button.querySelector("span");
    let timer = null;
    button.hidden = false;
    button.addEventListener("click", async () => {
      if (await copyField(input)) {
        toast(gettext("Link copied"));
        if (label) {
          label.textContent = gettext("Link copied");
          clearTimeout(timer);
          timer = setTimeout(() => { label.textContent = gettext("Copy link"); }, 2500);
        }
      } else {
        input.focus();
        input.select();
        toast(gettext("Copy the selected link with Ctrl+C (⌘C on a Mac)."), "info");
      }
    });
  }
}
