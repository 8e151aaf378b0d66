// The Space page, enhanced. Without this script every control is a plain POST form that works;
// with it, the forms are sent with fetch (or over the room socket) and the page is redrawn from
// a `space.state` snapshot instead of reloading.
//
// Pieces:
//   SpacePage   the state (shaped like `space.state`, docs/realtime.md) and `render(state)`,
//               which draws every dynamic region; `apply(event)` folds one room event into it.
//               Seats are clones of the server's blank _seat.html (<template id="seat-template">)
//               filled with text: the page and its updates draw a seat from one markup.
//   RoomClient  (room-client.js) the socket: events in, actions out, heartbeat, reconnect with
//               backoff, snapshot on a gap in `seq`.
//   forms       submit interception: the same URLs the forms post to, asked for JSON.
//   CommentsPanel (comments.js) the text comments, the composer and the host's live controls.
//
// The first render happens at load from the snapshot the server embedded in the page
// (json_script "space-state"), so the page and later updates are drawn by one code path.
// Audio (WebRTC or live HLS, audio.js) follows every render (`page.onRender`) and takes the
// socket's `signal` messages; `active_speakers` events light the talking rings
// (`page.setTalking`). How the viewer listens, live or delayed, and the switch between the two
// are listen-mode.js.

import { RoomAudio } from "./audio.js";
import { CommentsPanel } from "./comments.js";
import { gettext, interpolate } from "./i18n.js";
import { ListenModeControl } from "./listen-mode.js";
import {
  avatar, compact, esc, fillAvatar, fillSlot, fromTemplate, getJSON, icon, intcomma, postJSON,
  profileUrl, STAGE, toast, wireCopyButtons,
} from "./lib.js";
import { RoomClient } from "./room-client.js";
const ROLE_LABEL = { host: gettext("Host"), cohost: gettext("Co-host"), speaker: gettext("Speaker"), listener: gettext("Listener") };
const LISTENER_SAMPLE = 12;
const MAX_FLOATING = 24;
const STALE_DEBOUNCE_MS = 150;
const POLL_AWAY_MS = 30_000;

// Where a seat menu's forms post, under the Space's URL (spaces/site_urls.py): the blank seat
// the server renders names no URL, so that a page shows none of the controls it does not offer.
const SEAT_FORM_PATHS = {
  invite: () => "invite/",
  cohost_invite: () => "cohosts/invite/",
  cohost_revoke: (id) => `people/${id}/cohost-revoke/`,
  mute: (id) => `people/${id}/mute/`,
  demote: (id) => `people/${id}/demote/`,
  remove: (id) => `people/${id}/remove/`,
  block: (id) => `people/${id}/block/`,
};

// Form actions that can go over the socket, and the arguments the socket wants.
const SOCKET_ACTIONS = {
  react: (f, submitter) => ({ emoji: submitter?.value || f.get("emoji") }),
  raise_hand: () => ({}),
  withdraw_hand: () => ({}),
  mute_self: () => ({}),
  unmute_self: () => ({}),
  step_down: () => ({}),
  approve: (f, s, form) => ({ request_id: Number(form.dataset.requestId) }),
  deny: (f, s, form) => ({ request_id: Number(form.dataset.requestId) }),
  mute: (f, s, form) => ({ user_id: Number(form.dataset.userId) }),
  demote: (f, s, form) => ({ user_id: Number(form.dataset.userId) }),
  remove: (f, s, form) => ({ user_id: Number(form.dataset.userId) }),
  block: (f, s, form) => ({ user_id: Number(form.dataset.userId) }),
  cohost_revoke: (f, s, form) => ({ user_id: Number(form.dataset.userId) }),
  accept_invitation: (f, s, form) => ({ invitation_id: Number(form.dataset.invitationId) }),
  decline_invitation: (f, s, form) => ({ invitation_id: Number(form.dataset.invitationId) }),
  unpin: (f, s, form) => ({ pin_id: Number(form.dataset.pinId) }),
  captions: (f) => ({ enabled: f.get("enabled") === "1" }),
};
// After these, the page needs a fresh view of the viewer (role, `can`): the socket sends one by
// itself for events about the viewer; these are the ones it would not.
const NEEDS_OWN_REFRESH = new Set(["unpin", "captions"]);
// Counterparts, to keep keyboard focus on the button that replaced the one just pressed.
const FOCUS_TWIN = {
  raise_hand: "withdraw_hand", withdraw_hand: "raise_hand",
  mute_self: "unmute_self", unmute_self: "mute_self",
  join: "leave", leave: "join", step_down: "raise_hand", accept_invitation: "unmute_self",
};

export class SpacePage {
  constructor(root, state, reactions) {
    this.root = root;
    this.base = root.dataset.base;
    this.csrf = root.dataset.csrf;
    this.viewerId = Number(root.dataset.viewerId);
    this.reactions = reactions;
    this.emoji = Object.fromEntries(reactions.map((r) => [r.code, r.emoji]));
    this.state = state;
    this.seq = Number(state.seq) || 0;
    this.drawn = new Map();
    this.talking = new Set();
    this.floating = 0;
    this.ended = false;
    this.onRender = null;
    this.onEnd = null;
    this.onStale = null; // the viewer's own view is out of date: ask for a snapshot
    this.comments = null; // the CommentsPanel, once wired
  }

  // --- state ---------------------------------------------------------------------------------

  get space() {
    return this.state.space;
  }

  get me() {
    return this.state.me;
  }

  get can() {
    return this.state.can || {};
  }

  get present() {
    return !!this.me && this.me.state === "present";
  }

  /** A snapshot from the socket or an action's answer. Older than what we hold: keep only the
   * viewer's own part, which the action that returned it has just changed. */
  snapshot(state) {
    if (!state) return;
    const seq = Number(state.seq) || 0;
    if (seq >= this.seq) {
      this.seq = seq;
      this.comments?.prune(state.comments);
      this.render(state);
    } else {
      const own = ["me", "can", "pending_request_id", "invitations", "listen_mode"];
      this.render({ ...this.state, ...Object.fromEntries(own.map((k) => [k, state[k]])) });
    }
  }

  /** Fold one room event into the state and redraw. Returns false when the event needs a
   * snapshot instead (the caller asks for one). */
  apply(ev) {
    // Comments come often and touch nothing else: no copy of the state, no redraw of the room.
    if (ev.type === "comment.added") {
      const c = ev.comment;
      // {id, hidden}: by someone the viewer blocked; it only keeps `seq` whole.
      if (!c || c.hidden || !c.author) return true;
      const held = this.state.comments || [];
      if (!held.some((x) => x.id === c.id)) this.state.comments = [...held, c].slice(-50);
      this.comments?.added(c);
      return true;
    }
    if (ev.type === "comment.deleted") {
      this.state.comments = (this.state.comments || []).filter((x) => x.id !== ev.comment_id);
      this.comments?.removed(ev.comment_id);
      return true;
    }
    const s = structuredClone(this.state);
    const uid = (u) => (u && typeof u === "object" ? u.id : u);
    const drop = (list, id) => list.filter((p) => p.user.id !== id);
    const counts = () => {
      const c = ev.counts;
      if (!c) return;
      s.space.listener_count = c.listeners;
      s.space.speaker_count = c.speakers;
      s.space.cohost_count = c.cohosts;
      s.space.peak_listener_count = c.peak_listeners;
      s.space.total_joined_count = c.total_joined;
    };
    const seat = (p) => {
      forget(p.user.id);
      s.stage = drop(s.stage, p.user.id);
      s.listeners_sample = drop(s.listeners_sample, p.user.id);
      if (p.state !== "present") return;
      if (STAGE.includes(p.role)) {
        const rank = (r) => STAGE.indexOf(r);
        const at = s.stage.findIndex((q) => rank(q.role) > rank(p.role));
        s.stage.splice(at < 0 ? s.stage.length : at, 0, p);
      } else {
        s.listeners_sample.unshift(p);
        s.listeners_sample = s.listeners_sample.slice(0, LISTENER_SAMPLE);
      }
    };
    const mine = (p) => {
      if (!s.me || p.user.id !== this.viewerId) return;
      s.me = { ...s.me, ...p };
      if (p.listen_mode) s.listen_mode = p.listen_mode;
    };
    // The server's actions for a person are for who they were: once an event changes them,
    // the role table stands in until the next snapshot.
    const forget = (id) => {
      if (s.seat_actions && id in s.seat_actions) {
        s.seat_actions = { ...s.seat_actions };
        delete s.seat_actions[id];
      }
    };
    switch (ev.type) {
      case "participant.joined":
        seat(ev.participant);
        counts();
        break;
      case "participant.left":
      case "participant.removed": {
        const id = uid(ev.user);
        // A seat freed on stage can make "Invite to speak" possible again.
        if (this.can.moderate && s.stage.some((p) => p.user.id === id)) this.onStale?.();
        forget(id);
        s.stage = drop(s.stage, id);
        s.listeners_sample = drop(s.listeners_sample, id);
        if (s.requests) s.requests = s.requests.filter((r) => r.user.id !== id);
        counts();
        if (id === this.viewerId) return false;
        break;
      }
      case "role.changed":
        seat(ev.participant);
        mine(ev.participant);
        counts();
        // A moderator's actions depend on who is on stage and on free seats: re-read them.
        if (this.can.moderate) this.onStale?.();
        break;
      case "host.changed":
        this.hostChanged(s, ev);
        forget(uid(ev.previous_host));
        forget(uid(ev.new_host));
        counts();
        break;
      case "participant.muted":
      case "participant.unmuted":
        forget(ev.participant.user.id);
        s.stage = s.stage.map((p) => (p.user.id === ev.participant.user.id ? { ...p, ...ev.participant } : p));
        mine(ev.participant);
        if (ev.type === "participant.muted" && ev.participant.user.id === this.viewerId
            && ev.by && ev.by.id !== this.viewerId) {
          toast(interpolate(gettext("%(name)s muted you."), { name: ev.by.name }), "info");
        }
        break;
      case "hand.raised":
        if (s.requests && !s.requests.some((r) => r.id === ev.request.id)) s.requests.push(ev.request);
        break;
      case "hand.withdrawn":
      case "request.approved":
      case "request.denied":
        if (s.requests) s.requests = s.requests.filter((r) => r.id !== ev.request.id);
        if (ev.type === "request.denied" && ev.request.user.id === this.viewerId) {
          toast(gettext("The host didn’t bring you up this time."), "info");
        }
        break;
      case "pin.added":
        if (!s.pins.some((p) => p.id === ev.pin.id)) s.pins.push(ev.pin);
        s.space.pin_count = s.pins.length;
        break;
      case "pin.removed":
        s.pins = s.pins.filter((p) => p.id !== ev.pin_id);
        s.space.pin_count = s.pins.length;
        break;
      case "captions.toggled":
        s.space.captions_enabled = ev.enabled;
        if (!ev.enabled) document.querySelectorAll("#caption-lines [data-partial-speaker]").forEach((li) => li.remove());
        break;
      case "caption.added":
        this.caption(ev.line);
        return true;
      case "caption.partial":
        this.captionPartial(ev);
        return true;
      case "reactions":
        this.burst(ev);
        if (ev.totals) {
          // Totals only grow: keep the larger of what we hold and what the event says.
          const held = this.state.reaction_counts || {};
          for (const [code, n] of Object.entries(ev.totals)) held[code] = Math.max(held[code] || 0, n);
          this.state.reaction_counts = held;
          this.paintReactionTotal();
        }
        return true;
      case "space.ended":
        s.space.state = "ended";
        break;
      case "guests.counted":
        // The guests counted over every server process: only the counts move.
        counts();
        s.space.guest_count = ev.counts?.guests ?? s.space.guest_count;
        break;
      case "guests.changed":
        s.space.guests_allowed = ev.guests_allowed;
        this.guestsChanged(ev.guests_allowed);
        break;
      case "comments.changed":
        s.space.comments_enabled = ev.comments_enabled;
        s.space.comment_slow_mode_seconds = ev.slow_mode_seconds;
        // As spaces.permissions.check_comment: anyone present while comments are on (the Space
        // is live, or this page would be showing its end).
        s.can = { ...s.can, comment: ev.comments_enabled && this.present };
        break;
      case "speaking_policy.changed":
        s.space.speaking_policy = ev.speaking_policy;
        // Who may raise a hand now depends on who the host follows: the server says.
        if (this.present && this.me.role === "listener") this.onStale?.();
        break;
      case "noise_suppression.changed":
        s.space.noise_suppression = ev.noise_suppression;
        break;
      case "stage.lock_changed":
        s.space.stage_locked = ev.locked;
        // Locked: no new hands (check_raise_hand). Open again: the server says who may ask.
        if (ev.locked) s.can = { ...s.can, raise_hand: false };
        else if (this.present && this.me.role === "listener") this.onStale?.();
        break;
      case "recording.started":
        s.recording = { status: "recording", started_at: ev.started_at };
        // Clipping opens once something is stored: the viewer's `can` says so.
        this.onStale?.();
        break;
      case "listen_mode.changed": {
        // Live or delayed: nothing a seat shows; ours moves the audio (audio.js).
        const p = ev.participant;
        const update = (list) => list.map((q) => (q.user.id === p.user.id ? { ...q, ...p } : q));
        s.stage = update(s.stage);
        s.listeners_sample = update(s.listeners_sample);
        mine(p);
        break;
      }
      case "recording.consent_changed":
        s.stage = s.stage.map((p) => (p.user.id === ev.participant.user.id ? { ...p, ...ev.participant } : p));
        mine(ev.participant);
        break;
      case "clip.created":
        // Our own clip already said so where we made it.
        if (ev.clip && ev.clip.author && ev.clip.author.id !== this.viewerId) {
          toast(interpolate(gettext("%(name)s clipped this Space"), { name: ev.clip.author.name }), "info");
        }
        return true;
      case "active_speakers":
        // Not part of the snapshot: only the rings change.
        this.setTalking(ev.speakers || []);
        return true;
      case "speaker.invited":
      case "cohost.invited":
      case "invitation.declined":
      case "invitation.cancelled":
      case "cohost.added":
      case "cohost.removed":
        // About the invitee or the co-host: their own view is refreshed by the server, and
        // the role change arrives as role.changed.
        return true;
      default:
        // An event this page does not know (a newer server): redraw from a snapshot.
        return false;
    }
    this.render(s);
    return true;
  }

  /** The host's guests switch (spaces/_live_controls.html): follow it on every page that
   * shows it. A guest's own socket is closed by the server when it goes off. */
  guestsChanged(allowed) {
    const form = document.querySelector("form[data-action='guests']");
    if (!form) return;
    const input = form.querySelector("input[name='allowed']");
    if (input) input.value = allowed ? "0" : "1";
    form.querySelector("[role='switch']")?.setAttribute("aria-checked", allowed ? "true" : "false");
    const help = document.getElementById("lc-guests-help");
    if (help && help.dataset.on && help.dataset.off) help.textContent = allowed ? help.dataset.on : help.dataset.off;
  }

  /** `host.changed`: the role events that made it so came just before (the seats already
   * show the new roles); this one renames the host in the header and tells the two people
   * it concerns. The new host's own controls (End, the co-host tools) come from the snapshot
   * the server sends the subject of a role change; asking here as well covers a page that
   * missed it. */
  hostChanged(s, ev) {
    const next = ev.new_host;
    const previous = ev.previous_host;
    if (!next) return;
    s.space.host = { ...(s.space.host || {}), ...next };
    if (next.id === this.viewerId) {
      toast(ev.reason === "returned" ? gettext("You’re the host again.") : gettext("You’re the host now."), "info");
      this.onStale?.();
    } else if (previous && previous.id === this.viewerId) {
      this.onStale?.();
    } else {
      toast(interpolate(gettext("%(name)s is now the host."), { name: next.name }), "info");
      if (this.can.moderate) this.onStale?.();
    }
  }

  // --- drawing -------------------------------------------------------------------------------

  /** Draw the room from `state`. Each region is replaced only when its markup changed, so an
   * open menu or a half-typed field elsewhere survives a stranger joining. */
  render(state) {
    this.state = state;
    const { space } = state;
    if (space.state !== "live") {
      this.end();
      return;
    }
    const focus = this.focusKey();
    const openMenus = this.openMenus();
    document.querySelectorAll('[data-count="listeners"]').forEach((el) => {
      el.textContent = intcomma(space.listener_count);
    });
    this.text("about-joined", intcomma(space.total_joined_count));
    this.paintHost(space.host);
    this.put("left-note", this.leftNoteHtml());
    this.paintReactionTotal();
    const chip = document.getElementById("captions-chip");
    if (chip) chip.hidden = !space.captions_enabled;
    this.put("invitations-region", this.invitationsHtml());
    this.put("pin-list", this.pinsHtml());
    this.put("pin-form-slot", this.pinFormHtml());
    const pins = document.getElementById("pins-region");
    if (pins) pins.hidden = !state.pins.length && !this.can.pin;
    this.putNodes("stage-grid", state.stage.map((p) => this.seatNode(p, true)));
    this.text("stage-count", String(state.stage.length));
    const more = Math.max(0, space.listener_count - state.listeners_sample.length);
    this.putNodes("listener-grid", [
      ...state.listeners_sample.map((p) => this.seatNode(p, false)),
      ...(more ? [this.moreSeatNode(more)] : []),
    ]);
    const none = document.getElementById("no-listeners");
    // Guests (no account) are counted without a seat: a count of them is listeners too.
    if (none) none.hidden = state.listeners_sample.length > 0 || space.listener_count > 0;
    this.put("captions-toggle", this.captionsToggleHtml());
    const rec = document.getElementById("rec-badge");
    if (rec) rec.hidden = !state.recording || state.recording.status !== "recording";
    this.put("rec-tools", this.recToolsHtml());
    const lines = document.getElementById("caption-lines");
    if (lines) lines.hidden = !space.captions_enabled;
    this.text(
      "captions-note",
      space.captions_enabled
        ? (lines && lines.children.length ? "" : gettext("Captions appear here as people speak."))
        : gettext("Captions are off."),
    );
    this.put("bar-start", this.barStartHtml());
    this.put("bar-pre", this.barPreHtml());
    this.put("bar-post", this.barPostHtml());
    this.put("mod-tools", this.modToolsHtml());
    this.comments?.render(state);
    // Report is drawn hidden until it is allowed (joining allows it): show it without a reload.
    for (const id of ["report", "report-link"]) {
      document.getElementById(id)?.toggleAttribute("hidden", !this.can.report);
    }
    this.reportTargets();
    this.restoreMenus(openMenus);
    this.restoreFocus(focus);
    this.paintTalking();
    this.onRender?.(state);
  }

  /** The header names the host: it changes when the host hands the Space over. */
  paintHost(host) {
    if (!host) return;
    this.put("room-host-avatar", avatar(host, "xs"));
    this.text("room-host-link", host.name);
    this.text("host-past-name", host.name);
    const link = document.getElementById("room-host-link");
    if (link) link.setAttribute("href", profileUrl(host));
    document.getElementById("host-profile-link")?.setAttribute("href", profileUrl(host));
    document.getElementById("host-past-link")?.setAttribute(
      "href", `/spaces/ended/?host=${encodeURIComponent(host.username)}`);
  }

  /** After leaving, say so plainly (the bar offers Join again): a page that went quiet
   * without a word looks like a broken one. */
  leftNoteHtml() {
    const me = this.me;
    if (!me || me.state !== "left") return "";
    return `<div class="alert alert-info left-note" role="status">${icon("leave")}<span><strong>${esc(gettext("You left this Space."))}</strong>`
      + `${this.can.join ? ` ${esc(gettext("It’s still live: join again to listen."))}` : ""}</span></div>`;
  }

  put(id, html) {
    const el = document.getElementById(id);
    if (!el || this.drawn.get(id) === html) return;
    this.drawn.set(id, html);
    el.innerHTML = html;
  }

  /** `put` for elements built from templates: swapped in only when their markup changed. */
  putNodes(id, nodes) {
    const el = document.getElementById(id);
    const html = nodes.map((n) => n.outerHTML).join("");
    if (!el || this.drawn.get(id) === html) return;
    this.drawn.set(id, html);
    el.replaceChildren(...nodes);
  }

  text(id, value) {
    const el = document.getElementById(id);
    if (el && el.textContent !== value) el.textContent = value;
  }

  form(action, path, inner, { hidden = {}, data = {}, cls = "" } = {}) {
    const fields = Object.entries(hidden)
      .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join("");
    const attrs = Object.entries(data).map(([k, v]) => ` data-${k}="${esc(v)}"`).join("");
    return `<form method="post" action="${esc(this.base + path)}" data-action="${action}"${attrs}${cls ? ` class="${cls}"` : ""}>`
      + `<input type="hidden" name="csrfmiddlewaretoken" value="${esc(this.csrf)}">${fields}${inner}</form>`;
  }

  /** What the viewer may do to `p`, as the server says (spaces.permissions.participant_actions):
   * the snapshot's `seat_actions` for the people it drew, else its `role_actions` table for a
   * present participant this page learnt of from an event. The page decides nothing itself. */
  seatActions(p) {
    if (p.user.id === this.viewerId) return new Set();
    const listed = (this.state.seat_actions || {})[p.user.id];
    if (listed) return new Set(listed);
    if (p.state && p.state !== "present") return new Set();
    const table = this.state.role_actions || {};
    return new Set(table[p.is_muted ? `${p.role}:muted` : p.role] || []);
  }

  /** A seat, cloned from the server's blank _seat.html (<template id="seat-template">) and filled
   * with text and attributes only; the parts `p` has not are removed. */
  seatNode(p, stage) {
    const u = p.user;
    const isMe = u.id === this.viewerId;
    const label = ROLE_LABEL[p.role] || gettext("Listener");
    const muted = stage && p.is_muted;
    const unrecorded = stage && p.voice_recorded === false && this.space.recording_enabled;
    const a = this.seatActions(p);
    const li = fromTemplate("seat-template");
    li.className = ["seat", stage ? "seat-stage" : "", muted ? "is-muted" : "", isMe ? "is-me" : "",
      this.talking.has(u.id) ? "talking" : ""].filter(Boolean).join(" ");
    li.dataset.userId = u.id;
    li.dataset.role = p.role;
    // Named by the words it shows, then the rest for screen readers (as _seat.html).
    fillSlot(li, "about", interpolate(gettext("%(role)s%(you)s%(muted)s%(unrecorded)s: options"), {
      role: stage ? "" : ` ${label}`,
      you: isMe ? gettext(" (you)") : "",
      muted: muted ? gettext(", muted") : "",
      unrecorded: unrecorded ? gettext(", not recorded") : "",
    }));
    fillAvatar(li.querySelector(".seat-avatar .avatar"), u, stage ? "lg" : "");
    if (!muted) li.querySelector('[data-slot="muted"]').remove();
    if (!unrecorded) li.querySelector('[data-slot="unrecorded"]').remove();
    fillSlot(li, "name", u.name);
    const role = li.querySelector('[data-slot="role"]');
    if (stage) {
      role.className = `seat-role seat-role-${p.role}`;
      const star = p.role === "host" || p.role === "cohost" ? role.querySelector("svg") : null;
      role.replaceChildren(...(star ? [star] : []), label);
    } else {
      role.remove();
    }
    fillSlot(li, "handle", `@${u.username} · ${label}${muted ? gettext(" · muted") : ""}${unrecorded ? gettext(" · not recorded") : ""}`);
    li.querySelector('[data-slot="profile"]').href = profileUrl(u);
    li.querySelectorAll("form[data-action]").forEach((form) => {
      const { action } = form.dataset;
      if (!a.has(action)) {
        form.remove();
        return;
      }
      form.dataset.userId = u.id;
      const who = form.querySelector('input[name="user_id"]');
      if (who) who.value = u.id;
      form.action = this.base + SEAT_FORM_PATHS[action](u.id);
    });
    const report = li.querySelector("a[data-report]");
    if (a.has("report")) {
      report.href = `?report=${u.id}#report`;
      report.dataset.report = u.id;
      fillSlot(report, "report", interpolate(gettext("Report @%(username)s"), { username: u.username }));
    } else {
      report.remove();
    }
    return li;
  }

  moreSeatNode(more) {
    const li = fromTemplate("more-seat-template");
    fillSlot(li, "more", `+${compact(more)}`);
    return li;
  }

  invitationsHtml() {
    const { space } = this;
    const stageFull = space.speaker_count >= space.max_speakers;
    const cohostsFull = space.cohost_count >= space.max_cohosts;
    return (this.state.invitations || []).filter((i) => i.state === "pending").map((inv) => {
      const cohost = inv.kind === "cohost";
      const full = cohost ? cohostsFull : stageFull;
      const note = full ? `<span class="small">${cohost ? gettext("There’s no co-host spot free right now.") : gettext("The stage is full right now.")}</span>` : "";
      const data = { "invitation-id": inv.id };
      return `<div class="invite-banner" role="status">${icon("mic")}<p>${interpolate(cohost ? gettext("%(name)s invited you to co-host.") : gettext("%(name)s invited you to speak."), { name: `<strong>${esc(inv.inviter ? inv.inviter.name : gettext("The host"))}</strong>` })} ${note}</p>`
        + `<div class="actions">${this.form("accept_invitation", `invitations/${inv.id}/accept/`, `<button type="submit" class="btn btn-primary btn-sm"${full ? " disabled" : ""}>${esc(gettext("Accept"))}</button>`, { data })}`
        + `${this.form("decline_invitation", `invitations/${inv.id}/decline/`, `<button type="submit" class="btn btn-outline btn-sm">${esc(gettext("Not now"))}</button>`, { data })}</div></div>`;
    }).join("");
  }

  pinsHtml() {
    return this.state.pins.map((pin) => {
      const mayUnpin = this.can.moderate || (pin.author.id === this.viewerId && this.present);
      const link = pin.url
        ? `<a class="pin-link" href="${esc(pin.url)}" rel="noopener nofollow ugc" target="_blank">${icon("link")}${esc(pin.url.length > 60 ? `${pin.url.slice(0, 59)}…` : pin.url)}</a>`
        : "";
      const unpin = mayUnpin
        ? this.form("unpin", `pins/${pin.id}/remove/`, `<button type="submit" class="btn btn-link btn-sm">${esc(gettext("Unpin"))}<span class="visually-hidden"> “${esc(pin.text.slice(0, 30))}”</span></button>`, { data: { "pin-id": pin.id } })
        : "";
      return `<li class="pin"><p>${esc(pin.text)}</p>${link}<div class="pin-meta small muted">${esc(interpolate(gettext("Pinned by %(name)s"), { name: pin.author.name }))} ${unpin}</div></li>`;
    }).join("");
  }

  pinFormHtml() {
    if (!this.can.pin) return "";
    const full = this.state.pins.length >= 3;
    return `<details class="pin-new"><summary class="btn btn-outline btn-sm">${icon("plus")}${esc(gettext("Pin a post"))}</summary>`
      + this.form("pin", "pins/", `<div class="field"><label for="js-pin-text">${esc(gettext("Text"))}</label><textarea id="js-pin-text" name="text" rows="2" maxlength="280" required placeholder="${esc(gettext("Share a link or a note"))}"></textarea></div>`
        + `<div class="field"><label for="js-pin-url">${esc(gettext("Link"))} <span class="optional">${esc(gettext("(optional)"))}</span></label><input id="js-pin-url" type="url" name="url" maxlength="500"></div>`
        + `<button type="submit" class="btn btn-primary btn-sm"${full ? " disabled" : ""}>${esc(gettext("Pin"))}</button>${full ? ` <span class="small muted">${esc(gettext("Three posts are pinned: unpin one first."))}</span>` : ""}`,
      { cls: "form" }) + "</details>";
  }

  captionsToggleHtml() {
    if (!this.can.toggle_captions) return "";
    const on = this.space.captions_enabled;
    return this.form("captions", "captions/", `<button type="submit" class="btn btn-outline btn-sm" aria-pressed="${on}">${on ? gettext("Turn off") : gettext("Turn on")}<span class="visually-hidden"> ${esc(gettext("captions"))}</span></button>`, { hidden: { enabled: on ? "0" : "1" } });
  }

  /** Recording: "Don't record my voice" for the stage, "Clip last 30 s" for anyone in it, as
   * `can` allows (spaces/_rec_tools.html draws the same). */
  recToolsHtml() {
    const { can, me } = this;
    let html = "";
    if (can.recording_consent) {
      const recorded = !me || me.voice_recorded !== false;
      html += this.form("recording_consent", "me/recording/", `<button type="submit" class="btn btn-outline btn-sm">${recorded ? `${icon("rec-off")}${esc(gettext("Don’t record my voice"))}` : `${icon("rec")}${esc(gettext("Record my voice"))}`}</button>`, { hidden: { recorded: recorded ? "0" : "1" } });
    }
    if (can.clip) {
      html += this.form("clip", "clips/", `<button type="submit" class="btn btn-outline btn-sm">${icon("scissors")}${esc(gettext("Clip last 30 s"))}</button>`);
    }
    return html;
  }

  /** The clip just made: a link to it under the tools (it stays until the next one). */
  clipMade(clip) {
    const done = document.getElementById("clip-done");
    if (!done || !clip) return;
    const link = document.createElement("a");
    link.href = clip.url;
    link.textContent = gettext("Open your clip");
    done.replaceChildren(`${interpolate(gettext("Your %(seconds)s-second clip is ready."), { seconds: Math.round(clip.duration_ms / 1000) })} `, link);
  }

  barStartHtml() {
    const { can } = this;
    let html = "";
    if (can.join) {
      html += this.form("join", "join/", `<button type="submit" class="btn btn-primary btn-lg">${icon("mic")}${this.me ? gettext("Join again") : gettext("Start listening")}</button>`);
    }
    if (can.leave) html += this.leaveHtml();
    if (can.end) {
      html += `<details class="menu confirm" id="end-confirm"><summary class="btn btn-leave">${icon("power")}${esc(gettext("End"))}</summary>`
        + `<div class="menu-pop bar-pop confirm-pop" role="group" aria-labelledby="end-q"><p id="end-q"><strong>${esc(gettext("End this Space?"))}</strong><br><span class="muted small">${esc(gettext("Everyone leaves, and it can’t be restarted."))}</span></p>`
        + this.form("end", "end/", `<button type="submit" class="btn btn-danger btn-block">${esc(gettext("End for everyone"))}</button>`) + "</div></details>";
    }
    return html;
  }

  /** Leave. The host leaves by handing the Space over: with several co-hosts who could take
   * it (the server's `successors`, the default first), they choose; the server picks the
   * default when the form names nobody. */
  leaveHtml() {
    const successors = (this.state.successors || [])
      .map((id) => this.state.stage.find((p) => p.user.id === id))
      .filter(Boolean);
    if (successors.length < 2) {
      const note = successors.length ? ` title="${esc(interpolate(gettext("%(name)s will take over as host"), { name: successors[0].user.name }))}"` : "";
      return this.form("leave", "leave/", `<button type="submit" class="btn btn-leave"${note}>${icon("leave")}${esc(gettext("Leave"))}</button>`);
    }
    const options = successors.map((p, i) => `<label class="successor-option"><input type="radio" name="successor_id" value="${p.user.id}"${i === 0 ? " checked" : ""}>`
      + `${avatar(p.user, "xs")}<span>${esc(p.user.name)}${i === 0 ? ' <span class="muted small">${esc(gettext("(co-host longest)"))}</span>' : ""}</span></label>`).join("");
    return `<details class="menu confirm" id="leave-confirm"><summary class="btn btn-leave">${icon("leave")}${esc(gettext("Leave"))}</summary>`
      + `<div class="menu-pop bar-pop confirm-pop">`
      + this.form("leave", "leave/", `<fieldset class="successor-pick"><legend><strong>${esc(gettext("Who takes over as host?"))}</strong></legend>${options}</fieldset>`
        + `<button type="submit" class="btn btn-danger btn-block">${esc(gettext("Leave and hand over"))}</button>`)
      + "</div></details>";
  }

  barPreHtml() {
    const { can } = this;
    let html = "";
    if (can.step_down) {
      html += this.form("step_down", "me/step-down/", `<button type="submit" class="btn btn-ghost bar-text" aria-label="${esc(gettext("Go to audience"))}" title="${esc(gettext("Go to audience"))}">${icon("arrow-down")}<span>${esc(gettext("Go to audience"))}</span></button>`);
    }
    if (can.react) {
      const buttons = this.reactions.map((r) => `<button type="submit" name="emoji" value="${esc(r.code)}" aria-label="${esc(interpolate(gettext("React with %(emoji)s"), { emoji: r.emoji }))}">${esc(r.emoji)}</button>`).join("");
      html += `<details class="menu react-menu"><summary class="btn bar-btn" aria-label="${esc(gettext("React"))}" title="${esc(gettext("React"))}">${icon("smile")}<span class="bar-label">${esc(gettext("React"))}</span></summary>`
        + this.form("react", "react/", buttons, { cls: "menu-pop bar-pop react-pop" }) + "</details>";
    }
    return html;
  }

  barPostHtml() {
    const { can, me } = this;
    let html = "";
    if (can.raise_hand) {
      html += this.form("raise_hand", "hand/", `<button type="submit" class="btn bar-btn bar-primary" aria-label="${esc(gettext("Request to speak"))}" title="${esc(gettext("Request to speak"))}">${icon("hand")}<span class="bar-label">${esc(gettext("Request to speak"))}</span></button>`);
    } else if (can.withdraw_hand) {
      html += this.form("withdraw_hand", "hand/withdraw/", `<button type="submit" class="btn bar-btn bar-pressed" aria-pressed="true" aria-label="${esc(gettext("Requested · Withdraw your raised hand"))}" title="${esc(gettext("Withdraw your request"))}">${icon("hand")}<span class="bar-label">${esc(gettext("Requested · Withdraw"))}</span></button>`);
    } else if (this.space.stage_locked && this.present && me.role === "listener") {
      // Said, not hidden (spaces/_bar.html draws the same).
      html += `<button type="button" class="btn bar-btn bar-locked" disabled aria-label="${esc(gettext("Request to speak: the host locked the stage"))}" title="${esc(gettext("The host locked the stage"))}">${icon("lock")}<span class="bar-label">${esc(gettext("Stage locked"))}</span></button>`;
    }
    if (can.unmute_self) {
      const note = me && me.muted_by_host ? gettext(" (muted by the host)") : "";
      html += this.form("unmute_self", "me/unmute/", `<button type="submit" class="btn mic-btn is-off" aria-pressed="false" aria-label="${esc(interpolate(gettext("Mic off%(note)s: turn it on"), { note }))}">${icon("mic-off")}<span class="bar-label">${esc(gettext("Mic off"))}</span></button>`);
    } else if (can.mute_self) {
      html += this.form("mute_self", "me/mute/", `<button type="submit" class="btn mic-btn is-on" aria-pressed="true" aria-label="${esc(gettext("Mic on: turn it off"))}">${icon("mic")}<span class="bar-label">${esc(gettext("Mic on"))}</span></button>`);
    }
    return html;
  }

  modToolsHtml() {
    const { state, space, can } = this;
    if (!Array.isArray(state.requests) || !can.moderate) return "";
    const stageFull = space.speaker_count >= space.max_speakers;
    const cohostsFull = space.cohost_count >= space.max_cohosts;
    const rows = state.requests.map((r) => {
      const data = { "request-id": r.id };
      return `<li class="request-row" data-request-id="${r.id}">${avatar(r.user, "sm")}<div class="who"><div class="who-name"><a href="${esc(profileUrl(r.user))}">${esc(r.user.name)}</a></div><div class="handle">@${esc(r.user.username)}</div></div><div class="actions">`
        + this.form("approve", `requests/${r.id}/approve/`, `<button type="submit" class="btn btn-primary btn-sm"${stageFull ? " disabled" : ""}>${esc(gettext("Approve"))}<span class="visually-hidden"> ${esc(r.user.name)}</span></button>`, { data })
        + this.form("deny", `requests/${r.id}/deny/`, `<button type="submit" class="btn btn-outline btn-sm">${esc(gettext("Deny"))}<span class="visually-hidden"> ${esc(r.user.name)}</span></button>`, { data })
        + "</div></li>";
    }).join("");
    const dis = (full) => (full ? " disabled" : "");
    let html = `<section class="card" id="requests" aria-labelledby="requests-title">`
      + `<div class="card-head"><h2 id="requests-title">${esc(gettext("Requests to speak"))} <span class="count-pill" id="requests-count">${state.requests.length}</span></h2></div>`
      + (stageFull ? `<p class="side-note small" id="stage-full-note">${icon("info")}${esc(interpolate(gettext("The stage is full (%(n)s speakers). Move someone to the audience to approve more."), { n: space.max_speakers }))}</p>` : "")
      + `<ul class="list" id="request-list">${rows}</ul>`
      + (state.requests.length ? "" : `<p class="side-empty muted small" id="requests-empty">${esc(gettext("No raised hands right now."))}</p>`)
      + "</section>";
    html += `<section class="card card-pad" aria-labelledby="manage-title"><h2 class="section-title" id="manage-title">${esc(gettext("Bring people up"))}</h2>`
      + this.form("invite", "invite/", `<label for="invite-username">${esc(gettext("Invite a listener to speak"))}</label><div class="inline-row"><input id="invite-username" name="username" type="text" placeholder="${esc(gettext("@username"))}" autocomplete="off" required${dis(stageFull)}><button type="submit" class="btn btn-outline btn-sm"${dis(stageFull)}>${esc(gettext("Invite"))}</button></div>`, { cls: "inline-form" });
    if (can.manage_cohosts) {
      html += this.form("cohost_invite", "cohosts/invite/", `<label for="cohost-username">${esc(gettext("Add a co-host"))} <span class="muted small">${esc(interpolate(gettext("(%(n)s of %(max)s)"), { n: space.cohost_count, max: space.max_cohosts }))}</span></label><div class="inline-row"><input id="cohost-username" name="username" type="text" placeholder="${esc(gettext("@username"))}" autocomplete="off" required${dis(cohostsFull)}><button type="submit" class="btn btn-outline btn-sm"${dis(cohostsFull)}>${esc(gettext("Invite"))}</button></div>`, { cls: "inline-form" });
    }
    html += `<p class="small muted" style="margin:10px 0 0">${esc(gettext("Tap someone in the room for more: mute, move to the audience, remove."))}</p></section>`;
    return html;
  }

  reportTargets() {
    const select = document.getElementById("report-target");
    if (!select) return;
    const people = [...this.state.stage, ...this.state.listeners_sample]
      .filter((p) => this.seatActions(p).has("report"));
    const html = `<option value="">${esc(gettext("This Space"))}</option>`
      + people.map((p) => `<option value="${p.user.id}">${esc(p.user.name)} (@${esc(p.user.username)})</option>`).join("");
    if (this.drawn.get("report-target") === html) return;
    const chosen = select.value;
    this.drawn.set("report-target", html);
    select.innerHTML = html;
    select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
  }

  // --- focus and open menus survive a redraw -------------------------------------------------

  focusKey() {
    const el = document.activeElement;
    const form = el && el.closest && el.closest("form[data-action]");
    if (!form || !this.root.contains(form)) return null;
    return { action: form.dataset.action, user: form.dataset.userId };
  }

  restoreFocus(key) {
    if (!key || (document.activeElement && document.activeElement !== document.body
        && this.root.contains(document.activeElement))) return;
    const pick = (action) => this.root.querySelector(
      `form[data-action="${action}"]${key.user ? `[data-user-id="${key.user}"]` : ""} button`,
    ) || this.root.querySelector(`form[data-action="${action}"] button`);
    const target = pick(key.action) || (FOCUS_TWIN[key.action] && pick(FOCUS_TWIN[key.action]))
      || this.root.querySelector("#room-bar button, #room-bar summary");
    target?.focus();
  }

  openMenus() {
    return [...this.root.querySelectorAll("details[open]")].map((d) => {
      const seat = d.closest("[data-user-id]");
      return seat ? `seat:${seat.dataset.userId}` : d.id || d.className;
    });
  }

  restoreMenus(keys) {
    for (const key of keys) {
      let d = null;
      if (key.startsWith("seat:")) {
        d = this.root.querySelector(`[data-user-id="${key.slice(5)}"] details`);
      } else {
        d = document.getElementById(key) || this.root.querySelector(`details[class="${key}"]`);
      }
      if (d) d.open = true;
    }
  }

  // --- live bits -----------------------------------------------------------------------------

  paintReactionTotal() {
    const total = Object.values(this.state.reaction_counts || {}).reduce((a, n) => a + (Number(n) || 0), 0);
    this.text("about-reactions", intcomma(total));
  }

  /** Light the rings of the people talking now (the audio client calls this with levels). */
  setTalking(ids) {
    this.talking = new Set(ids);
    this.paintTalking();
  }

  paintTalking() {
    this.root.querySelectorAll(".seat-stage").forEach((el) => {
      el.classList.toggle("talking", this.talking.has(Number(el.dataset.userId)));
    });
  }

  speakerName(userId) {
    const speaker = this.state.stage.find((p) => p.user.id === userId);
    return speaker ? speaker.user.name : gettext("Someone");
  }

  caption(line) {
    const list = document.getElementById("caption-lines");
    if (!list) return;
    // The final line replaces that speaker's words-so-far.
    list.querySelector(`[data-partial-speaker="${line.speaker_id}"]`)?.remove();
    if (list.querySelector(`[data-line-id="${line.id}"]`)) return;
    const li = document.createElement("li");
    li.dataset.lineId = line.id;
    li.innerHTML = `<strong>${esc(this.speakerName(line.speaker_id))}</strong> ${esc(line.text)}`;
    this.appendCaption(list, li, list.querySelector("[data-partial-speaker]"));
  }

  /** Words so far of a speaker's utterance: one line per speaker, replaced in place, kept
   * below the final lines; empty text clears it. Not stored (the transcript has finals only). */
  captionPartial(ev) {
    const list = document.getElementById("caption-lines");
    if (!list) return;
    const held = list.querySelector(`[data-partial-speaker="${ev.speaker_id}"]`);
    if (!ev.text) {
      held?.remove();
      return;
    }
    const html = `<strong>${esc(this.speakerName(ev.speaker_id))}</strong> ${esc(ev.text)}`;
    if (held) {
      held.innerHTML = html;
      return;
    }
    const li = document.createElement("li");
    li.className = "partial";
    li.dataset.partialSpeaker = ev.speaker_id;
    li.innerHTML = html;
    this.appendCaption(list, li, null);
  }

  appendCaption(list, li, before) {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.insertBefore(li, before);
    while (list.children.length > 200) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
    this.text("captions-note", "");
  }

  /** Floating emoji for a `reactions` event (counts per code in the last window). */
  burst(ev) {
    // Our own taps already floated when we tapped.
    const counts = { ...(ev.counts || {}) };
    for (const tap of ev.recent || []) {
      if (tap.user && tap.user.id === this.viewerId && counts[tap.code] > 0) counts[tap.code] -= 1;
    }
    for (const [code, n] of Object.entries(counts)) {
      for (let i = 0; i < Math.min(n, 5); i += 1) setTimeout(() => this.float(code), i * 120);
    }
  }

  float(code) {
    const layer = document.getElementById("reaction-layer");
    const emoji = this.emoji[code] || code;
    if (!layer || this.floating >= MAX_FLOATING) return;
    const el = document.createElement("span");
    el.className = "float-emoji";
    el.textContent = emoji;
    el.style.left = `${10 + Math.random() * 60}%`;
    el.style.setProperty("--drift", `${Math.round((Math.random() - 0.5) * 60)}px`);
    this.floating += 1;
    layer.append(el);
    setTimeout(() => {
      el.remove();
      this.floating -= 1;
    }, 2700);
  }

  end() {
    if (this.ended) return;
    this.ended = true;
    this.setTalking([]);
    this.onEnd?.();
    toast(gettext("This Space has ended."), "info");
    setTimeout(() => window.location.reload(), 1200);
  }
}

// --- Wiring ----------------------------------------------------------------------------------

function readJSON(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

function closeMenus(form) {
  const details = form.closest("details");
  if (details) details.open = false;
}

function start() {
  const root = document.getElementById("space-root");
  const state = readJSON("space-state");
  if (!root || !state || root.dataset.live !== "true") return;
  const page = new SpacePage(root, state, readJSON("space-reactions") || []);
  // Signed out (docs/realtime.md, "Guests"): listen-only, over live HLS, after pressing Listen.
  const guest = root.dataset.guest === "true";
  const status = document.getElementById("conn-status");
  const client = new RoomClient(root.dataset.ws, {
    seq: () => page.seq,
    setSeq: (seq) => { page.seq = seq; },
    onState: (s) => {
      audio.snapshotArrived();
      page.snapshot(s);
    },
    onEvent: (ev) => page.apply(ev),
    onStatus: (text) => {
      if (!status) return;
      status.textContent = text || "";
      status.classList.toggle("show", !!text);
    },
    onGone: async (code, message) => {
      audio.stop();
      // Not in the Space any more (left elsewhere, removed, timed out): show what is true now.
      if (message) toast(message, code === 4403 ? "error" : "info");
      try {
        page.snapshot(await getJSON(page.base));
      } catch {
        window.location.reload();
      }
    },
  });
  const audio = new RoomAudio(client, {
    player: document.getElementById("room-audio"),
    unlock: document.getElementById("audio-unlock"),
    hlsScript: root.dataset.hlsScript || "",
    onError: (message) => toast(message, "error"),
    onStatus: (text) => {
      const el = document.getElementById("audio-status");
      if (el) el.textContent = text;
    },
  });
  const listening = new ListenModeControl({ page, client, audio });
  const comments = new CommentsPanel(page, client);
  page.comments = comments;
  page.onRender = (s) => {
    audio.sync(s);
    listening.update(s);
  };
  page.onEnd = () => {
    audio.stop();
    listening.update(null);
  };
  // Several events in a row (role changes, then host.changed) want one snapshot, not several.
  let staleTimer = null;
  page.onStale = () => {
    if (staleTimer) return;
    staleTimer = setTimeout(() => {
      staleTimer = null;
      client.resync();
    }, STALE_DEBOUNCE_MS);
  };
  const connect = () => {
    const listening = page.present || (guest && audio.guestListening);
    if (listening && page.space.state === "live" && !client.open) client.connect();
  };
  const listen = document.getElementById("guest-listen");
  if (guest && listen) {
    listen.addEventListener("click", (event) => {
      event.preventDefault();
      audio.guestListening = !audio.guestListening;
      listen.setAttribute("aria-pressed", audio.guestListening ? "true" : "false");
      const label = listen.querySelector("[data-slot='label']");
      if (label) label.textContent = audio.guestListening ? listen.dataset.stop : listen.dataset.listen;
      if (audio.guestListening) {
        // Played inside the tap, so the browser lets the sound start.
        audio.sync(page.state);
        connect();
      } else {
        client.close();
        audio.stop();
      }
    });
  }

  root.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.action) return;
    event.preventDefault();
    const action = form.dataset.action;
    const submitter = event.submitter;
    if (comments.owns(form)) {
      await comments.submit(form, submitter);
      return;
    }
    const data = new FormData(form, submitter);
    const buttons = [...form.querySelectorAll("button")];
    if (action === "react") {
      page.float(data.get("emoji"));
      closeMenus(form);
    }
    // A seat menu's choice is made: close it now (the redraw would reopen it otherwise).
    if (form.closest(".seat-menu")) closeMenus(form);
    if (action === "mute_self") audio.muteNow();
    if (action === "leave") {
      // Our own socket goes first: else the server closes it as "no longer in this Space"
      // when the leave lands, and the page would say so as if it were news.
      audio.stop();
      client.close();
    }
    const toSocket = SOCKET_ACTIONS[action] && client.connected;
    if (action !== "react") buttons.forEach((b) => { b.disabled = true; });
    try {
      if (toSocket) {
        await client.act(action, SOCKET_ACTIONS[action](data, submitter, form));
        if (NEEDS_OWN_REFRESH.has(action)) client.resync();
        closeMenus(form);
        return;
      }
      const answer = await postJSON(form.action, data, page.csrf);
      if (!answer.ok) throw answer.error;
      if (answer.message && action !== "react") toast(answer.message);
      if (answer.state) page.snapshot(answer.state);
      if (answer.clip) page.clipMade(answer.clip);
      if (["share", "report", "pin", "invite", "cohost_invite"].includes(action)) form.reset();
      if (action === "report") comments.reportClear();
      closeMenus(form);
      if (action === "join") connect();
    } catch (error) {
      toast(error?.message || gettext("Something went wrong. Try again."), "error");
      if (action === "leave") connect(); // still in the room
    } finally {
      buttons.forEach((b) => { if (b.isConnected) b.disabled = false; });
    }
  });

  // "Report @someone" in a seat menu: open the report form with them chosen, no reload.
  root.addEventListener("click", (event) => {
    const about = event.target.closest && event.target.closest("a[data-report-comment], #report-comment-clear");
    if (about) {
      if (about.id === "report-comment-clear") {
        event.preventDefault();
        comments.reportClear();
        document.getElementById("report-target")?.focus();
      } else if (comments.report(about.dataset.reportComment)) {
        event.preventDefault();
        closeMenus(about);
      }
      return;
    }
    const link = event.target.closest && event.target.closest("a[data-report]");
    if (!link) return;
    const report = document.getElementById("report");
    const select = document.getElementById("report-target");
    if (!report || !select) return;
    event.preventDefault();
    closeMenus(link);
    comments.reportClear();
    report.open = true;
    select.value = link.dataset.report;
    report.scrollIntoView({ behavior: "smooth", block: "center" });
    select.focus();
  });

  // Escape closes an open menu and returns focus to its button.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = event.target.closest && event.target.closest("details[open]");
    if (open) {
      open.open = false;
      open.querySelector("summary")?.focus();
    }
  });
  // One open menu at a time.
  root.addEventListener("toggle", (event) => {
    const d = event.target;
    if (!(d instanceof HTMLDetailsElement) || !d.open || !d.classList.contains("menu")) return;
    root.querySelectorAll("details.menu[open]").forEach((o) => { if (o !== d) o.open = false; });
  }, true);

  // Not in the room (left, or not joined yet): no socket brings news, so read the detail
  // when the page is looked at again and, while it is visible, every POLL_AWAY_MS; a Space
  // that ended meanwhile then shows as ended instead of "live" forever.
  const refreshAway = async () => {
    if (page.present || page.ended || client.open || document.visibilityState !== "visible") return;
    if (guest && audio.guestListening) return; // the socket comes back by itself
    try {
      page.snapshot(await getJSON(page.base));
    } catch {
      // Offline for a moment: the next look or tick tries again.
    }
  };
  setInterval(refreshAway, POLL_AWAY_MS);
  document.addEventListener("visibilitychange", refreshAway);
  window.addEventListener("focus", refreshAway);

  wireCopyButtons(root);
  page.render(state);
  connect();
  window.spaces = { page, client, audio, listening, refreshAway };
}

start();
