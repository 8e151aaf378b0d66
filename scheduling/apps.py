from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self) -> None:
        # The services queue the sweep task by name (scheduling/services/schedule.py); importing
        # the task module registers it in every process, not only where a worker or the
        # embedded ticker has loaded the task modules.
        from scheduling import tasks  # noqa: F401
