"""Send the webhook retries that are due: for cron where the task backend cannot defer work."""

from django.core.management.base import BaseCommand

from leads.integrations.webhooks import send_due_deliveries


class Command(BaseCommand):
    help = "Send webhook deliveries whose retry is due (the database task queue also does this by itself)."

    def handle(self, *args, **options):
        sent = send_due_deliveries()
        self.stdout.write(f"Sent {sent} due webhook deliveries.")
