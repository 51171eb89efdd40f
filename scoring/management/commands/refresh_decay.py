"""Let time pass for every score: run it hourly from cron or a scheduler."""

from django.core.management.base import BaseCommand

from scoring.runs import refresh_decay


class Command(BaseCommand):
    help = "Rescore leads for decay; only leads whose score, grade or bucket moved are written."

    def handle(self, *args, **options):
        changed = refresh_decay()
        self.stdout.write(f"Decay refresh: {changed} leads changed.")
