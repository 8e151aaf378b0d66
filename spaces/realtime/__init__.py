"""Realtime for Spaces: the sockets, what they speak, and what the event bus carries for Spaces.

- consumers.py: the Space socket, /ws/spaces/<id>/ (room events out; actions and signaling in).
- feed.py: the home feed socket, /ws/feed/ (notifications, live bubbles of people followed).
- protocol.py: close codes, incoming-message schemas, the rate limit, the `space.state` snapshot
  and the table mapping each socket action to its service.
- hub.py: per-process fan-out of room events to the local sockets, in `seq` order; presence
  refresh of users with an open socket.
- wsframes.py: a room event's WebSocket frame, built once and written straight to Daphne.
- presence.py: the sweeps that let go of people whose sockets are gone, the host included.
- hints.py: the feed's `bubbles.changed` hints, a hook of the bus (spaces_project/bus.py).
- reactions.py: reaction taps batched per Space into `reactions` events, a coalescer of the bus.

Both hooks are registered in `SpacesConfig.ready` (spaces/apps.py). The media glue (the `signal`
handler, media workers, captions) lives in spaces/audio/.
"""
