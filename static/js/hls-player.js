// An HLS playlist played by an <audio> element: the replay page (static/js/replay.js) and a
// Space's delayed listeners (static/js/audio.js) share it.
//
// Two players can do it: the browser's own (Safari; recent Chromium says "maybe" too) and hls.js
// over Media Source Extensions, which `make vendor` copies to static/vendor/ (never a CDN). A
// page either loads hls.js with a <script> before its module (the replay, where everyone plays)
// or names it for `loadHlsJs` to fetch on first need (the Space page, where most people listen
// over WebRTC and would download it for nothing). hls.js runs without its worker: the worker
// would be a blob: script, which the site's Content-Security-Policy does not allow.

export const HLS_TYPE = "application/vnd.apple.mpegurl";

let loading = null;

/** window.Hls, loading the script at `url` first when the page has not. Resolves to null when
 * there is none (not installed, failed to load): the caller falls back to the browser's own. */
export function loadHlsJs(url) {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!url) return Promise.resolve(null);
  if (!loading) {
    loading = new Promise((resolve) => {
      const script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.addEventListener("load", () => resolve(window.Hls || null));
      script.addEventListener("error", () => {
        script.remove();
        loading = null; // a later attempt may find the network back
        resolve(null);
      });
      document.head.append(script);
    });
  }
  return loading;
}

/** Whether the browser plays HLS itself (the <audio> element's own answer). */
export function playsHlsNatively(audio) {
  return !!audio.canPlayType(HLS_TYPE);
}

/**
 * Feed `audio` the playlist at `url`. Returns the player, {how: "native" | "hls.js", hls,
 * playingDate(), destroy()}, or null when this browser can play HLS neither way.
 *
 *   prefer      "native" (the default) or "hls.js": which to use when both can
 *   config      hls.js options (its worker is always off)
 *   recoveries  fatal hls.js errors recovered in place (startLoad, recoverMediaError), as
 *               hls.js suggests, before giving up; 1 by default. A playlist that never loaded
 *               is given up at once
 *   onFatal     ({how, type, details}) when the player gave up; an hls.js player is destroyed
 *               by then, a native one is left to the caller (the error may be the source's)
 */
export function attachHls(audio, url, { prefer = "native", config = {}, recoveries = 1, onFatal } = {}) {
  const Hls = window.Hls && window.Hls.isSupported() ? window.Hls : null;
  const native = playsHlsNatively(audio);
  if (native && (prefer === "native" || !Hls)) return nativePlayer(audio, url, onFatal);
  if (Hls) return hlsJsPlayer(Hls, audio, url, { config, recoveries, onFatal });
  return null;
}

function nativePlayer(audio, url, onFatal) {
  // A page may name the playlist in a <source> (the replay, so that Safari plays it with no
  // script at all); otherwise it is set here, and taken away again by destroy().
  const own = !audio.querySelector("source");
  if (own) audio.src = url;
  const failed = () => onFatal?.({ how: "native", type: "mediaError", details: audio.error?.message || "" });
  audio.addEventListener("error", failed);
  return {
    how: "native",
    hls: null,
    /** The wall time being heard: Safari knows it from EXT-X-PROGRAM-DATE-TIME. */
    playingDate() {
      const start = typeof audio.getStartDate === "function" ? audio.getStartDate().getTime() : NaN;
      return Number.isFinite(start) && start > 0 ? new Date(start + audio.currentTime * 1000) : null;
    },
    destroy() {
      audio.removeEventListener("error", failed);
      if (own) {
        audio.removeAttribute("src");
        audio.load();
      }
    },
  };
}

function hlsJsPlayer(Hls, audio, url, { config, recoveries, onFatal }) {
  audio.querySelector("source")?.remove();
  const hls = new Hls({ ...config, enableWorker: false });
  let left = recoveries;
  let done = false;
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal || done) return;
    // startLoad() resumes loading segments; it cannot fetch a playlist that never came (a live
    // one not written yet, a wrong URL): that is for the caller, with a new player.
    const playlist = Array.isArray(hls.levels) && hls.levels.length > 0;
    const reload = left > 0 && data.type === Hls.ErrorTypes.NETWORK_ERROR && playlist;
    const recover = left > 0 && data.type === Hls.ErrorTypes.MEDIA_ERROR;
    console.info(`hls.js fatal error: ${data.type} (${data.details}), ${reload || recover ? "recovering" : "giving up"}`);
    if (reload) {
      left -= 1;
      hls.startLoad();
    } else if (recover) {
      left -= 1;
      hls.recoverMediaError();
    } else {
      done = true;
      hls.destroy();
      onFatal?.({ how: "hls.js", type: data.type, details: data.details });
    }
  });
  hls.loadSource(url);
  hls.attachMedia(audio);
  return {
    how: "hls.js",
    hls,
    /** The wall time being heard, from the playlist's EXT-X-PROGRAM-DATE-TIME; null before. */
    playingDate: () => (done ? null : hls.playingDate || null),
    destroy() {
      if (done) return;
      done = true;
      hls.destroy(); // detaches the <audio> too (its src removed)
    },
  };
}
