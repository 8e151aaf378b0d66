// "Notifications on this device" in Settings (templates/webpush/_device_switch.html).
//
// On: register the service worker at the site root (/sw.js, scope "/"), subscribe through
// pushManager with the server's VAPID key (GET /api/v1/push/key) and send the browser's
// subscription to POST /api/v1/push/subscriptions. Off: unsubscribe in the browser and DELETE
// it on the server. Where a subscription already exists it is sent again on each visit, so the
// server keeps it even if it lost it. Without JavaScript, or without Push, the switch stays
// hidden and the note (rendered by the server) says why.

const root = document.getElementById("push-device");
const toggle = document.getElementById("push-toggle");
const note = document.getElementById("push-device-note");

function say(name) {
  note.textContent = name ? root.dataset[`msg${name}`] || "" : "";
}

function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** The VAPID key as the bytes pushManager.subscribe() wants. */
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      "X-CSRFToken": root.dataset.csrf,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const error = new Error(`HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return response.status === 204 ? null : response.json();
}

async function registration() {
  await navigator.serviceWorker.register(root.dataset.workerUrl, { scope: "/" });
  return navigator.serviceWorker.ready;
}

async function turnOn() {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    say(permission === "denied" ? "Denied" : "Off");
    return false;
  }
  const reg = await registration();
  const { public_key: key } = await api("GET", root.dataset.keyUrl);
  let subscription = await reg.pushManager.getSubscription();
  if (subscription) {
    // Made with another key (the server's changed): it could never receive our pushes.
    const current = subscription.options && subscription.options.applicationServerKey;
    const want = keyBytes(key);
    const same = current && new Uint8Array(current).every((b, i) => b === want[i]);
    if (!same) {
      await subscription.unsubscribe();
      subscription = null;
    }
  }
  subscription ||= await reg.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: keyBytes(key),
  });
  await api("POST", root.dataset.subscriptionsUrl, subscription.toJSON());
  say("On");
  return true;
}

async function turnOff() {
  const reg = await navigator.serviceWorker.getRegistration("/");
  const subscription = reg ? await reg.pushManager.getSubscription() : null;
  if (subscription) {
    const { endpoint } = subscription;
    await subscription.unsubscribe();
    await api("DELETE", root.dataset.subscriptionsUrl, { endpoint });
  }
  say("Off");
}

async function start() {
  if (!supported()) {
    say("Unsupported");
    return;
  }
  say("");
  toggle.hidden = false;
  toggle.disabled = true;
  try {
    const reg = await registration();
    const subscription = await reg.pushManager.getSubscription();
    toggle.checked = Boolean(subscription) && Notification.permission === "granted";
    if (toggle.checked) {
      await api("POST", root.dataset.subscriptionsUrl, subscription.toJSON());
    } else if (Notification.permission === "denied") {
      say("Denied");
    }
  } catch (error) {
    say(error.status === 503 ? "Server" : "");
  } finally {
    toggle.disabled = false;
  }
  root.dataset.ready = "true";
}

toggle?.addEventListener("change", async () => {
  const wanted = toggle.checked;
  toggle.disabled = true;
  try {
    if (wanted) toggle.checked = await turnOn();
    else await turnOff();
  } catch (error) {
    toggle.checked = !wanted;
    say(error.status === 503 ? "Server" : wanted ? "Failed" : "OffFailed");
  } finally {
    toggle.disabled = false;
  }
});

if (root && toggle) start();
