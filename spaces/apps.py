from django.apps import AppConfig


class SpacesConfig(AppConfig):
    name = "spaces"

    def ready(self) -> None:
        from django.conf import settings

        from accounts import hooks as accounts_hooks
        from spaces import events, selectors
        from spaces.audio import bridge, remote
        from spaces.realtime import hints, hub, presence, reactions
        from spaces_project import bus

        # A banned account leaves every live Space at once.
        accounts_hooks.user_banned.register(presence.banned_user_let_go)
        # A Space shared in a direct message shows as a card in the thread.
        accounts_hooks.shared_spaces.register(selectors.spaces_shared_in_messages)

        # What a Space adds to the bus: its feed sockets' hints, and reaction taps batched.
        bus.hint_hooks.register(hints.bubble_hints)
        bus.hint_hooks.register(hub.revocation_copies)
        bus.register_coalescer(events.REACTION_SENT, reactions.windows.add)

        # What /metrics and /readyz say about Spaces (spaces/metrics.py).
        from spaces import metrics as spaces_metrics
        from spaces_project import health
        from spaces_project import metrics as project_metrics

        for name, doc, read, cached in (
            ("spaces_live", "Live Spaces in the deployment.", spaces_metrics.live_spaces, True),
            (
                "spaces_stage_members",
                "Present host, co-hosts and speakers of live Spaces.",
                spaces_metrics.stage_members,
                True,
            ),
            (
                "spaces_hub_sockets",
                "Space sockets open in this process (its hub's members).",
                spaces_metrics.hub_sockets,
                False,
            ),
            (
                "spaces_hub_spaces",
                "Spaces with at least one socket in this process (one group membership each).",
                spaces_metrics.hub_spaces,
                False,
            ),
        ):
            project_metrics.register_sampler(name, doc, read, cached=cached)
        project_metrics.register_sampler(
            "spaces_listeners",
            "Present listeners of live Spaces by how they hear it: webrtc (real time), hls "
            "(live HLS, a few seconds behind) and hls_guest (signed out, always HLS).",
            spaces_metrics.listeners_by_mode,
            labels=["mode"],
            cached=True,
        )
        health.checks.register(spaces_metrics.readiness_checks)

        # Who answers `signal`. The embedded shape: this process's own media worker. The
        # distributed shape (MEDIA_EMBEDDED=0 with REDIS_URL): the `manage.py media_worker`
        # processes, through the channel layer. Neither: `signal` is answered
        # `media_unavailable`.
        if bridge.embedded():
            bridge.install()
        elif settings.REDIS_URL:
            remote.install()
