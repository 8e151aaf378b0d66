from django.apps import AppConfig


class TicketingConfig(AppConfig):
    name = "ticketing"

    def ready(self) -> None:
        """Ticketing's rules inside the lower apps' use cases, through their hooks
        (spaces_project/hooks.py): who enters a ticketed Space, the refunds when a
        scheduled one is cancelled, the schedule form putting a Space on sale, and the price
        badge on the cards of a list (one read for the whole list)."""
        from scheduling import hooks as scheduling_hooks
        from spaces import hooks as spaces_hooks
        from ticketing import checks  # noqa: F401  (registers the system checks)
        from ticketing.selectors import ticket_admits, ticket_badges
        from ticketing.services import ticket_offer_open, tickets_refund_for_space

        spaces_hooks.entry_rules.register(ticket_admits)
        spaces_hooks.ticket_badges.register(ticket_badges)
        scheduling_hooks.space_cancelled.register(tickets_refund_for_space)
        scheduling_hooks.ticket_offer_open.register(ticket_offer_open)
