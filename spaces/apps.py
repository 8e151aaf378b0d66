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

        # Who answers `signal`. The embedded shape: this process's own media worker. The
        # distributed shape (MEDIA_EMBEDDED=0 with REDIS_URL): the `manage.py media_worker`
        # processes, through the channel layer. Neither: `signal` is answered
        # `media_unavailable`.
        if bridge.embedded():
            bridge.install()
        elif settings.REDIS_URL:
            remote.install()
