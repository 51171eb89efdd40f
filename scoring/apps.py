from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _sqlite_functions(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        from scoring.sql import register_sqlite_functions

        register_sqlite_functions(connection.connection)


class ScoringConfig(AppConfig):
    name = "scoring"

    def ready(self) -> None:
        connection_created.connect(_sqlite_functions, dispatch_uid="leadmatrix-sqlite-functions")
