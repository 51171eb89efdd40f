"""Warn owners and sales managers about SLAs about to run out; run it every few minutes from cron."""

from django.core.management.base import BaseCommand

from feedback.notify import notify_sla


class Command(BaseCommand):
    help = (
        "Notify lead owners and sales managers (in the app and by email) of SLAs about to run out or overdue."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"SLA notifications sent: {notify_sla()}.")
