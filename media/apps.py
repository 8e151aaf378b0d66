from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"

    def ready(self) -> None:
        # The embedded shape: this process answers `signal` with its own media worker.
        from spaces import media as bridge

        if bridge.embedded():
            bridge.install()
