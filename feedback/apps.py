from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _register_sqlite_functions(sender, connection, **kwargs) -> None:
    """SQLite has no percentile_cont: give each new connection the fallback the reports use."""
    if connection.vendor == "sqlite":
        from feedback.reports import SQLitePercentile

        connection.connection.create_aggregate("lm_percentile", 2, SQLitePercentile)


class FeedbackConfig(AppConfig):
    name = "feedback"

    def ready(self) -> None:
        connection_created.connect(_register_sqlite_functions, dispatch_uid="feedback-sqlite-functions")
