"""Write the public-style lead data set (deterministic) to a CSV file."""

from pathlib import Path

from django.core.management.base import BaseCommand

from feedback.dataset import generate_rows, write_csv


class Command(BaseCommand):
    help = "Write the public-style lead-scoring data set (a few thousand leads, fixed seed) to a CSV file."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--rows", type=int, default=4000)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, path: Path, rows: int, seed: int, **options):
        data = generate_rows(count=rows, seed=seed)
        write_csv(path, data)
        converted = sum(r["converted"] == "1" for r in data)
        self.stdout.write(f"Wrote {len(data)} leads ({converted} converted) to {path}.")
