"""Store the day's figures (run once a day, e.g. from cron at 23:55); --days backfills past days."""

from django.core.management.base import BaseCommand, CommandError

from feedback.snapshots import backfill_snapshots, take_snapshot


class Command(BaseCommand):
    help = "Take today's snapshot for the before/after report; --days N also refreshes the N-1 days before."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=1)

    def handle(self, *args, days: int, **options):
        if days < 1:
            raise CommandError("--days must be 1 or more.")
        if days == 1:
            snapshot = take_snapshot()
            self.stdout.write(
                f"{snapshot}: queue {snapshot.queue_size}, MQLs {snapshot.mqls}, won {snapshot.won}."
            )
        else:
            self.stdout.write(f"Stored {backfill_snapshots(days=days)} daily snapshots.")
