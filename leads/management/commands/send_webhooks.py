"""Queue webhook deliveries for transitions written outside ingest, and send retries that are due.

Run it from cron every minute: full rescores (publication, decay) and sales outcomes write their
transitions without notifying, and task backends that cannot defer work leave retries to it.
"""

from django.core.management.base import BaseCommand

from leads.integrations.webhooks import send_due_deliveries, sweep_transitions


class Command(BaseCommand):
    help = "Notify webhooks of transitions written outside ingest; send webhook retries that are due."

    def handle(self, *args, **options):
        queued = sweep_transitions()
        sent = send_due_deliveries()
        self.stdout.write(f"Queued {queued} new webhook deliveries; sent {sent} due retries.")
