from django.apps import AppConfig


class ReplaysConfig(AppConfig):
    name = "replays"

    def ready(self) -> None:
        """A closed part of a recording may complete the replay of an ended Space
        (spaces/hooks.py `recording_closed`)."""
        from replays.services import recording_finalize_if_ended
        from spaces import hooks as spaces_hooks

        spaces_hooks.recording_closed.register(recording_finalize_if_ended)
