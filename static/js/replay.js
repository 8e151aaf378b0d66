// The replay and clip pages (templates/replays/): the player, and everything on the page that
// points at a moment in it.
//
// A replay is HLS (fMP4 segments of Opus). Safari plays the playlist itself (the <source> the
// page renders); other browsers get it through hls.js over Media Source Extensions, when
// `make node-tools` copied it to static/vendor/ (the page then loads it before this module);
// static/js/hls-player.js attaches either. Neither: the page says so plainly.
//
// Every element with `data-seek` (seconds) seeks the player when clicked: transcript lines,
// chapters and comments' times; so does a click along the reactions track. The line, chapter
// and latest comment being heard are marked as the time moves.

import { attachHls } from "./hls-player.js";
import { fillSlot, fromTemplate, postJSON, toast, wireCopyButtons } from "./lib.js";
import { gettext, interpolate } from "./i18n.js";

const LIVE_CLIP_SECONDS = 30;

function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function say(note, text) {
  if (!note) return;
  note.textContent = text;
  note.hidden = !text;
}

/** Feed `audio` the replay's playlist: the browser's own player first (it needs no script),
 * else hls.js. Returns how ("native", "hls.js") or null. */
function startPlayer(audio, playlist, note) {
  const broken = () => say(note, gettext("The replay could not be loaded. Reload the page to try again."));
  const player = attachHls(audio, playlist, { prefer: "native", onFatal: broken });
  if (!player) {
    say(note, gettext("This browser can’t play the replay here. Try a current version of Safari, Chrome, Edge or Firefox; the transcript is below."));
    return null;
  }
  return player.how;
}

/** Clicks on [data-seek] seek; the line, chapter and timeline follow the time. */
function wireMoments(root, audio) {
  root.addEventListener("click", (event) => {
    const target = event.target.closest && event.target.closest("[data-seek]");
    if (!target || !root.contains(target)) return;
    audio.currentTime = Number(target.dataset.seek) || 0;
    if (audio.paused) audio.play().catch(() => {});
  });
  const spans = (selector) => [...root.querySelectorAll(selector)].map((el) => ({
    el, start: Number(el.dataset.seek), end: Number(el.dataset.end),
  }));
  const lines = spans(".cue");
  const chapters = spans(".chapter");
  // A comment's row holds links, so only its time is a button; the row carries its span.
  const comments = [...root.querySelectorAll(".replay-comment")].map((el) => ({
    el, start: Number(el.dataset.at), end: Number(el.dataset.end),
  }));
  const cursor = document.getElementById("timeline-cursor");
  const marked = new Map();
  const mark = (group, list, t) => {
    const now = list.find((x) => x.start <= t && t < x.end) || null;
    const before = marked.get(group);
    if (before === now) return;
    marked.set(group, now);
    if (before) {
      before.el.classList.remove("is-current");
      before.el.removeAttribute("aria-current");
    }
    if (!now) return;
    now.el.classList.add("is-current");
    now.el.setAttribute("aria-current", "true");
    keepInView(now.el);
  };
  const follow = () => {
    const t = audio.currentTime;
    mark("line", lines, t);
    mark("chapter", chapters, t);
    mark("comment", comments, t);
    const duration = audio.duration || Number(root.dataset.duration) || 0;
    if (cursor && duration > 0) cursor.style.left = `${Math.min(100, (100 * t) / duration)}%`;
  };
  audio.addEventListener("timeupdate", follow);
  audio.addEventListener("seeked", follow);
  const track = document.getElementById("reaction-track");
  track?.addEventListener("click", (event) => {
    const box = track.getBoundingClientRect();
    const duration = audio.duration || Number(root.dataset.duration) || 0;
    if (!box.width || !duration) return;
    audio.currentTime = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * duration;
  });
}

/** Scroll a list (never the page) so that `el` shows. */
function keepInView(el) {
  const list = el.closest("ol, ul");
  if (!list || list.scrollHeight <= list.clientHeight) return;
  const top = el.offsetTop - list.offsetTop;
  if (top < list.scrollTop || top + el.offsetHeight > list.scrollTop + list.clientHeight) {
    list.scrollTo({ top: Math.max(0, top - list.clientHeight / 3), behavior: "smooth" });
  }
}

/** The replay's clip form: "Start here" takes the player's position, the range is said in
 * words, and the clip made is added to the list without leaving the page. */
function wireClipForm(form, audio, root) {
  const start = form.elements.start;
  const end = form.elements.end;
  const range = document.getElementById("clip-range");
  const here = document.getElementById("clip-here");
  const made = document.getElementById("clip-made");
  const max = Number(root.dataset.maxClip) || 60;
  const duration = () => audio.duration || Number(root.dataset.duration) || 0;
  const describe = () => {
    const a = Number(start.value);
    const b = Number(end.value);
    if (!range) return;
    range.textContent = Number.isFinite(a) && Number.isFinite(b) && b > a
      ? interpolate(gettext("From %(start)s to %(end)s (%(seconds)s s)."), { start: clock(a), end: clock(b), seconds: Math.round(b - a) })
      : "";
  };
  start.addEventListener("input", describe);
  end.addEventListener("input", describe);
  if (here) {
    here.hidden = false;
    here.addEventListener("click", () => {
      const a = Math.floor(audio.currentTime * 10) / 10;
      start.value = a;
      end.value = Math.min(Math.floor(duration() * 10) / 10, a + Math.min(LIVE_CLIP_SECONDS, max));
      describe();
    });
  }
  describe();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const answer = await postJSON(form.action, new FormData(form), root.dataset.csrf);
      if (!answer.ok) throw answer.error;
      addClip(answer.clip);
      toast(answer.message);
      if (made) {
        made.innerHTML = "";
        const link = document.createElement("a");
        link.href = answer.clip.url;
        link.textContent = gettext("Open your clip");
        made.append(`${answer.message} `, link);
      }
      form.elements.title.value = "";
    } catch (error) {
      toast(error?.message || gettext("Something went wrong. Try again."), "error");
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}

function addClip(clip) {
  const list = document.getElementById("clip-list");
  if (!list || !document.getElementById("clip-row-template")) return;
  if (list.querySelector(`a[href="${clip.url}"]`)) return;
  const row = fromTemplate("clip-row-template");
  row.querySelector('[data-slot="link"]').href = clip.url;
  fillSlot(row, "title", clip.title || interpolate(gettext("Clip at %(at)s"), { at: clock(clip.start_ms / 1000) }));
  fillSlot(row, "meta", `${clock(clip.duration_ms / 1000)} · by ${clip.author.name}`);
  list.prepend(row);
  const count = document.getElementById("clip-count");
  if (count) count.textContent = String(list.children.length);
  const empty = document.getElementById("clips-empty");
  if (empty) empty.hidden = true;
}

function startReplay(root) {
  const audio = document.getElementById("replay-audio");
  const note = document.getElementById("player-note");
  if (!audio) return;
  const how = startPlayer(audio, root.dataset.playlist, note);
  root.dataset.player = how || "none";
  wireMoments(root, audio);
  const form = document.getElementById("clip-form");
  if (form) wireClipForm(form, audio, root);
  // ?t=12.5 (from a clip's "Listen to the full replay"): start there.
  const t = Number(new URLSearchParams(window.location.search).get("t"));
  if (t > 0) {
    const seek = () => { audio.currentTime = t; };
    if (audio.readyState >= 1) seek();
    else audio.addEventListener("loadedmetadata", seek, { once: true });
  }
}

function startClip(root) {
  const audio = document.getElementById("clip-audio");
  if (audio) wireMoments(root, audio);
  wireCopyButtons(root);
}

const replayRoot = document.getElementById("replay-root");
if (replayRoot) startReplay(replayRoot);
const clipRoot = document.getElementById("clip-root");
if (clipRoot) startClip(clipRoot);
