// The Space's audio: one RTCPeerConnection to the media worker, signalled over the room socket
// (docs/realtime.md, "WebRTC signaling"), or, for a listener the server says listens with a
// delay, the live HLS playlist (docs/realtime.md, "Live HLS"). The page tells it what the server
// says about the viewer (`sync(state)` after every snapshot or event); it never decides a role
// or a way of listening by itself.
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
//   - A server `bye` or `reoffer`, a peer connection that fails (or stays disconnected), no packet from the
//     server for STALL_MS (it sends one every 20 ms, silence too), a network change (`online`,
//     `navigator.connection` "change"), or a socket that reconnected: offer again from a new
//     peer connection (an ICE restart the way the server does it: it swaps the new connection in
//     without taking us out of the mix). The old one stays open until the new one connects.
//     Leaving or the end closes the connection and says `bye`.
//   - Live HLS (a listener with `listen_mode: "hls"` while the snapshot has `hls`): no peer
//     connection at all; the same <audio> plays the playlist (static/js/hls-player.js). The
//     server closes our WebRTC connection itself with `bye` (reason `hls`): then no new offer
//     until the server's next word says real time again. Brought on stage: WebRTC; back in the
//     audience: HLS again if the participant says so. One path at a time, never both sounding.
//   - hls.js is preferred to the browser's own HLS unless the browser can say what wall time
//     it plays (Safari's getStartDate): the delay shown and the catch-up need that, and
//     Chromium's own HLS has neither. A player that gives up is started again with backoff, at
//     most LIVE_MAX_RETRIES times in a row.

import { attachHls, loadHlsJs, playsHlsNatively } from "./hls-player.js";
import { STAGE } from "./lib.js";
import { gettext } from "./i18n.js";

const GATHER_TIMEOUT_MS = 5000;
const DISCONNECTED_GRACE_MS = 4000;
const STALL_MS = 1000;
const STALL_POLL_MS = 250;
const RETRY_MS = [1000, 2000, 4000, 8000, 15000];
const HELD_RESYNC_MS = 3000;
// Errors after which offering again cannot help until something changes. `media_unavailable`
// is not one: with separate media workers it lasts until a dead worker's registration expires
// and the Space is placed on another (README, "The distributed shape"), so it is retried.
const GIVE_UP = new Set(["not_in_space", "space_ended", "space_not_found"]);
// Live HLS for a listening room: start two 1 s segments behind the newest and drift back there
// by playing up to 10 % faster after a stall, rather than jumping; jump only when five behind.
const LIVE_HLS = {
  liveSyncDurationCount: 2,
  liveMaxLatencyDurationCount: 5,
  maxLiveSyncPlaybackRate: 1.1,
  backBufferLength: 10,
};
const LIVE_MAX_RETRIES = 8;

/** How the server says the viewer hears the Space: "webrtc", "hls", or null when not present
 * in a live Space. The stage is always real time. */
export function listenMode(state) {
  const me = state && state.me;
  if (!me || me.state !== "present" || !state.space || state.space.state !== "live") return null;
  if (STAGE.includes(me.role)) return "webrtc";
  return (state.listen_mode || me.listen_mode) === "hls" ? "hls" : "webrtc";
}

export class RoomAudio {
  /**
   * client: the RoomClient (act(), resync(), onSignal, opens); ui: {player: <audio>, unlock:
   * <button>, hlsScript: URL of hls.js or "", onError(message), onStatus(text)}.
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
    this.stallTimer = null;
    this.retiring = null; // the connection a restart replaces, open until the new one connects
    this.unavailable = false;
    // How the Space reaches this page now: "webrtc", "hls" or null (not listening).
    this.mode = null;
    // The server closed our connection for HLS: offer again only after its next snapshot.
    this.held = false;
    this.heldTimer = null;
    this.hlsUrl = null; // the playlist the server named last
    this.live = null; // the HLS player (hls-player.js) while mode is "hls"
    this.liveToken = 0;
    this.liveFailures = 0;
    this.liveTimer = null;
    this.liveLoading = false; // hls.js on its way
    this.liveBroken = false;
    // A guest (no account, `state.guest`) hears only live HLS, and only after pressing Listen.
    this.guestListening = false;
    client.onSignal = (message) => this.signal(message);
    // A new network (Wi-Fi to mobile, a new address): the old path may be gone long before ICE
    // says so. Restart at once rather than after seconds of silence.
    const moved = () => {
      if (this.pc && !this.negotiating) this.renegotiate("the network changed");
    };
    window.addEventListener("online", moved);
    navigator.connection?.addEventListener?.("change", moved);
    ui.unlock?.addEventListener("click", () => this.play(true));
    // Sound coming again: the player works, whatever failed before.
    ui.player?.addEventListener("playing", () => {
      if (this.mode !== "hls") return;
      this.liveFailures = 0;
      this.ui.onStatus?.("");
    });
  }

  // --- what the server says ------------------------------------------------------------------

  /** Follow the viewer's standing in `state` (a `space.state`-shaped object). */
  sync(state) {
    if (state && state.guest) {
      // Listen-only over HLS (docs/realtime.md, "Guests"): no peer connection, no microphone.
      if (!this.guestListening || !state.hls || !state.space || state.space.state !== "live") {
        this.stop();
        return;
      }
      this.wanted = true;
      this.listenDelayed(state.hls);
      return;
    }
    const mode = listenMode(state);
    if (!mode) {
      this.stop();
      return;
    }
    const me = state.me;
    this.wanted = true;
    this.micWanted = STAGE.includes(me.role);
    this.mutedByServer = !!me.is_muted;
    if (!this.mutedByServer) this.localMute = false;
    this.applyMute();
    this.syncMic();
    if (mode === "hls") {
      this.listenDelayed(state.hls);
      return;
    }
    this.listenLive();
    // A socket that opened again since our offer: the server may have lost track of us.
    const opens = this.client.opens || 0;
    if (this.pc && opens !== this.opensSeen && !this.negotiating) {
      this.renegotiate("the room socket reconnected");
    } else if (!this.pc && !this.negotiating && !this.retryTimer && !this.unavailable && !this.held) {
      this.negotiate();
    }
  }

  /** A `space.state` from the server: its word on how we listen is the latest there is. */
  snapshotArrived() {
    this.release();
  }

  release() {
    this.held = false;
    clearTimeout(this.heldTimer);
    this.heldTimer = null;
  }

  /** Wait for the server before offering again: it said we listen over HLS. If no event or
   * snapshot says so within a few seconds, ask for a snapshot. */
  hold() {
    this.held = true;
    clearTimeout(this.heldTimer);
    this.heldTimer = setTimeout(() => {
      this.heldTimer = null;
      if (this.held) this.client.resync();
    }, HELD_RESYNC_MS);
  }

  /** How many seconds behind the Space the delayed audio plays; null when real time or not
   * known yet (nothing played, or a player that cannot tell). */
  delaySeconds() {
    if (this.mode !== "hls" || !this.live) return null;
    const date = this.live.playingDate();
    if (!date) return null;
    return Math.max(0, (Date.now() - date.getTime()) / 1000);
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
        ? gettext("Microphone access was refused. Allow it in your browser’s site settings to be heard.")
        : gettext("No microphone was found, so the room can’t hear you."));
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
    } else if (message.kind === "bye" && message.reason === "hls") {
      // We listen over HLS now: the room event (or a snapshot) brings the playlist. An offer
      // in flight is abandoned; none is made until the server says real time again.
      if (this.mode === "hls") return;
      this.generation += 1;
      this.negotiating = false;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.closePc();
      this.hold();
    } else if (message.kind === "reoffer" && this.pc && !this.negotiating) {
      // The connection still works, but the worker would shape a new one better (its answer
      // said to send RED, and our uplink cannot carry it): make it before breaking this one.
      this.renegotiate(`the server asked for a new offer (${message.reason || "no reason"})`);
    } else if (message.kind === "bye" && this.pc) {
      // The worker dropped this connection (failed, timed out): start a new one.
      this.renegotiate(`server said bye (${message.reason || "no reason"})`);
    }
  }

  async negotiate() {
    if (!this.wanted || this.mode !== "webrtc" || this.held || this.negotiating || !this.client.connected) return;
    if (typeof RTCPeerConnection === "undefined") {
      this.unavailable = true;
      this.ui.onStatus?.(gettext("This browser can’t play live audio. Captions and the room still work."));
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
      if (!sdp) throw { code: "no_answer", message: gettext("The server acknowledged the offer without an answer.") };
      await pc.setRemoteDescription({ type: "answer", sdp });
      this.retries = 0;
      this.ui.onStatus?.("");
    } catch (error) {
      this.answer = null;
      if (pc && this.pc === pc) this.closePc();
      if (!current()) return;
      const code = error && error.code;
      if (code === "listen_mode_hls") {
        // The server has us on HLS and our view is behind: its snapshot says how to listen.
        this.hold();
        this.client.resync();
        return;
      }
      if (GIVE_UP.has(code)) {
        this.unavailable = true;
        return;
      }
      this.scheduleRetry();
      if (code === "media_unavailable") this.ui.onStatus?.(gettext("Audio isn’t available right now; trying again…"));
    } finally {
      if (generation === this.generation) this.negotiating = false;
    }
  }

  scheduleRetry() {
    if (this.retryTimer || !this.wanted || this.mode !== "webrtc") return;
    const delay = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)];
    this.retries += 1;
    this.ui.onStatus?.(gettext("Reconnecting audio…"));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.negotiate();
    }, delay);
  }

  renegotiate(why) {
    if (!this.wanted || this.mode !== "webrtc") return;
    console.info(`Spaces audio: offering again: ${why}`);
    this.retire();
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
    if (state === "connected") {
      this.dropRetired();
      this.watchStall(pc);
    } else if (state === "failed") {
      this.renegotiate("the connection failed");
    } else if (state === "disconnected") {
      // Often a blip that ICE recovers from by itself; give it a moment.
      this.graceTimer = setTimeout(() => {
        if (pc === this.pc && pc.connectionState === "disconnected") this.renegotiate("the connection stayed disconnected");
      }, DISCONNECTED_GRACE_MS);
    }
  }

  /** While connected, packets must keep coming: none for STALL_MS means the path broke. */
  watchStall(pc) {
    this.stopStallWatch();
    let last = -1;
    let since = Date.now();
    this.stallTimer = setInterval(async () => {
      const stats = await pc.getStats().catch(() => null);
      if (!stats || pc !== this.pc || pc.connectionState !== "connected") return;
      let received = 0;
      stats.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio") received += s.packetsReceived || 0;
      });
      if (received !== last) {
        last = received;
        since = Date.now();
      } else if (Date.now() - since >= STALL_MS) {
        this.renegotiate("no audio from the server");
      }
    }, STALL_POLL_MS);
  }

  stopStallWatch() {
    clearInterval(this.stallTimer);
    this.stallTimer = null;
  }

  /** Keep the current connection aside while a new one is offered (see renegotiate). */
  retire() {
    clearTimeout(this.graceTimer);
    this.graceTimer = null;
    this.stopStallWatch();
    if (this.pc) {
      this.dropRetired();
      this.retiring = this.pc;
    }
    this.pc = null;
    this.sender = null;
  }

  dropRetired() {
    const old = this.retiring;
    this.retiring = null;
    if (old) old.close();
  }

  // --- playback ------------------------------------------------------------------------------

  attach(track) {
    const player = this.ui.player;
    if (!player || this.mode !== "webrtc") return;
    player.srcObject = new MediaStream([track]);
    this.play(false);
  }

  async play(fromTap) {
    const player = this.ui.player;
    if (!player || !(player.srcObject || this.live)) return;
    try {
      await player.play();
      if (this.ui.unlock) this.ui.unlock.hidden = true;
    } catch (error) {
      // Autoplay refused (no user gesture yet): ask for one.
      if (error && error.name === "NotAllowedError" && this.ui.unlock) {
        this.ui.unlock.hidden = false;
        if (fromTap) this.ui.onError?.(gettext("Your browser blocked the sound. Try the button again."));
      }
    }
  }

  // --- the end -------------------------------------------------------------------------------

  closePc() {
    clearTimeout(this.graceTimer);
    this.graceTimer = null;
    this.stopStallWatch();
    this.dropRetired();
    const pc = this.pc;
    this.pc = null;
    this.sender = null;
    if (pc) pc.close();
    // Only when set: assigning srcObject, even null, reloads the element (and would cut HLS).
    if (this.ui.player && this.ui.player.srcObject) this.ui.player.srcObject = null;
  }

  // --- live HLS ------------------------------------------------------------------------------

  /** Real time: the HLS player goes, WebRTC comes (sync() offers). */
  listenLive() {
    if (this.mode === "webrtc") return;
    this.dropLive();
    this.mode = "webrtc";
    this.unavailable = false;
    this.retries = 0;
  }

  /** With a delay: the peer connection goes (the server closes its end itself, so no `bye`
   * from us), the playlist `hls` names plays. */
  listenDelayed(hls) {
    if (this.mode !== "hls") {
      this.mode = "hls";
      this.generation += 1; // abandon an offer in flight
      this.negotiating = false;
      this.answer = null;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.retries = 0;
      this.release();
      this.closePc();
      this.liveFailures = 0;
      this.liveBroken = false;
    }
    const url = (hls && hls.url) || null;
    if (!url) {
      // Live HLS went off (or the snapshot is older than it): nothing to play until it says.
      this.hlsUrl = null;
      this.stopLive();
      this.ui.onStatus?.(gettext("The delayed audio isn’t available right now."));
      return;
    }
    if (url === this.hlsUrl && (this.live || this.liveTimer || this.liveLoading || this.liveBroken)) return;
    if (url !== this.hlsUrl) {
      this.hlsUrl = url;
      this.liveFailures = 0;
      this.liveBroken = false;
    }
    this.startLive();
  }

  async startLive() {
    this.stopLive();
    const token = ++this.liveToken;
    const player = this.ui.player;
    if (!player) return;
    // Safari's own player tells the wall time it plays (getStartDate); elsewhere hls.js does.
    const prefer = typeof player.getStartDate === "function" && playsHlsNatively(player) ? "native" : "hls.js";
    if (prefer === "hls.js") {
      this.liveLoading = true;
      await loadHlsJs(this.ui.hlsScript);
      if (token !== this.liveToken || this.mode !== "hls") return;
      this.liveLoading = false;
    }
    if (player.srcObject) player.srcObject = null;
    const url = this.hlsUrl;
    const live = attachHls(player, url, {
      prefer,
      config: LIVE_HLS,
      onFatal: (detail) => {
        if (token === this.liveToken) this.liveFailed(detail);
      },
    });
    if (!live) {
      this.liveBroken = true;
      this.ui.onStatus?.(gettext("This browser can’t play the delayed audio. Listen in real time instead, or try a current browser."));
      return;
    }
    this.live = live;
    this.ui.onStatus?.("");
    this.play(false);
  }

  liveFailed(detail) {
    console.info(`Spaces audio: the delayed audio stopped (${detail.how}: ${detail.details || detail.type})`);
    this.stopLive();
    if (this.mode !== "hls" || !this.wanted) return;
    if (this.liveFailures >= LIVE_MAX_RETRIES) {
      this.liveBroken = true;
      this.ui.onStatus?.(gettext("The delayed audio keeps failing. Reload the page to try again."));
      return;
    }
    const delay = RETRY_MS[Math.min(this.liveFailures, RETRY_MS.length - 1)];
    this.liveFailures += 1;
    this.ui.onStatus?.(gettext("Reconnecting audio…"));
    this.liveTimer = setTimeout(() => {
      this.liveTimer = null;
      if (this.mode === "hls" && this.wanted && this.hlsUrl) this.startLive();
    }, delay);
  }

  /** Stop the HLS player (and a pending start or retry); the mode stays. */
  stopLive() {
    this.liveToken += 1;
    this.liveLoading = false;
    clearTimeout(this.liveTimer);
    this.liveTimer = null;
    const live = this.live;
    this.live = null;
    live?.destroy();
  }

  /** Leave HLS altogether. */
  dropLive() {
    this.stopLive();
    this.hlsUrl = null;
    this.liveFailures = 0;
    this.liveBroken = false;
  }

  /** Leave the audio: close the connection, stop the microphone, tell the server. */
  stop() {
    if (!this.wanted && !this.pc && !this.mic && !this.live) return;
    const hadPc = !!this.pc;
    this.wanted = false;
    this.dropLive();
    this.mode = null;
    this.release();
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
