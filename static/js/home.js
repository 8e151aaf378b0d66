// The home page, live: the bubbles of people you follow appear and disappear as they go live or
// leave the stage, and new notifications bump the badge, over the feed socket /ws/feed/
// (docs/realtime.md). Without JavaScript the page shows what was live when it loaded.

import { gettext, interpolate } from "./i18n.js";
import { compact, fillAvatar, fillSlot, fromTemplate, Socket } from "./lib.js";

// The bubbles and cards are drawn from the <template> elements of spaces/_live_region.html: the
// server's own includes (spaces/_bubble_row.html, spaces/_space_card.html) rendered blank, filled
// here by their data-slot names with text only. One markup for the page and its live updates.

const region = document.getElementById("bubbles-region");

let shown = new Set(
  [...(region?.querySelectorAll("a.bubble") || [])].map((a) => a.getAttribute("href")),
);
let drawn = null;

const spaceUrl = (space) => `/spaces/${Number(space.id)}/`;
const blankBubble = region && fromTemplate("bubble-row-template").querySelector("li");

function bubbleNode(item, fresh) {
  const { space } = item;
  const onStage = item.followed_on_stage || [];
  const face = onStage.length ? onStage[0].user : space.host;
  const others = Math.max(0, onStage.length - 1);
  const li = blankBubble.cloneNode(true);
  const link = li.querySelector("a.bubble");
  link.href = spaceUrl(space);
  link.classList.toggle("bubble-enter", fresh);
  fillAvatar(li.querySelector(".avatar"), face, "lg");
  fillSlot(li, "face-name", face.name);
  const more = li.querySelector('[data-slot="others"]');
  if (others) more.querySelector(".muted").textContent = `+${others}`;
  else more.remove();
  fillSlot(li, "title", space.title);
  fillSlot(li, "listeners", compact(space.listener_count));
  return li;
}

function renderBubbles(spaces) {
  if (!region) return;
  const hrefs = spaces.map((item) => spaceUrl(item.space));
  let nodes;
  if (spaces.length) {
    const row = fromTemplate("bubble-row-template");
    row.replaceChildren(...spaces.map((item, i) => bubbleNode(item, !shown.has(hrefs[i]))));
    nodes = [row];
  } else {
    nodes = [fromTemplate("bubbles-empty-template")];
  }
  // Ignore the entry animation when deciding whether anything changed.
  const key = nodes.map((n) => n.outerHTML).join("").replaceAll(" bubble-enter", "");
  if (key === drawn) return;
  drawn = key;
  region.replaceChildren(...nodes);
  shown = new Set(hrefs);
}

// "Live now" lists every live Space as it was at load. The bubbles are live Spaces too: one
// that started since (or that the page did not list) gets a card, and a card added here goes
// away when its bubble does. Cards rendered by the server stay until the next load.
const liveGrid = document.getElementById("live-grid");
const liveEmpty = document.getElementById("live-empty");

// The card's ticket badge (ticketing/_price_badge.html, blank: every action in it). The feed
// sends it ready for people (`ticket`: spaces/serializers.py TicketBadgeSerializer): the text is
// set as is and only the action it names is kept. A free Space's card has none.
function fillTicket(card, ticket, title) {
  const badge = card.querySelector(".ticket-badge");
  if (!badge) return;
  if (!ticket) {
    badge.remove();
    return;
  }
  fillSlot(badge, "ticket-price", ticket.price_display);
  if (ticket.seats_display) fillSlot(badge, "ticket-seats", ticket.seats_display);
  else badge.querySelector('[data-slot="ticket-seats"]')?.remove();
  badge.querySelectorAll("[data-ticket-action]").forEach((el) => {
    if (el.dataset.ticketAction !== ticket.action) el.remove();
    else if (el.tagName === "A") el.setAttribute("href", String(ticket.url || ""));
  });
  fillSlot(badge, "ticket-for", title);
}

function cardNode(item) {
  const { space } = item;
  const href = spaceUrl(space);
  const titleId = `space-${Number(space.id)}-title`;
  const card = fromTemplate("live-card-template");
  card.dataset.fromFeed = href;
  card.setAttribute("aria-labelledby", titleId);
  card.querySelector(".live-card-title").id = titleId;
  fillSlot(card, "listeners", compact(space.listener_count));
  const title = card.querySelector('[data-slot="title"]');
  title.href = href;
  title.textContent = space.title;
  const topics = card.querySelector(".topic-list");
  const blank = topics.querySelector(".topic");
  topics.replaceChildren(...(space.topics || []).map((text) => {
    const li = blank.cloneNode(false);
    li.textContent = text;
    return li;
  }));
  if (!topics.children.length) topics.remove();
  fillAvatar(card.querySelector(".live-card-host .avatar"), space.host, "xs");
  fillSlot(card, "host-name", space.host.name);
  const listen = card.querySelector('[data-slot="listen"]');
  listen.href = href;
  listen.setAttribute("aria-describedby", titleId);
  fillTicket(card, item.ticket, space.title);
  return card;
}

function renderLiveCards(spaces) {
  if (!liveGrid) return;
  const wanted = new Map(spaces.map((item) => [spaceUrl(item.space), item]));
  const listed = new Set(
    [...liveGrid.querySelectorAll(".live-card-title a")].map((a) => a.getAttribute("href")),
  );
  liveGrid.querySelectorAll("article[data-from-feed]").forEach((card) => {
    const href = card.dataset.fromFeed;
    if (!wanted.has(href)) card.remove();
    else card.replaceWith(cardNode(wanted.get(href)));
  });
  for (const [href, item] of wanted) {
    if (!listed.has(href)) liveGrid.prepend(cardNode(item));
  }
  const any = liveGrid.children.length > 0;
  liveGrid.hidden = !any;
  if (liveEmpty) liveEmpty.hidden = any;
}

function bumpBadge(path = "/notifications/") {
  const link = document.querySelector(`.nav a[href="${path}"]`);
  if (!link || link.getAttribute("aria-current") === "page") return;
  let badge = link.querySelector(".count-badge");
  if (!badge) {
    badge = document.createElement("span");
    badge.className = "count-badge";
    badge.setAttribute("aria-hidden", "true");
    badge.textContent = "0";
    link.append(badge);
  }
  // The exact count is data-count (templates/base.html): the text stops at "99+".
  const n = (parseInt(badge.dataset.count ?? badge.textContent, 10) || 0) + 1;
  badge.dataset.count = String(n);
  badge.textContent = n > 99 ? "99+" : String(n);
  let sr = link.querySelector(".visually-hidden.unread");
  if (!sr) {
    sr = document.createElement("span");
    sr.className = "visually-hidden unread";
    link.append(sr);
  }
  sr.textContent = interpolate(gettext("(%(n)s unread)"), { n });
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
        // A direct message counts on Messages too (accounts.services.direct_message_send).
        if (message.notification?.kind === "message") bumpBadge("/messages/");
      } else if (message.type === "alert.live") {
        // Someone you follow went live: their inbox row is written by the fan-out, so the
        // badge counts it now (the bubble arrives with the next `bubbles`).
        bumpBadge();
      }
    },
    // Signed out elsewhere: stop; anything else comes back by itself.
    onClose: (code) => code === 4401,
  });
  socket.open();
  window.spacesFeed = socket;
}
