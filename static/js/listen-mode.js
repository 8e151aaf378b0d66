// How the viewer hears a live Space, on the Space page (templates/spaces/_listen_mode.html):
// "Live" (real time, WebRTC) or "Delayed · 3 s" (live HLS, a few seconds behind, through a
// static server or CDN), and for a listener who may choose (`can.listen_mode`) the switch
// "Listen with a delay, use less data", sent as the socket's `listen_mode` action.
//
// The mode shown is the one audio.js plays (it follows the server's word), the delay what its
// player says it is playing against the clock, read once a second. Only the words "Live" and
// "Delayed" are a live region: a figure changing every second would be read out every second.

import { listenMode } from "./audio.js";
import { toast } from "./lib.js";
import { gettext } from "./i18n.js";

const TICK_MS = 1000;
const REFUSED = {
  webrtc_full: gettext("Real-time listening is full right now, so you’ll keep hearing the Space with a short delay. Try again in a little while."),
  not_listener: gettext("On stage you always hear the Space in real time."),
  hls_unavailable: gettext("Delayed listening isn’t available in this Space right now."),
};

export class ListenModeControl {
  /** page: the SpacePage (state, render); client: the RoomClient; audio: the RoomAudio. */
  constructor({ page, client, audio }) {
    this.page = page;
    this.client = client;
    this.audio = audio;
    this.row = document.getElementById("listen-row");
    this.pill = document.getElementById("listen-mode");
    this.label = document.getElementById("listen-mode-label");
    this.delay = document.getElementById("listen-delay");
    this.switchBox = document.getElementById("listen-switch");
    this.toggle = document.getElementById("listen-delay-toggle");
    this.note = document.getElementById("listen-note");
    this.shown = null;
    this.sending = false;
    this.timer = null;
    this.toggle?.addEventListener("change", () => this.choose(this.toggle.checked ? "hls" : "webrtc"));
  }

  /** After every render (null: the Space ended). */
  update(state) {
    if (!this.row) return;
    const mode = state ? listenMode(state) : null;
    // Where the Space has no delayed stream, everyone hears it live: nothing to tell apart.
    this.row.hidden = !mode || (mode === "webrtc" && !state.hls);
    if (this.row.hidden) {
      this.stopTicking();
      this.say("");
      this.shown = null;
      return;
    }
    if (mode !== this.shown) {
      this.shown = mode;
      this.pill.dataset.mode = mode;
      this.label.textContent = mode === "hls" ? gettext("Delayed") : gettext("Live");
      this.pill.title = mode === "hls"
        ? gettext("You hear the Space a few seconds late, over a connection that uses less data.")
        : gettext("You hear the Space in real time.");
      this.delay.textContent = "";
      this.say("");
      if (mode === "hls") this.startTicking();
      else this.stopTicking();
    }
    const can = !!(state.can || {}).listen_mode && state.me.role === "listener";
    this.switchBox.hidden = !can;
    if (!this.sending) this.toggle.checked = mode === "hls";
  }

  startTicking() {
    this.tick();
    if (!this.timer) this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stopTicking() {
    clearInterval(this.timer);
    this.timer = null;
  }

  tick() {
    const seconds = this.audio.delaySeconds();
    const text = seconds === null ? "" : ` · ${Math.max(1, Math.round(seconds))} s`;
    if (this.delay.textContent !== text) this.delay.textContent = text;
    this.pill.dataset.delay = seconds === null ? "" : seconds.toFixed(1);
  }

  say(text) {
    if (!this.note) return;
    this.note.textContent = text;
    this.note.hidden = !text;
  }

  async choose(mode) {
    if (this.sending) return;
    this.sending = true;
    this.toggle.disabled = true;
    this.say("");
    try {
      const ack = await this.client.act("listen_mode", { mode });
      // The room event and our fresh snapshot follow; the ack already says how we listen.
      const { state } = this.page;
      if (state.me && ack.participant) {
        this.page.render({
          ...state,
          listen_mode: ack.listen_mode,
          me: { ...state.me, ...ack.participant },
        });
      }
    } catch (error) {
      const message = REFUSED[error && error.code] || (error && error.message) || gettext("Something went wrong. Try again.");
      if (error && error.code in REFUSED) this.say(message);
      else toast(message, "error");
    } finally {
      this.sending = false;
      this.toggle.disabled = false;
      // Whatever happened, the switch shows how we listen now.
      this.toggle.checked = listenMode(this.page.state) === "hls";
    }
  }
}
