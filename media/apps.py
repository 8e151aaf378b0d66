from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"

    def ready(self) -> None:
        # Which process answers `signal` with a media worker is the Spaces app's choice
        # (spaces/apps.py): this package never touches the apps.
        from django.core import checks

        from media.checks import check_captions_engine, check_noise_suppression

        checks.register(check_captions_engine)
        checks.register(check_noise_suppression)
