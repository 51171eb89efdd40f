"""Remove uploaded files of imports that were never run (or failed) once the retention time has passed."""

from django.core.management.base import BaseCommand

from leads.imports.run import purge_stale_uploads


class Command(BaseCommand):
    help = "Delete uploaded import files older than IMPORT_RETENTION_HOURS that no import is using."

    def handle(self, *args, **options):
        removed = purge_stale_uploads()
        self.stdout.write(f"Removed {removed} uploaded file{'s' if removed != 1 else ''}.")
