"""Background work for webhooks: a thin task over `webhooks.send_delivery`."""

from django.tasks import task


@task
def deliver_webhook_task(delivery_id: int) -> None:
    """Send (or retry) one webhook delivery."""
    from leads.integrations.webhooks import send_delivery

    send_delivery(delivery_id=delivery_id)
