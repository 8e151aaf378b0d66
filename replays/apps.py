from django.apps import AppConfig


class ReplaysConfig(AppConfig):
    name = "replays"

    def ready(self) -> None:
        """A closed part of a recording may complete the replay of an ended Space
        (spaces/hooks.py `recording_closed`). The tasks are imported so that one queued by
        name (the podcast audio, after finalizing) is known in every process, eager ones too."""
        from replays import tasks  # noqa: F401
        from replays.services import recording_finalize_if_ended
        from spaces import hooks as spaces_hooks

        spaces_hooks.recording_closed.register(recording_finalize_if_ended)
