from django.apps import AppConfig


class WebpushConfig(AppConfig):
    name = "webpush"

    def ready(self) -> None:
        from webpush import checks  # noqa: F401  (registers the system checks)
