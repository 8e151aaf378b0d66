// The room socket, /ws/spaces/<id>/ (docs/realtime.md): one per open Space page.
//
// Opening it joins the Space, so the page opens it only while the viewer is in the Space.
// The server sends `space.state` first; every later room event carries a per-Space `seq`.
// An event at or below the last seq we hold is already in our state and is dropped; a jump
// past the next number means we missed something, so we ask for a snapshot and wait for it.
// A dropped connection comes back with backoff and starts again from the snapshot the server
// sends on connect. Actions go out as {action, id, ...args} and come back as `ack` or `error`
// with the same id.

import { Socket } from "./lib.js";
import { gettext, interpolate } from "./i18n.js";

const ACK_TIMEOUT_MS = 10000;
const HEARTBEAT_MS = 20000;

// Close codes (spaces/realtime.py, Close): after these, reconnecting would not help.
const FINAL = {
  4401: gettext("Please log in again."),
  4403: gettext("You can’t be in this Space any more."),
  4404: gettext("This Space no longer exists."),
  4409: null, // not live: the page shows the end
  4410: gettext("You’re no longer in this Space."),
};

export class RoomClient {
  /**
   * handlers: seq() → the seq the page holds; setSeq(n); onState(state); onEvent(event) →
   * false when it needs a snapshot; onStatus(text or ""); onGone(code, message);
   * onSignal(message) for the audio client, when there is one.
   */
  constructor(path, handlers) {
    this.path = path;
    this.h = handlers;
    this.socket = null;
    this.nextId = 1;
    this.pending = new Map();
    this.resyncing = false;
    this.leaving = false;
    this.lastError = null;
    this.onSignal = null;
    this.opens = 0; // how many times the socket opened: the audio re-offers after a reconnect
  }

  get open() {
    return this.socket !== null;
  }

  get connected() {
    return !!this.socket && this.socket.connected;
  }

  connect() {
    if (this.socket) return;
    this.resyncing = true; // the server's first message is the snapshot
    this.socket = new Socket(this.path, {
      heartbeatMs: HEARTBEAT_MS,
      // No answer to a heartbeat within ACK_TIMEOUT_MS: the connection is dead even if no
      // close came (docs/realtime.md, Presence): reconnect.
      heartbeat: () => this.act("heartbeat").catch((error) => {
        if (error && error.code === "timeout") this.socket?.reconnect();
      }),
      onOpen: () => {
        this.opens += 1;
        this.h.onStatus("");
      },
      onMessage: (message) => this.receive(message),
      onRetry: (delay) => {
        this.resyncing = true;
        this.h.onStatus(interpolate(gettext("Connection lost. Reconnecting in %(seconds)s s…"), { seconds: Math.ceil(delay / 1000) }));
      },
      onClose: (code) => this.closed(code),
    });
    this.socket.open();
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.failAll(gettext("Disconnected."));
    this.h.onStatus("");
  }

  closed(code) {
    this.failAll(gettext("The connection closed before the server answered."));
    // 1000 is final only after our own `leave`; otherwise (a proxy, a server restart) we
    // come back like after any other drop.
    if ((code === 1000 && this.leaving) || code in FINAL) {
      this.socket = null;
      this.h.onStatus("");
      if (code === 4401) {
        window.location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
      } else if (code in FINAL) {
        const said = this.lastError && this.lastError.message;
        this.h.onGone(code, said || FINAL[code]);
      }
      return true;
    }
    return false;
  }

  failAll(message) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject({ code: "disconnected", message });
    }
    this.pending.clear();
  }

  /** Send an action; resolves with the ack, rejects with the error event. */
  act(action, args = {}) {
    if (action === "leave") this.leaving = true;
    return new Promise((resolve, reject) => {
      const id = `c${this.nextId++}`;
      if (!this.socket || !this.socket.send({ action, id, ...args })) {
        reject({ code: "disconnected", message: gettext("Not connected. Try again in a moment.") });
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject({ code: "timeout", message: gettext("The server did not answer. Try again.") });
      }, ACK_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  /** Ask for a fresh `space.state`; events are ignored until it comes. */
  resync() {
    if (!this.connected) return;
    this.resyncing = true;
    this.act("snapshot").catch(() => {});
  }

  receive(message) {
    const waiting = message.id != null && this.pending.get(message.id);
    switch (message.type) {
      case "space.state":
        this.resyncing = false;
        this.h.setSeq(0); // a snapshot always wins over what we hold
        this.h.onState(message); // a requested one is acked separately
        return;
      case "ack":
        if (waiting) {
          clearTimeout(waiting.timer);
          this.pending.delete(message.id);
          waiting.resolve(message);
        }
        return;
      case "error":
        if (waiting) {
          clearTimeout(waiting.timer);
          this.pending.delete(message.id);
          waiting.reject(message);
        } else {
          // An error without a request is why the server is about to close the socket.
          this.lastError = message;
        }
        return;
      case "signal":
        this.onSignal?.(message);
        return;
      default:
        this.event(message);
    }
  }

  event(ev) {
    if (this.resyncing) return;
    if (typeof ev.seq === "number") {
      const held = this.h.seq();
      if (ev.seq <= held) return;
      if (held && ev.seq > held + 1) {
        this.resync();
        return;
      }
      this.h.setSeq(ev.seq);
    }
    if (this.h.onEvent(ev) === false) this.resync();
  }
}
