from django.apps import AppConfig


class TicketingConfig(AppConfig):
    name = "ticketing"

    def ready(self) -> None:
        """Ticketing's rules inside the lower apps' use cases, through their hooks
        (spaces_project/hooks.py): who enters a ticketed Space, and the refunds when a
        scheduled one is cancelled."""
        from scheduling import hooks as scheduling_hooks
        from spaces import hooks as spaces_hooks
        from ticketing import checks  # noqa: F401  (registers the system checks)
        from ticketing.selectors import ticket_admits
        from ticketing.services import tickets_refund_for_space

        spaces_hooks.entry_rules.register(ticket_admits)
        scheduling_hooks.space_cancelled.register(tickets_refund_for_space)
