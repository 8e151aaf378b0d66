from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"

    def ready(self) -> None:
        # The embedded shape: this process answers `signal` with its own media worker. The
        # distributed shape (MEDIA_EMBEDDED=0 with REDIS_URL): relayed to `manage.py
        # media_worker` processes. Neither: `signal` is answered `media_unavailable`.
        from django.conf import settings
        from django.core import checks

        from media.checks import check_captions_engine
        from spaces.audio import bridge

        checks.register(check_captions_engine)

        if bridge.embedded():
            bridge.install()
        elif settings.REDIS_URL:
            from spaces.audio import remote

            remote.install()
