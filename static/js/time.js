// Time on every page (loaded by base.html): relative times that keep up while the page is open,
// the browser's time zone sent to the server, and confirmations that leave once they were seen.
// Without JavaScript the page shows what the server wrote, in the zone it knew.

// --- Relative times -------------------------------------------------------------------------
// <time datetime="ISO" data-relative> elements (accounts/templatetags/time_display.py) say
// "9 seconds ago" or "in 16 minutes". The units are those of spaces_project/timezones.py
// `relative_unit`, so the server's first text and this script's agree. The clock is read at each
// tick, so elements added later by other scripts are kept up to date too.

const REFRESH_MS = 15_000;
const UNITS = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["week", 7 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

let relativeFormat = null;
function formatter() {
  if (!relativeFormat) {
    const lang = document.documentElement.lang || "en";
    relativeFormat = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  }
  return relativeFormat;
}

/** "9 seconds ago" / "in 16 minutes" for `when` (a Date), seen at `now` (ms since the epoch). */
export function relativeText(when, now = Date.now()) {
  const seconds = (when.getTime() - now) / 1000;
  const size = Math.abs(seconds);
  const [unit, length] = UNITS.find(([, len], i) => size >= len || i === UNITS.length - 1);
  const count = Math.trunc(size / length) * (seconds < 0 ? -1 : 1);
  return formatter().format(count === 0 ? 0 : count, unit);
}

/** Rewrite every relative time under `root` for the present moment. Returns whether one of
 * them counts seconds (under a minute away), which wants a quicker next tick. */
export function refreshTimes(root = document) {
  const now = Date.now();
  let inSeconds = false;
  for (const el of root.querySelectorAll("time[data-relative]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) continue;
    inSeconds ||= Math.abs(when.getTime() - now) < 60_000;
    const text = relativeText(when, now);
    if (el.textContent !== text) el.textContent = text;
  }
  return inSeconds;
}

// "9 seconds ago" would stay "now" for a whole tick: while a time counts seconds, tick faster.
const SECONDS_REFRESH_MS = 5_000;
let timer = null;
function tick() {
  const delay = refreshTimes() ? SECONDS_REFRESH_MS : REFRESH_MS;
  timer = setTimeout(tick, delay);
}
function startTicking() {
  if (timer !== null) return;
  tick();
}
function stopTicking() {
  if (timer === null) return;
  clearTimeout(timer);
  timer = null;
}

// A hidden tab does no work; on its return the times are brought up to date at once.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") startTicking();
  else stopTicking();
});
if (document.visibilityState === "visible") startTicking();

// --- The browser's time zone ----------------------------------------------------------------
// Written into the `tz` cookie on every page (accounts/middleware.py reads it for visitors who
// are signed out, and stores it for a signed-in user who has no zone yet). A page for such a
// user also carries #time-zone-guess (base.html: the URL and the CSRF token): the zone is posted
// there once per tab session, for the case where the cookie could not do it.

const ZONE_NAME = /^[A-Za-z0-9_+\-/]{1,64}$/;

function browserZone() {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return typeof zone === "string" && ZONE_NAME.test(zone) ? zone : "";
  } catch {
    return "";
  }
}

function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return "";
}

async function sendGuess(target, zone) {
  const key = "spaces.tz-guess-sent";
  try {
    if (sessionStorage.getItem(key) === zone) return;
    sessionStorage.setItem(key, zone);
  } catch {
    // Storage refused (private mode): send anyway, the server keeps the first zone only.
  }
  const body = new URLSearchParams({ time_zone: zone });
  try {
    await fetch(target.dataset.url, {
      method: "POST",
      body,
      headers: { Accept: "application/json", "X-CSRFToken": target.dataset.csrf },
      credentials: "same-origin",
    });
  } catch {
    // Offline: the cookie carries the guess with the next page instead.
  }
}

const zone = browserZone();
if (zone) {
  if (readCookie("tz") !== zone) {
    const secure = location.protocol === "https:" ? "; secure" : "";
    document.cookie = `tz=${zone}; path=/; max-age=31536000; samesite=lax${secure}`;
  }
  const target = document.getElementById("time-zone-guess");
  if (target) sendGuess(target, zone);
}

// --- Confirmations that leave ---------------------------------------------------------------
// "Your Space is live", "Reminder set": a success message is true when it is shown, not for as
// long as a live page stays open. It leaves after SEEN_MS of the tab being visible; errors and
// warnings stay until the next page.

const SEEN_MS = 8_000;

function dismiss(msg) {
  const box = msg.parentElement;
  const remove = () => {
    msg.remove();
    if (box && !box.querySelector(".msg")) box.closest(".container")?.remove();
  };
  if (window.matchMedia("(prefers-reduced-motion: reduce)").matches) {
    remove();
    return;
  }
  msg.classList.add("msg-leaving");
  msg.addEventListener("transitionend", remove, { once: true });
  setTimeout(remove, 600); // in case no transition runs
}

for (const msg of document.querySelectorAll(".messages .msg-success")) {
  let left = SEEN_MS;
  let since = null;
  let pending = null;
  const run = () => {
    if (document.visibilityState !== "visible") return;
    since = Date.now();
    pending = setTimeout(() => dismiss(msg), left);
  };
  const pause = () => {
    if (pending === null) return;
    clearTimeout(pending);
    pending = null;
    left -= Date.now() - since;
  };
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") run();
    else pause();
  });
  run();
}
