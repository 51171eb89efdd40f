"""Outgoing webhooks: a lead entering a chosen bucket notifies another system, signed and retried.

The flow: the ingest transaction rescored some leads and wrote transition rows → `queue_deliveries`
(in that same transaction) writes one `WebhookDelivery` per (webhook, transition into one of its
buckets) → on commit a task sends it → every try is a `WebhookAttempt` row → a failed try is
retried with exponential backoff (a deferred task where the task backend can defer, otherwise
`manage.py send_webhooks` picks up what is due).

Delivery is at least once: a receiver deduplicates on the `Leadmatrix-Delivery` header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.tasks import default_task_backend
from django.utils import timezone

from leads.ingest import scores_changed
from leads.integrations.models import Webhook, WebhookAttempt, WebhookDelivery
from leads.models import Transition

EVENT = "lead.entered_bucket"
SIGNATURE_HEADER = "Leadmatrix-Signature"
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=2)
TIMEOUT_SECONDS = 10
_CACHE_KEY = "integrations:webhook-buckets"


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp.body`, hex; the timestamp lets a receiver refuse old replays."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    """The header value a receiver checks: `t=<unix time>,v1=<hex HMAC>`."""
    return f"t={timestamp},v1={signature(secret=secret, timestamp=timestamp, body=body)}"


def retry_delay(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failed ones: 30 s, 1 min, 2 min, … at most 2 h."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_WAIT)


def webhook_buckets() -> dict[int, frozenset[str]]:
    """Active webhooks and their buckets, cached: every ingest request asks, and they seldom change."""
    hooks = cache.get(_CACHE_KEY)
    if hooks is None:
        hooks = {
            pk: frozenset(buckets)
            for pk, buckets in Webhook.objects.filter(active=True).values_list("pk", "buckets")
        }
        cache.set(_CACHE_KEY, hooks, 30)
    return hooks


@receiver([post_save, post_delete], sender=Webhook)
def _forget_buckets(**kwargs) -> None:
    cache.delete(_CACHE_KEY)


@receiver(scores_changed)
def _on_scores_changed(*, lead_ids: list[int], now: datetime, **kwargs) -> None:
    hooks = webhook_buckets()
    if not hooks:
        return
    transitions = Transition.objects.filter(
        lead_id__in=lead_ids, at=now, to_bucket__in=set().union(*hooks.values())
    ).select_related("lead", "matrix")
    queue_deliveries(transitions=list(transitions), hooks=hooks)


def queue_deliveries(
    *, transitions: list[Transition], hooks: dict[int, frozenset[str]] | None = None
) -> list[WebhookDelivery]:
    """Write a delivery for each webhook whose buckets a transition enters; send them after commit."""
    hooks = webhook_buckets() if hooks is None else hooks
    deliveries = []
    for transition in transitions:
        entered = (
            transition.from_bucket != transition.to_bucket or transition.cause == Transition.Cause.RECYCLE
        )
        if not entered:
            continue  # e.g. sales closed the lead out: same bucket, out of the queue
        for webhook_id, buckets in sorted(hooks.items()):
            if transition.to_bucket in buckets:
                deliveries.append(
                    WebhookDelivery(
                        webhook_id=webhook_id,
                        transition=transition,
                        body=json.dumps(payload(transition), separators=(",", ":")),
                    )
                )
    if not deliveries:
        return []
    created = WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    ids = list(
        WebhookDelivery.objects.filter(
            transition__in=[d.transition for d in created], status=WebhookDelivery.Status.PENDING, attempts=0
        ).values_list("pk", flat=True)
    )
    transaction.on_commit(lambda: _enqueue(ids))
    return created


# How far behind its mark the sweep looks again: a transaction that took its transition ids before
# a later one committed (a full rescore batch writes thousands at once) commits them behind the mark.
SWEEP_LOOKBACK_IDS = 100_000
SWEEP_LIMIT = 5_000


def sweep_transitions() -> int:
    """Queue deliveries for transitions that ingest did not notify about: full rescores after a
    publication, the decay refresh, sales outcomes. Returns how many deliveries it wrote.

    Ingest notifies in its own transaction; everything else writes transition rows set-based or in
    other apps, so `manage.py send_webhooks` (cron, every minute) sweeps the new rows. A delivery
    exists at most once per (webhook, transition), so looking at a row twice is harmless.
    """
    written = 0
    for webhook in Webhook.objects.filter(active=True).order_by("pk"):
        with transaction.atomic():
            webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)  # one sweeper per webhook
            newest = Transition.objects.aggregate(last=Max("id"))["last"] or 0
            rows = list(
                Transition.objects.filter(
                    id__gt=max(0, webhook.swept_through - SWEEP_LOOKBACK_IDS),
                    id__lte=newest,
                    at__gte=webhook.created_at,  # the look-back never reaches before the webhook
                    to_bucket__in=webhook.buckets,
                )
                .exclude(
                    pk__in=WebhookDelivery.objects.filter(webhook=webhook, transition__isnull=False).values(
                        "transition_id"
                    )
                )
                .select_related("lead", "matrix")
                .order_by("id")[:SWEEP_LIMIT]
            )
            written += len(queue_deliveries(transitions=rows, hooks={webhook.pk: frozenset(webhook.buckets)}))
            # With the limit reached, the rest waits for the next sweep.
            mark = rows[-1].pk if len(rows) == SWEEP_LIMIT else newest
            Webhook.objects.filter(pk=webhook.pk).update(swept_through=max(mark, webhook.swept_through))
    return written


def payload(transition: Transition) -> dict:
    """What the receiver gets: the lead as it is now, and the move that triggered the notification."""
    lead = transition.lead
    return {
        "event": EVENT,
        "at": transition.at.isoformat(),
        "lead": {
            "id": lead.pk,
            "email": lead.email,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "company": lead.company,
            "grade": transition.grade,
            "score": transition.score,
            "label": transition.label,
            "bucket": transition.to_bucket,
            "in_queue": transition.in_queue,
        },
        "transition": {
            "id": transition.pk,
            "from_bucket": transition.from_bucket,
            "to_bucket": transition.to_bucket,
            "cause": transition.cause,
            "matrix_version": transition.matrix.version,
        },
    }


def _enqueue(delivery_ids: list[int]) -> None:
    from leads.integrations.tasks import deliver_webhook_task

    for delivery_id in delivery_ids:
        deliver_webhook_task.enqueue(delivery_id)


def send_delivery(
    *, delivery_id: int, by_hand: bool = False, now: datetime | None = None
) -> WebhookAttempt | None:
    """Try one delivery once, log the answer, and mark it delivered or schedule the next try.

    A delivery already delivered is left alone unless sent by hand (a re-send asked for in the admin).
    """
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or (delivery.status == WebhookDelivery.Status.DELIVERED and not by_hand):
        return None
    started = time.perf_counter()
    attempt = WebhookAttempt(delivery=delivery, at=now or timezone.now(), by_hand=by_hand)
    body = delivery.body.encode()
    stamp = int(attempt.at.timestamp())
    request = urllib.request.Request(
        delivery.webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Leadmatrix-Webhook/1",
            "Leadmatrix-Event": delivery.event,
            "Leadmatrix-Delivery": str(delivery.pk),
            SIGNATURE_HEADER: signature_header(secret=delivery.webhook.secret, timestamp=stamp, body=body),
        },
    )
    try:
        if not delivery.webhook.url.startswith(("https://", "http://")):
            raise ValueError("only http and https URLs are sent to")
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            attempt.status_code = response.status
            attempt.response = response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as error:
        attempt.status_code = error.code
        attempt.response = error.read(2000).decode(errors="replace")
    except (OSError, ValueError) as error:  # refused, timed out, DNS, bad URL
        attempt.error = str(error)[:300] or type(error).__name__
    attempt.duration_ms = round((time.perf_counter() - started) * 1000)
    _record(delivery, attempt)
    return attempt


def _record(delivery: WebhookDelivery, attempt: WebhookAttempt) -> None:
    retry_at = None
    with transaction.atomic():
        attempt.save()
        delivery.attempts += 1
        if attempt.ok:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = attempt.at
            delivery.next_attempt_at = None
        elif delivery.status == WebhookDelivery.Status.DELIVERED:
            pass  # a by-hand re-send of a delivered one failed: it stays delivered, the attempt is logged
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.status = WebhookDelivery.Status.RETRYING
            retry_at = delivery.next_attempt_at = attempt.at + retry_delay(delivery.attempts)
        delivery.save(update_fields=["attempts", "status", "delivered_at", "next_attempt_at"])
    if retry_at is not None and default_task_backend.supports_defer:
        from leads.integrations.tasks import deliver_webhook_task

        deliver_webhook_task.using(run_after=retry_at).enqueue(delivery.pk)


def send_due_deliveries(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send the retries that are due (for task backends that cannot defer, e.g. from cron)."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RETRYING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        send_delivery(delivery_id=delivery_id, now=now)
    return len(due)


def resend(*, deliveries) -> int:
    """Send deliveries again now, by hand (the admin's action); delivered ones too."""
    count = 0
    for delivery in deliveries:
        send_delivery(delivery_id=delivery.pk, by_hand=True)
        count += 1
    return count
