from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "config.accounts"
    label = "accounts"
    verbose_name = "Accounts and sign-in"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.accounts import signals  # noqa: F401  (connects the sign-in handlers)
