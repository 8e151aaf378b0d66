// The room's text comments and the host's live controls (docs/realtime.md, "Comments and live
// controls"), on the Space page. Without this script the server draws the comments and every
// control is a plain POST form (spaces/_comments.html, _live_controls.html); with it:
//
//   CommentsPanel  the list, latest at the bottom: comments from the snapshot and from
//                  `comment.added` are clones of the server's blank spaces/_comment.html
//                  (<template id="comment-template">), filled with text nodes only: a comment's
//                  `parts` are drawn as text, mentions and http(s) links as links, never as
//                  HTML. It stays at the bottom unless the reader scrolled up ("New comments").
//                  The composer sends over the room's socket (a POST when it is down), once per
//                  click, and says kindly why a comment was refused (slow mode counts down).
//   LiveControls   the host's and co-hosts' card (<template id="live-controls-template">):
//                  comments on or off, slow mode, who can ask to speak, lock the stage, mute
//                  all, each a socket action; its values, the header's policy text and the
//                  locked-stage note follow the room's events for everyone.
//
// Both are driven by static/js/space.js: `render(state)` after each redraw, `prune` with each
// snapshot from the server, `added` / `removed` for comment events, `submit(form)` for their
// forms. What the viewer may do comes from the snapshot (`can`, `seat_actions`,
// `role_actions`): the page decides nothing itself.

import { fillAvatar, fillSlot, fromTemplate, postJSON, profileUrl, toast } from "./lib.js";
import { gettext, interpolate, ngettext } from "./i18n.js";

const MAX_DRAWN = 200;
// What a snapshot holds (spaces/selectors.py SNAPSHOT_COMMENTS).
const SNAPSHOT_COMMENTS = 50;
const AT_BOTTOM_PX = 48;
const MAX_LENGTH = 280;
// The counter turns to a warning this close to the limit.
const LOW_FROM = 20;

export const POLICY_HEADER = {
  everyone: gettext("Anyone can ask to speak"),
  followed_by_host: gettext("People the host follows can speak"),
  invited_only: gettext("Speakers by invitation"),
};
const POLICY_LABEL = {
  everyone: gettext("Everyone"),
  followed_by_host: gettext("People the host follows"),
  invited_only: gettext("Only people invited to speak"),
};
const SLOW_LABEL = { 5: gettext("5 s"), 10: gettext("10 s"), 30: gettext("30 s"), 60: gettext("1 min"), 300: gettext("5 min") };

export function slowLabel(seconds) {
  return SLOW_LABEL[seconds] || `${seconds} s`;
}

// The panel's forms: the socket action each sends, and its arguments.
const ACTIONS = {
  comment_delete: (f, form) => ["comment_delete", { comment_id: Number(form.dataset.commentId) }],
  comment_invite: (f) => ["invite", { user_id: Number(f.get("user_id")) }],
  comments_toggle: (f) => ["comments", { enabled: f.get("enabled") === "1" }],
  slow_mode: (f) => ["comments", { slow_mode_seconds: Number(f.get("slow_mode_seconds")) }],
  speaking_policy: (f) => ["speaking_policy", { speaking_policy: f.get("speaking_policy") }],
  stage_lock: (f) => ["stage_lock", { locked: f.get("locked") === "1" }],
  noise_suppression: (f) => ["noise_suppression", { enabled: f.get("enabled") === "1" }],
  mute_all: () => ["mute_all", {}],
};

// --- Time, as static/js/time.js writes it (that module is the page's own; importing it here
// would load a second copy under another URL). It keeps the <time data-relative> up to date.
const UNITS = [
  ["year", 365 * 86400], ["month", 30 * 86400], ["week", 7 * 86400], ["day", 86400],
  ["hour", 3600], ["minute", 60], ["second", 1],
];
let relativeFormat = null;
function relativeText(when) {
  relativeFormat ||= new Intl.RelativeTimeFormat(document.documentElement.lang || "en", { numeric: "auto" });
  const seconds = (when.getTime() - Date.now()) / 1000;
  const size = Math.abs(seconds);
  const [unit, length] = UNITS.find(([, len], i) => size >= len || i === UNITS.length - 1);
  const count = Math.trunc(size / length) * (seconds < 0 ? -1 : 1);
  return relativeFormat.format(count === 0 ? 0 : count, unit);
}

/** A comment's text as DOM nodes: runs of text, mentions as links to the profile of the name
 * they say, http(s) links opened apart; nothing is parsed as HTML. */
export function partNodes(comment) {
  const parts = Array.isArray(comment.parts) && comment.parts.length
    ? comment.parts : [{ text: comment.text || "" }];
  return parts.map((part) => {
    const text = String(part?.text ?? "");
    if (part?.mention && text.startsWith("@") && text.length > 1) {
      const a = document.createElement("a");
      a.className = "mention";
      a.href = `/u/${encodeURIComponent(text.slice(1))}/`;
      a.textContent = text;
      return a;
    }
    if (typeof part?.url === "string") {
      let url = null;
      try {
        url = new URL(part.url);
      } catch {
        url = null;
      }
      if (url && (url.protocol === "http:" || url.protocol === "https:")) {
        const a = document.createElement("a");
        a.className = "comment-link";
        a.href = url.href;
        a.rel = "noopener nofollow ugc";
        a.target = "_blank";
        a.textContent = text;
        return a;
      }
    }
    return document.createTextNode(text);
  });
}

export class CommentsPanel {
  constructor(page, client) {
    this.page = page;
    this.client = client;
    this.list = document.getElementById("comment-list");
    this.form = document.getElementById("comment-form");
    this.input = document.getElementById("comment-text");
    this.send = this.form?.querySelector(".comment-send");
    this.pill = document.getElementById("new-comments");
    this.drawn = new Map(); // id → {li, comment}
    this.unseen = 0;
    this.sending = false;
    this.waitUntil = 0;
    this.waitTimer = null;
    this.flooded = false;
    this.controls = new LiveControls(page);
    if (!this.list || !this.form) return;
    const byId = new Map((page.state.comments || []).map((c) => [c.id, c]));
    for (const li of this.list.querySelectorAll("li[data-comment-id]")) {
      const id = Number(li.dataset.commentId);
      const comment = byId.get(id);
      if (comment) this.drawn.set(id, { li, comment });
      else li.remove(); // drawn by the server, not in its snapshot: cannot be kept up to date
    }
    this.input.addEventListener("input", () => {
      this.paintCount();
      if (this.input.value) this.error("");
    });
    // Enter sends (the form's own submit); with the button held it would do nothing at all:
    // say why instead.
    this.input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.isComposing || !this.send?.disabled) return;
      event.preventDefault();
      if (this.waitUntil > Date.now()) {
        this.error(interpolate(gettext("Slow mode: you can comment again in %(seconds)s s."), { seconds: Math.ceil((this.waitUntil - Date.now()) / 1000) }));
      }
    });
    // Whether the reader is at the latest comment: kept there when new ones come and when the
    // list changes size (a phone turned, the window resized), else left where they read.
    this.stuck = true;
    this.list.addEventListener("scroll", () => {
      this.stuck = this.atBottom();
      if (this.stuck) this.seen();
    }, { passive: true });
    new ResizeObserver(() => {
      if (this.stuck) this.toBottom(false);
    }).observe(this.list);
    this.pill?.addEventListener("click", () => {
      this.toBottom(true);
      this.seen();
      this.input?.focus({ preventScroll: true });
    });
    this.toBottom(false);
    this.paintCount();
  }

  // --- the list ------------------------------------------------------------------------------

  /** After each redraw of the page: the comments the state holds, the composer, the controls. */
  render(state) {
    this.controls.render(state);
    if (!this.list) return;
    this.sync(state.comments || []);
    this.refreshActions();
    this.paintComposer();
  }

  /** Draw the state's comments not drawn yet, in order (a snapshot brings those missed while
   * the socket was away). */
  sync(comments) {
    for (const c of comments) if (c && !this.drawn.has(c.id)) this.added(c);
  }

  /** A fresh snapshot from the server (the latest comments): what is drawn and within its
   * window but not in it was deleted meanwhile; with fewer than a snapshot holds, it has them
   * all. Called before the snapshot is drawn. */
  prune(comments) {
    const shown = (comments || []).filter((c) => c && !c.hidden && c.author);
    const ids = new Set(shown.map((c) => c.id));
    const complete = shown.length < SNAPSHOT_COMMENTS;
    const oldest = shown.length ? Math.min(...shown.map((c) => c.id)) : Infinity;
    for (const id of [...this.drawn.keys()]) {
      if (!ids.has(id) && (complete || id >= oldest)) this.removed(id);
    }
  }

  /** A new comment (`comment.added`, or one a snapshot brought). */
  added(comment) {
    if (!this.list || !comment || comment.hidden || !comment.author || this.drawn.has(comment.id)) return;
    const mine = comment.author.id === this.page.viewerId;
    const stick = mine || this.stuck || this.atBottom();
    const li = this.build(comment);
    this.drawn.set(comment.id, { li, comment });
    const after = [...this.drawn.keys()].filter((id) => id > comment.id).sort((a, b) => a - b)[0];
    this.list.insertBefore(li, after ? this.drawn.get(after).li : null);
    while (this.drawn.size > MAX_DRAWN) {
      const first = Math.min(...this.drawn.keys());
      const old = this.drawn.get(first).li;
      const height = old.offsetHeight;
      old.remove();
      this.drawn.delete(first);
      if (!stick) this.list.scrollTop -= height; // the reader's place stays put
    }
    this.paintEmpty();
    if (stick) {
      this.toBottom(false);
      this.seen();
    } else {
      this.unseen += 1;
      this.paintPill();
    }
  }

  removed(id) {
    const held = this.drawn.get(Number(id));
    if (!held) return;
    if (held.li.contains(document.activeElement)) this.input?.focus({ preventScroll: true });
    held.li.remove();
    this.drawn.delete(Number(id));
    this.paintEmpty();
  }

  /** What the viewer may do with `comment`, by the rules of spaces.views.room.CommentRow:
   * delete their own (while in the Space) or, as host or co-host, anyone's; report others';
   * invite its author to speak when their seat (or a listener's, for one the snapshot did not
   * list) offers it. */
  actions(comment) {
    const { page } = this;
    const can = page.can;
    const mine = comment.author.id === page.viewerId;
    const acts = [];
    if (can.moderate || (mine && page.me)) acts.push("delete");
    if (!mine) {
      const state = page.state;
      const seat = [...state.stage, ...state.listeners_sample].find((p) => p.user.id === comment.author.id)
        || { user: comment.author, role: "listener", state: "present" };
      if (page.seatActions(seat).has("invite")) acts.push("invite");
      if (can.report) acts.push("report");
    }
    return acts.join(" ");
  }

  /** Rows whose actions changed (the viewer became a co-host, the author went on stage) are
   * drawn again. */
  refreshActions() {
    for (const [id, held] of this.drawn) {
      if (held.li.dataset.acts === this.actions(held.comment)) continue;
      const li = this.build(held.comment);
      held.li.replaceWith(li);
      this.drawn.set(id, { li, comment: held.comment });
    }
  }

  build(c) {
    const { page } = this;
    const li = fromTemplate("comment-template");
    const mine = c.author.id === page.viewerId;
    const acts = this.actions(c);
    li.dataset.commentId = c.id;
    li.dataset.authorId = c.author.id;
    li.dataset.acts = acts;
    li.classList.toggle("is-mine", mine);
    const profile = profileUrl(c.author);
    li.querySelector('[data-slot="avatar-link"]').href = profile;
    fillAvatar(li.querySelector(".avatar"), c.author, "sm");
    const author = li.querySelector('[data-slot="author"]');
    author.href = profile;
    author.textContent = c.author.name;
    fillSlot(li, "handle", `@${c.author.username}`);
    const time = li.querySelector('[data-slot="time"]');
    const when = new Date(c.created_at);
    if (Number.isNaN(when.getTime())) {
      time.remove();
    } else {
      time.setAttribute("datetime", c.created_at);
      time.title = when.toLocaleString();
      time.textContent = relativeText(when);
    }
    li.querySelector('[data-slot="text"]').replaceChildren(...partNodes(c));
    const menu = li.querySelector("details.comment-menu");
    const has = new Set(acts.split(" ").filter(Boolean));
    if (!has.size) {
      menu.remove();
      return li;
    }
    menu.id = `comment-menu-${c.id}`;
    fillSlot(menu, "menu-label", interpolate(gettext("Options for the comment by %(name)s"), { name: c.author.name }));
    const invite = menu.querySelector('form[data-action="comment_invite"]');
    if (has.has("invite")) {
      invite.action = `${page.base}invite/`;
      invite.querySelector('input[name="user_id"]').value = c.author.id;
      fillSlot(invite, "invite-name", ` ${c.author.name}`);
    } else {
      invite.remove();
    }
    const report = menu.querySelector("a[data-report-comment]");
    if (has.has("report")) {
      report.href = `?report_comment=${c.id}#report`;
      report.dataset.reportComment = c.id;
    } else {
      report.remove();
    }
    const del = menu.querySelector('form[data-action="comment_delete"]');
    if (has.has("delete")) {
      del.action = `${page.base}comments/${c.id}/delete/`;
      del.dataset.commentId = c.id;
      fillSlot(del, "delete", mine ? gettext("Delete your comment") : gettext("Delete comment"));
    } else {
      del.remove();
    }
    return li;
  }

  comment(id) {
    return this.drawn.get(Number(id))?.comment || null;
  }

  atBottom() {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < AT_BOTTOM_PX;
  }

  toBottom(smooth) {
    if (!this.list) return;
    this.stuck = true;
    const behavior = smooth && !matchMedia("(prefers-reduced-motion: reduce)").matches ? "smooth" : "auto";
    this.list.scrollTo({ top: this.list.scrollHeight, behavior });
  }

  seen() {
    this.unseen = 0;
    this.paintPill();
  }

  paintPill() {
    if (!this.pill) return;
    this.pill.hidden = this.unseen === 0;
    this.pill.textContent = interpolate(ngettext("%(n)s new comment", "%(n)s new comments", this.unseen), { n: this.unseen });
  }

  paintEmpty() {
    const empty = document.getElementById("comments-empty");
    if (empty) empty.hidden = this.drawn.size > 0;
  }

  // --- the composer --------------------------------------------------------------------------

  /** Why the viewer cannot comment now, or "" when they can. */
  reason() {
    const { page } = this;
    if (page.can.comment) return "";
    if (!page.space.comments_enabled) return gettext("The host turned comments off.");
    if (page.state.guest) return gettext("Sign in to comment.");
    if (!page.present) return gettext("Join the Space to comment.");
    return gettext("Comments are closed.");
  }

  paintComposer() {
    const { space } = this.page;
    const reason = this.reason();
    this.input.disabled = !!reason;
    this.input.required = !reason;
    const closed = this.page.state.guest ? gettext("Sign in to comment") : gettext("Comments are closed");
    this.input.placeholder = reason ? closed : gettext("Add a comment…");
    if (reason) this.error("");
    const slow = space.comment_slow_mode_seconds;
    // Slow mode turned off: nothing to wait for any more.
    if (!slow && this.waitTimer && !this.flooded) this.waitEnd();
    const note = reason || (slow ? interpolate(gettext("Slow mode: one comment every %(wait)s."), { wait: slowLabel(slow) }) : "");
    const el = document.getElementById("comment-note");
    if (el && el.textContent !== note) el.textContent = note;
    const chip = document.getElementById("comments-mode");
    if (chip) {
      const text = !space.comments_enabled ? gettext("Comments off") : slow ? interpolate(gettext("Slow mode · %(wait)s"), { wait: slowLabel(slow) }) : "";
      chip.hidden = !text;
      if (chip.textContent !== text) chip.textContent = text;
    }
    this.paintSend();
  }

  paintSend() {
    if (!this.send) return;
    const waiting = this.waitUntil > Date.now();
    this.send.disabled = !!this.reason() || this.sending || waiting;
  }

  paintCount() {
    const out = document.getElementById("comment-count");
    if (!out || !this.input) return;
    const n = this.input.value.length;
    out.textContent = n ? `${n}/${MAX_LENGTH}` : "";
    out.classList.toggle("is-low", MAX_LENGTH - n <= LOW_FROM);
  }

  error(message) {
    const el = document.getElementById("comment-error");
    if (el && el.textContent !== message) el.textContent = message;
  }

  /** Hold the send button for `seconds`, counting down beside it (`flooded`: for the flood
   * limit, which slow mode turned off does not end). */
  wait(seconds, { flooded = false } = {}) {
    clearInterval(this.waitTimer);
    this.waitUntil = Date.now() + seconds * 1000;
    this.flooded = flooded;
    const out = document.getElementById("comment-wait");
    const tick = () => {
      const left = Math.ceil((this.waitUntil - Date.now()) / 1000);
      if (left <= 0) {
        this.waitEnd();
        return;
      }
      if (out) {
        out.hidden = false;
        out.textContent = `${left} s`;
      }
    };
    tick();
    this.waitTimer = setInterval(tick, 250);
    this.paintSend();
  }

  waitEnd() {
    clearInterval(this.waitTimer);
    this.waitTimer = null;
    this.waitUntil = 0;
    this.flooded = false;
    const out = document.getElementById("comment-wait");
    if (out) out.hidden = true;
    if (/^Slow mode|^You’re commenting fast/.test(document.getElementById("comment-error")?.textContent || "")) {
      this.error("");
    }
    this.paintSend();
  }

  async post(form) {
    if (this.sending) return; // a second Enter or click while the first is on its way
    const text = this.input.value;
    if (!text.trim()) {
      this.error(gettext("Write something first."));
      this.input.focus();
      return;
    }
    if (this.waitUntil > Date.now()) {
      this.error(interpolate(gettext("Slow mode: you can comment again in %(seconds)s s."), { seconds: Math.ceil((this.waitUntil - Date.now()) / 1000) }));
      return;
    }
    this.sending = true;
    this.paintSend();
    this.error("");
    try {
      if (this.client.connected) {
        await this.client.act("comment", { text });
      } else {
        // The socket is reconnecting: the same form as a POST.
        const answer = await postJSON(form.action, new FormData(form), this.page.csrf);
        if (!answer.ok) throw answer.error;
        if (answer.state) this.page.snapshot(answer.state);
      }
      if (this.input.value === text) this.input.value = "";
      this.paintCount();
      this.toBottom(false);
      const slow = this.page.space.comment_slow_mode_seconds;
      if (slow) this.wait(slow);
    } catch (error) {
      this.refused(error || {});
    } finally {
      this.sending = false;
      this.paintSend();
    }
  }

  refused(error) {
    const retry = Math.max(1, Math.ceil(Number(error.retry_after) || 0));
    switch (error.code) {
      case "slow_mode":
        this.wait(retry);
        this.error(interpolate(gettext("Slow mode: you can comment again in %(seconds)s s."), { seconds: retry }));
        break;
      case "rate_limited":
        this.wait(retry, { flooded: true });
        this.error(gettext("You’re commenting fast. Take a breath and try again in a moment."));
        break;
      case "html_not_allowed":
        this.error(gettext("Comments are plain text: remove the HTML tags, like <b>."));
        break;
      case "comments_off":
        this.error(gettext("The host turned comments off."));
        break;
      case "invalid_text":
        this.error(gettext("Remove the control characters from your comment."));
        break;
      default:
        this.error(error.message || gettext("Your comment wasn’t sent. Try again."));
    }
    this.input.focus();
  }

  // --- forms ---------------------------------------------------------------------------------

  owns(form) {
    return form.dataset.action === "comment" || form.dataset.action in ACTIONS;
  }

  async submit(form, submitter) {
    if (form.dataset.action === "comment") {
      await this.post(form);
      return;
    }
    const data = new FormData(form, submitter);
    const [action, args] = ACTIONS[form.dataset.action](data, form);
    const buttons = [...form.querySelectorAll("button")];
    if (form.dataset.sending) return;
    form.dataset.sending = "1";
    buttons.forEach((b) => { b.disabled = true; });
    const details = form.closest("details");
    try {
      if (this.client.connected) {
        const ack = await this.client.act(action, args);
        toast(this.said(form, ack, args));
      } else {
        const answer = await postJSON(form.action, data, this.page.csrf);
        if (!answer.ok) throw answer.error;
        toast(answer.message);
        if (answer.state) this.page.snapshot(answer.state);
      }
      if (details) details.open = false;
    } catch (error) {
      toast(error?.message || gettext("Something went wrong. Try again."), "error");
    } finally {
      delete form.dataset.sending;
      buttons.forEach((b) => { if (b.isConnected) b.disabled = false; });
    }
  }

  /** What a socket action's ack means, said as the page's forms say it. */
  said(form, ack, args) {
    switch (form.dataset.action) {
      case "comments_toggle":
        return ack.comments_enabled ? gettext("Comments are on.") : gettext("Comments are off.");
      case "slow_mode":
        return ack.slow_mode_seconds
          ? interpolate(gettext("Slow mode: one comment every %(wait)s."), { wait: slowLabel(ack.slow_mode_seconds) }) : gettext("Slow mode is off.");
      case "speaking_policy":
        return interpolate(gettext("Who can ask to speak: %(policy)s."), { policy: POLICY_LABEL[ack.speaking_policy] || ack.speaking_policy });
      case "stage_lock":
        return ack.locked ? gettext("The stage is locked: no new requests to speak.") : gettext("The stage is open to requests again.");
      case "noise_suppression":
        return ack.noise_suppression ? gettext("Noise suppression is on for everyone on stage.") : gettext("Noise suppression is off.");
      case "mute_all": {
        const n = (ack.muted || []).length;
        if (!n) return gettext("Nobody else on stage had their mic on.");
        return interpolate(ngettext("You muted %(n)s person on stage.", "You muted %(n)s people on stage.", n), { n });
      }
      case "comment_invite": {
        const who = [...this.drawn.values()].find((h) => h.comment.author.id === args.user_id);
        return (who ? interpolate(gettext("You invited %(name)s to speak."), { name: who.comment.author.name }) : gettext("You invited them to speak."));
      }
      case "comment_delete":
        return gettext("The comment is deleted.");
      default:
        return "";
    }
  }

  // --- reporting a comment -------------------------------------------------------------------

  /** "Report comment": the page's report form, about that comment (its author is who is
   * reported; the "Who or what" choice steps aside). */
  report(id) {
    const comment = this.comment(id);
    const box = document.getElementById("report");
    const about = document.getElementById("report-comment");
    const field = document.getElementById("report-comment-id");
    if (!comment || !box || !about || !field) return false;
    field.value = comment.id;
    fillSlot(about, "author", comment.author.name);
    const text = comment.text || "";
    fillSlot(about, "text", text.length > 90 ? `${text.slice(0, 89)}…` : text);
    about.hidden = false;
    this.targetChoice(false);
    box.hidden = false;
    box.open = true;
    box.scrollIntoView({ behavior: "smooth", block: "center" });
    box.querySelector('select[name="reason"]')?.focus({ preventScroll: true });
    return true;
  }

  /** Back to reporting the Space or a person (after sending, or "Report something else"). */
  reportClear() {
    const about = document.getElementById("report-comment");
    const field = document.getElementById("report-comment-id");
    if (field) field.value = "";
    if (about) about.hidden = true;
    this.targetChoice(true);
  }

  targetChoice(shown) {
    const field = document.getElementById("report-target-field");
    const select = document.getElementById("report-target");
    if (field) field.hidden = !shown;
    if (select) select.disabled = !shown;
  }
}

/** The host's and co-hosts' live controls, and what everyone sees of them: the policy in the
 * header and the About card, the locked-stage note. */
export class LiveControls {
  constructor(page) {
    this.page = page;
  }

  render(state) {
    const { space } = state;
    const policy = POLICY_HEADER[space.speaking_policy];
    const text = (id, value) => {
      const el = document.getElementById(id);
      if (el && value && el.textContent !== value) el.textContent = value;
    };
    text("speaking-policy", policy);
    text("about-speaking", POLICY_LABEL[space.speaking_policy]);
    const note = document.getElementById("stage-lock-note");
    if (note) note.hidden = !space.stage_locked;
    this.paintCard(state);
  }

  paintCard(state) {
    const box = document.getElementById("live-controls");
    if (!box) return;
    if (!this.page.can.moderate) {
      if (box.firstElementChild) box.replaceChildren();
      return;
    }
    if (!box.querySelector(".live-controls")) {
      const card = fromTemplate("live-controls-template");
      for (const form of card.querySelectorAll("form[data-path]")) {
        form.action = this.page.base + form.dataset.path;
      }
      box.replaceChildren(card);
    }
    const { space } = state;
    const slot = (name) => box.querySelector(`[data-slot="${name}"]`);
    const on = !!space.comments_enabled;
    slot("comments-enabled").value = on ? "0" : "1";
    slot("comments-switch").setAttribute("aria-checked", String(on));
    const said = on ? gettext("On for everyone in the Space") : gettext("Off: nobody can comment");
    if (slot("comments-state").textContent !== said) slot("comments-state").textContent = said;
    const locked = !!space.stage_locked;
    slot("stage-locked").value = locked ? "0" : "1";
    slot("lock-switch").setAttribute("aria-checked", String(locked));
    const quiet = !!space.noise_suppression;
    slot("noise-enabled").value = quiet ? "0" : "1";
    slot("noise-switch").setAttribute("aria-checked", String(quiet));
    const slow = slot("slow-mode");
    const seconds = String(space.comment_slow_mode_seconds || 0);
    if (![...slow.options].some((o) => o.value === seconds)) {
      const option = new Option(slowLabel(Number(seconds)), seconds);
      const after = [...slow.options].find((o) => Number(o.value) > Number(seconds));
      slow.add(option, after || null);
    }
    follow(slow, seconds);
    follow(slot("speaking-policy"), space.speaking_policy);
  }
}

/** Show the room's `value` in `select` when the room changes it; a choice being made there
 * (picked, not yet set) is left alone until then. */
function follow(select, value) {
  if (select.dataset.room === value) return;
  select.dataset.room = value;
  select.value = value;
}
