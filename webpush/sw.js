// The Spaces service worker, served at /sw.js (webpush/views.py) so that its scope is the whole
// site. It does one thing: show the notifications the server pushes (webpush/services.py
// `push_send_to_users`) and open their page when one is clicked. No fetch handler: pages are
// never served from here.

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

/** A path on this site, or the home page: a push never sends the browser elsewhere. */
function sameSite(url) {
  try {
    const target = new URL(url || "/", self.location.origin);
    return target.origin === self.location.origin ? target.href : self.location.origin + "/";
  } catch {
    return self.location.origin + "/";
  }
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : "" };
  }
  const options = {
    body: data.body || "",
    icon: data.icon || undefined,
    data: { url: sameSite(data.url) },
  };
  if (data.tag) {
    // The same tag replaces the notification still on screen; renotify alerts again for it.
    options.tag = String(data.tag);
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(data.title || "Spaces", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = sameSite(event.notification.data && event.notification.data.url);
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) {
      if (client.url === url && "focus" in client) return client.focus();
    }
    // A new tab, never an open one navigated away: that one may be in a Space, listening.
    return self.clients.openWindow(url);
  })());
});
