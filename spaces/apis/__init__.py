"""The Spaces API under /api/v1/spaces (spaces/urls.py), by concern:

- `spaces`: the lists, starting a Space, one Space, joining, leaving, ending, who is there;
- `stage`: raised hands, invitations, acting on participants, your own mic and place;
- `room`: reactions, pins, captions and the transcript;
- `share`: sharing and reporting a Space, its moderation log;
- `base`: what they share (error texts of the schema, paginations, the base view).

Thin entry points: each view validates its input with a nested `InputSerializer` (unknown fields
refused), calls one service (writes) or selector (reads) and renders the result with the shared
output serializers (spaces/serializers.py). No rule lives here: the services raise the
documented errors, which leave in the one error shape `{"error": {"code", "message", "fields"}}`
(spaces_project/api.py). Each operation's schema lists the error codes it can answer.

Idempotency: joining, leaving, raising a hand again, withdrawing with no hand up, muting a muted
speaker, removing a removed participant, unpinning an unpinned post and setting captions to their
current value all succeed and change nothing. Answering a request or an invitation that was
already answered is 409 (`request_not_pending`, `invitation_not_pending`).
"""
