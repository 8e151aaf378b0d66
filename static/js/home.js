// The home page, live: the bubbles of people you follow appear and disappear as they go live or
// leave the stage, and new notifications bump the badge, over the feed socket /ws/feed/
// (docs/realtime.md). Without JavaScript the page shows what was live when it loaded.

import { avatar, compact, esc, icon, Socket } from "./lib.js";

const region = document.getElementById("bubbles-region");

const EMPTY = `<div class="empty">
  <div class="bubbles" aria-hidden="true"><span></span><span></span><span></span></div>
  <h3>Nobody you follow is live right now</h3>
  <p>When someone you follow starts a Space, they appear here with a glowing purple ring. Tap to listen in.</p>
</div>`;

let shown = new Set(
  [...(region?.querySelectorAll("a.bubble") || [])].map((a) => a.getAttribute("href")),
);
let drawn = null;

function bubbleHtml(item, fresh) {
  const { space } = item;
  const onStage = item.followed_on_stage || [];
  const face = onStage.length ? onStage[0].user : space.host;
  const others = Math.max(0, onStage.length - 1);
  return `<li><a class="bubble${fresh ? " bubble-enter" : ""}" href="/spaces/${Number(space.id)}/">`
    + `<span class="bubble-ring">${avatar(face, "lg")}<span class="bubble-live" aria-hidden="true">LIVE</span></span>`
    + `<span class="bubble-name">${esc(face.name)}${others ? ` <span class="muted">+${others}</span>` : ""}</span>`
    + `<span class="bubble-title">${esc(space.title)}</span>`
    + `<span class="bubble-count">${icon("users")}${esc(compact(space.listener_count))}<span class="visually-hidden"> listening</span></span>`
    + "</a></li>";
}

function renderBubbles(spaces) {
  if (!region) return;
  const hrefs = spaces.map((item) => `/spaces/${Number(item.space.id)}/`);
  const html = spaces.length
    ? `<ul class="bubble-row" aria-label="Live Spaces of people you follow">${spaces.map((item, i) => bubbleHtml(item, !shown.has(hrefs[i]))).join("")}</ul>`
    : EMPTY;
  // Ignore the entry animation when deciding whether anything changed.
  const key = html.replaceAll(" bubble-enter", "");
  if (key === drawn) return;
  drawn = key;
  region.innerHTML = html;
  shown = new Set(hrefs);
}

function bumpBadge() {
  const link = document.querySelector('.nav a[href="/notifications/"]');
  if (!link || link.getAttribute("aria-current") === "page") return;
  let badge = link.querySelector(".count-badge");
  if (!badge) {
    badge = document.createElement("span");
    badge.className = "count-badge";
    badge.setAttribute("aria-hidden", "true");
    badge.textContent = "0";
    link.append(badge);
  }
  const n = (parseInt(badge.textContent, 10) || 0) + 1;
  badge.textContent = n > 99 ? "99+" : String(n);
  let sr = link.querySelector(".visually-hidden.unread");
  if (!sr) {
    sr = document.createElement("span");
    sr.className = "visually-hidden unread";
    link.append(sr);
  }
  sr.textContent = `(${n} unread)`;
}

if (region && document.body.classList.contains("signed-in")) {
  const socket = new Socket(region.dataset.feedUrl || "/ws/feed/", {
    heartbeatMs: 25000,
    heartbeat: (s) => s.send({ action: "heartbeat" }),
    onMessage: (message) => {
      if (message.type === "bubbles") renderBubbles(message.spaces || []);
      else if (message.type === "notification.created") bumpBadge();
    },
    // Signed out elsewhere: stop; anything else comes back by itself.
    onClose: (code) => code === 4401,
  });
  socket.open();
  window.spacesFeed = socket;
}
