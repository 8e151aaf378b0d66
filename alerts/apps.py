from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"

    def ready(self) -> None:
        # The services queue the tasks by name; importing the task module registers them in
        # every process.
        from alerts import services, tasks  # noqa: F401
        from spaces import hooks as spaces_hooks

        # A Space went live (started, or a scheduled one started): tell the host's followers.
        spaces_hooks.space_live.register(services.space_live)

        # Fan-outs and sends not done yet, on /metrics (spaces_backlog{queue="golive_alerts"}).
        from alerts.metrics import golive_backlog
        from spaces_project.metrics import register_backlog

        register_backlog("golive_alerts", golive_backlog)
