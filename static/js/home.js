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

// "Live now" lists every live Space as it was at load. The bubbles are live Spaces too: one
// that started since (or that the page did not list) gets a card, and a card added here goes
// away when its bubble does. Cards rendered by the server stay until the next load.
const liveGrid = document.getElementById("live-grid");
const liveEmpty = document.getElementById("live-empty");

function cardHtml(space) {
  const id = Number(space.id);
  const topics = (space.topics || []).length
    ? `<ul class="topic-list" aria-label="Topics">${space.topics.map((t) => `<li class="topic">${esc(t)}</li>`).join("")}</ul>`
    : "";
  return `<div class="live-card-top"><span class="live-pill"><span class="eq" aria-hidden="true"><i></i><i></i><i></i></span>LIVE</span>`
    + `<span class="live-card-count"><span class="visually-hidden">Listeners: </span>${icon("users")}${esc(compact(space.listener_count))}<span aria-hidden="true"> listening</span></span></div>`
    + `<h3 class="live-card-title" id="space-${id}-title"><a href="/spaces/${id}/">${esc(space.title)}</a></h3>${topics}`
    + `<div class="live-card-foot"><span class="live-card-host">${avatar(space.host, "xs")}<span><span class="visually-hidden">Hosted by </span>${esc(space.host.name)}</span></span>`
    + `<a class="btn btn-sm btn-on-purple" href="/spaces/${id}/" aria-describedby="space-${id}-title">Listen</a></div>`;
}

function renderLiveCards(spaces) {
  if (!liveGrid) return;
  const wanted = new Map(spaces.map((item) => [`/spaces/${Number(item.space.id)}/`, item.space]));
  const listed = new Set(
    [...liveGrid.querySelectorAll(".live-card-title a")].map((a) => a.getAttribute("href")),
  );
  liveGrid.querySelectorAll("article[data-from-feed]").forEach((card) => {
    const href = card.dataset.fromFeed;
    if (!wanted.has(href)) card.remove();
    else card.innerHTML = cardHtml(wanted.get(href));
  });
  for (const [href, space] of wanted) {
    if (listed.has(href)) continue;
    const card = document.createElement("article");
    card.className = "live-card";
    card.dataset.fromFeed = href;
    card.setAttribute("aria-labelledby", `space-${Number(space.id)}-title`);
    card.innerHTML = cardHtml(space);
    liveGrid.prepend(card);
  }
  const any = liveGrid.children.length > 0;
  liveGrid.hidden = !any;
  if (liveEmpty) liveEmpty.hidden = any;
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
  // A heartbeat still unanswered at the next one means a dead connection that never closed.
  let unanswered = false;
  const socket = new Socket(region.dataset.feedUrl || "/ws/feed/", {
    heartbeatMs: 25000,
    heartbeat: (s) => {
      if (unanswered) {
        unanswered = false;
        s.reconnect();
        return;
      }
      unanswered = s.send({ action: "heartbeat" });
    },
    onOpen: () => { unanswered = false; },
    onMessage: (message) => {
      unanswered = false;
      if (message.type === "bubbles") {
        renderBubbles(message.spaces || []);
        renderLiveCards(message.spaces || []);
      } else if (message.type === "notification.created") {
        bumpBadge();
      }
    },
    // Signed out elsewhere: stop; anything else comes back by itself.
    onClose: (code) => code === 4401,
  });
  socket.open();
  window.spacesFeed = socket;
}
