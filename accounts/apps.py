from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth also has an "Accounts" section in the admin; ours holds people and their graph.
    verbose_name = "People"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (connects the receivers)
