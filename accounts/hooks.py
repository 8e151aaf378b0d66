"""What higher apps plug into accounts (spaces_project/hooks.py explains the pattern).

`user_banned`: run as `hook(user_id)` once a ban has committed (accounts.services.user_ban).
Spaces registers here how a banned account leaves the Spaces it is in (spaces/realtime/presence.py,
`banned_user_let_go`), so accounts never imports Spaces. A hook runs after commit, in its own
transactions; one that fails is logged and the others still run: the ban itself stands.
"""

from __future__ import annotations

from collections.abc import Callable

from spaces_project.hooks import Hook

BanHook = Callable[[int], object]  # what it returns is ignored

user_banned: Hook[BanHook] = Hook("accounts.user_banned")
