// The Space's audio: one RTCPeerConnection to the media worker, signalled over the room socket
// (docs/realtime.md, "WebRTC signaling"). The page tells it what the server says about the
// viewer (`sync(state)` after every snapshot or event); it never decides a role by itself.
//
//   - The client always offers, the server answers. Before the first offer it asks the socket
//     for ICE servers (TURN when configured, never a public STUN), and it waits for ICE
//     gathering to finish: the server takes no trickled candidates.
//   - One audio transceiver, `sendrecv` from the start. A listener sends no track, so going on
//     stage is only `replaceTrack(microphone)`: the microphone is asked for at that moment and
//     no earlier, and no renegotiation is needed. Back in the audience the track is stopped.
//   - Mute is the server's: `track.enabled` follows `me.is_muted` from the server (a host mute
//     silences it too); pressing "Mic off" also disables it at once, before the ack.
//   - The mix plays through an <audio> element. The Join click is a user gesture, so play()
//     normally works; when the browser refuses it, a "Tap to turn on sound" button appears.
//   - A server `bye`, a peer connection that fails (or stays disconnected), or a socket that
//     reconnected: offer again once the snapshot is in. A new offer replaces the old connection
//     on the server. Leaving or the end closes the connection and says `bye`.

import { STAGE } from "./lib.js";

const GATHER_TIMEOUT_MS = 5000;
const DISCONNECTED_GRACE_MS = 4000;
const RETRY_MS = [1000, 2000, 4000, 8000, 15000];
// Errors after which offering again cannot help until something changes. `media_unavailable`
// is not one: with separate media workers it lasts until a dead worker's registration expires
// and the Space is placed on another (README, "The distributed shape"), so it is retried.
const GIVE_UP = new Set(["not_in_space", "space_ended", "space_not_found"]);

export class RoomAudio {
  /**
   * client: the RoomClient (act(), onSignal, opens); ui: {player: <audio>, unlock: <button>,
   * onError(message), onStatus(text)}.
   */
  constructor(client, ui) {
    this.client = client;
    this.ui = ui;
    this.pc = null;
    this.sender = null;
    this.mic = null;
    this.micWanted = false;
    this.micPending = null;
    this.mutedByServer = true;
    this.localMute = false;
    this.wanted = false;
    this.generation = 0;
    this.negotiating = false;
    this.answer = null;
    this.opensSeen = -1;
    this.retries = 0;
    this.retryTimer = null;
    this.graceTimer = null;
    this.unavailable = false;
    client.onSignal = (message) => this.signal(message);
    ui.unlock?.addEventListener("click", () => this.play(true));
  }

  // --- what the server says ------------------------------------------------------------------

  /** Follow the viewer's standing in `state` (a `space.state`-shaped object). */
  sync(state) {
    const me = state && state.me;
    const live = state && state.space && state.space.state === "live";
    if (!live || !me || me.state !== "present") {
      this.stop();
      return;
    }
    this.wanted = true;
    this.micWanted = STAGE.includes(me.role);
    this.mutedByServer = !!me.is_muted;
    if (!this.mutedByServer) this.localMute = false;
    this.applyMute();
    this.syncMic();
    // A socket that opened again since our offer: the server may have lost track of us.
    const opens = this.client.opens || 0;
    if (this.pc && opens !== this.opensSeen && !this.negotiating) {
      this.renegotiate("the room socket reconnected");
    } else if (!this.pc && !this.negotiating && !this.retryTimer && !this.unavailable) {
      this.negotiate();
    }
  }

  /** Instant local feedback for "Mic off"; the server's answer confirms it. */
  muteNow() {
    this.localMute = true;
    this.applyMute();
  }

  applyMute() {
    if (this.mic) this.mic.enabled = !(this.mutedByServer || this.localMute);
  }

  // --- the microphone ------------------------------------------------------------------------

  async syncMic() {
    if (this.micWanted && !this.mic && !this.micPending) {
      this.micPending = this.openMic();
      try {
        await this.micPending;
      } finally {
        this.micPending = null;
      }
    } else if (!this.micWanted && this.mic) {
      const track = this.mic;
      this.mic = null;
      track.stop();
      await this.sender?.replaceTrack(null).catch(() => {});
    }
  }

  async openMic() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (error) {
      const denied = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
      this.ui.onError?.(denied
        ? "Microphone access was refused. Allow it in your browser’s site settings to be heard."
        : "No microphone was found, so the room can’t hear you.");
      return;
    }
    const track = stream.getAudioTracks()[0];
    if (!this.micWanted || !this.wanted || !track) {
      // Sent back to the audience (or left) while the browser was asking.
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    this.mic = track;
    this.applyMute();
    if (this.sender) await this.sender.replaceTrack(track).catch(() => this.renegotiate("replaceTrack failed"));
  }

  // --- signaling -----------------------------------------------------------------------------

  signal(message) {
    if (message.kind === "answer" && this.negotiating) {
      this.answer = message.sdp;
    } else if (message.kind === "bye" && this.pc) {
      // The worker dropped this connection (failed, timed out): start a new one.
      this.renegotiate(`server said bye (${message.reason || "no reason"})`);
    }
  }

  async negotiate() {
    if (!this.wanted || this.negotiating || !this.client.connected) return;
    if (typeof RTCPeerConnection === "undefined") {
      this.unavailable = true;
      this.ui.onStatus?.("This browser can’t play live audio. Captions and the room still work.");
      return;
    }
    this.negotiating = true;
    const generation = ++this.generation;
    this.opensSeen = this.client.opens || 0;
    const current = () => generation === this.generation && this.wanted;
    let pc = null;
    try {
      const ice = await this.client.act("signal", { kind: "ice", candidate: null });
      if (!current()) return;
      pc = new RTCPeerConnection({ iceServers: ice.ice_servers || [] });
      this.pc = pc;
      const transceiver = pc.addTransceiver("audio", { direction: "sendrecv" });
      this.sender = transceiver.sender;
      if (this.micPending) await this.micPending;
      if (this.mic) await this.sender.replaceTrack(this.mic);
      pc.addEventListener("track", (event) => this.attach(event.track));
      pc.addEventListener("connectionstatechange", () => this.watch(pc));
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      if (!current()) return;
      this.answer = null;
      await this.client.act("signal", { kind: "offer", sdp: pc.localDescription.sdp });
      if (!current()) return;
      // The server sends its answer just before the ack, on the same socket.
      const sdp = this.answer;
      this.answer = null;
      if (!sdp) throw { code: "no_answer", message: "The server acknowledged the offer without an answer." };
      await pc.setRemoteDescription({ type: "answer", sdp });
      this.retries = 0;
      this.ui.onStatus?.("");
    } catch (error) {
      this.answer = null;
      if (pc && this.pc === pc) this.closePc();
      if (!current()) return;
      const code = error && error.code;
      if (GIVE_UP.has(code)) {
        this.unavailable = true;
        return;
      }
      this.scheduleRetry();
      if (code === "media_unavailable") this.ui.onStatus?.("Audio isn’t available right now; trying again…");
    } finally {
      if (generation === this.generation) this.negotiating = false;
    }
  }

  scheduleRetry() {
    if (this.retryTimer || !this.wanted) return;
    const delay = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)];
    this.retries += 1;
    this.ui.onStatus?.("Reconnecting audio…");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.negotiate();
    }, delay);
  }

  renegotiate(why) {
    if (!this.wanted) return;
    console.info(`Spaces audio: offering again: ${why}`);
    this.closePc();
    this.generation += 1; // abandon an offer in flight
    this.negotiating = false;
    if (this.client.connected) this.negotiate();
    else this.scheduleRetry();
  }

  watch(pc) {
    if (pc !== this.pc) return;
    clearTimeout(this.graceTimer);
    this.graceTimer = null;
    const state = pc.connectionState;
    if (state === "failed") {
      this.renegotiate("the connection failed");
    } else if (state === "disconnected") {
      // Often a blip that ICE recovers from by itself; give it a moment.
      this.graceTimer = setTimeout(() => {
        if (pc === this.pc && pc.connectionState === "disconnected") this.renegotiate("the connection stayed disconnected");
      }, DISCONNECTED_GRACE_MS);
    }
  }

  // --- playback ------------------------------------------------------------------------------

  attach(track) {
    const player = this.ui.player;
    if (!player) return;
    player.srcObject = new MediaStream([track]);
    this.play(false);
  }

  async play(fromTap) {
    const player = this.ui.player;
    if (!player || !player.srcObject) return;
    try {
      await player.play();
      if (this.ui.unlock) this.ui.unlock.hidden = true;
    } catch (error) {
      // Autoplay refused (no user gesture yet): ask for one.
      if (error && error.name === "NotAllowedError" && this.ui.unlock) {
        this.ui.unlock.hidden = false;
        if (fromTap) this.ui.onError?.("Your browser blocked the sound. Try the button again.");
      }
    }
  }

  // --- the end -------------------------------------------------------------------------------

  closePc() {
    clearTimeout(this.graceTimer);
    this.graceTimer = null;
    const pc = this.pc;
    this.pc = null;
    this.sender = null;
    if (pc) pc.close();
    if (this.ui.player) this.ui.player.srcObject = null;
  }

  /** Leave the audio: close the connection, stop the microphone, tell the server. */
  stop() {
    if (!this.wanted && !this.pc && !this.mic) return;
    const hadPc = !!this.pc;
    this.wanted = false;
    this.micWanted = false;
    this.generation += 1;
    this.negotiating = false;
    this.answer = null;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.unavailable = false; // a later join starts afresh
    this.closePc();
    if (this.mic) {
      this.mic.stop();
      this.mic = null;
    }
    if (this.ui.unlock) this.ui.unlock.hidden = true;
    this.ui.onStatus?.("");
    if (hadPc && this.client.connected) this.client.act("signal", { kind: "bye" }).catch(() => {});
  }
}

/** Resolve when ICE gathering is complete (or after a while: send what we have). */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}
