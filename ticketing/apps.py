from django.apps import AppConfig


class TicketingConfig(AppConfig):
    name = "ticketing"

    def ready(self) -> None:
        from scheduling.services import register_cancel_hook
        from ticketing.services import tickets_refund_for_space

        register_cancel_hook(tickets_refund_for_space)
