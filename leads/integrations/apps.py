from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """The ingest API's tokens and idempotency records, and the outgoing webhooks."""

    name = "leads.integrations"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from leads.integrations import webhooks  # noqa: F401 - connects the cache invalidation
