"""Covering indexes and expression statistics on leads for the reports (PostgreSQL only).

The reports read a few columns of the leads created, or entered into the queue, in a date range. With
these indexes PostgreSQL answers from the index alone (an index-only scan) instead of reading every
row of a wide table: at a million leads the grid report drops from about 1 s to about 0.2 s (see
docs/benchmarks.md). They live here, with the reports that need them, as raw SQL because `INCLUDE`
columns and `CONCURRENTLY` (no write lock on a large table) are PostgreSQL features; SQLite does not
need them at the sizes it serves.
"""

from django.db import migrations

INDEXES = {
    "lead_report_created": "ON leads_lead (created_at) INCLUDE (id, grade, score, bucket, queue_entered_at, "
    "first_contact_at, source, industry, scored_version_id)",
    "lead_report_queue": "ON leads_lead (queue_entered_at) INCLUDE (id, first_contact_at, sla_met, owner_id, "
    "bucket, source, industry, grade, scored_version_id) WHERE queue_entered_at IS NOT NULL",
}


def _statistics() -> dict[str, str]:
    """Statistics on the funnel's `date_trunc` per week and month, in the time zone the ORM uses.

    Without them PostgreSQL guesses one group per lead (the column's distinct values), sorts every
    lead on disk and counts serially; with them it hashes a handful of groups in parallel.
    """
    from django.conf import settings

    zone = settings.TIME_ZONE.replace("'", "")
    return {
        f"lead_created_{unit}": f"ON (date_trunc('{unit}', created_at AT TIME ZONE '{zone}')) FROM leads_lead"
        for unit in ("week", "month")
    }


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")
    for name, definition in _statistics().items():
        schema_editor.execute(f"CREATE STATISTICS IF NOT EXISTS {name} {definition}")
    schema_editor.execute("ANALYZE leads_lead")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    for name in _statistics():
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction
    dependencies = [("feedback", "0005_report_indexes"), ("leads", "0004_queue_order_index")]
    operations = [migrations.RunPython(create, drop)]
