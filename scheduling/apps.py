from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self) -> None:
        # The services queue the sweep task by name (scheduling/services/schedule.py); importing
        # the task module registers it in every process, not only where a worker or the
        # embedded ticker has loaded the task modules.
        from scheduling import (
            selectors,
            tasks,  # noqa: F401
        )
        from spaces import hooks as spaces_hooks

        # Reminder holders hear "live now" from scheduling: the followers' alert skips them.
        spaces_hooks.live_notified_elsewhere.register(selectors.reminder_holder_ids)

        # Reminders due and not sent yet, on /metrics (spaces_backlog{queue="reminders"}).
        from scheduling.metrics import reminders_backlog
        from spaces_project.metrics import register_backlog

        register_backlog("reminders", reminders_backlog)
