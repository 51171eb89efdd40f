"""Background work for feedback: a thin task over the daily snapshot service."""

from django.tasks import task

from feedback.snapshots import take_snapshot


@task
def snapshot_task() -> None:
    """Store today's snapshot (schedule it daily, shortly before midnight)."""
    take_snapshot()
