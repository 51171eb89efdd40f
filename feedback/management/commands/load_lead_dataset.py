"""Load the public-style data set the way an import would: leads, activities, outcomes."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from feedback.dataset import load_rows, read_csv


class Command(BaseCommand):
    help = "Upsert the data set's leads, record their activities and their outcomes (safe to re-run)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
        try:
            rows = read_csv(path)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        loaded = load_rows(rows, now=timezone.now())
        self.stdout.write(
            f"Loaded {loaded.leads} leads, {loaded.activities} new activities, {loaded.outcomes} new outcomes."
        )
