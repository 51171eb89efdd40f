"""API tokens, idempotency records, webhooks and every delivery attempt."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class ApiToken(models.Model):
    """One integration's key to the ingest API. Only a hash is stored; the token is shown once."""

    class Scope(models.TextChoices):
        WRITE_ACTIVITIES = "activities:write", "Write activities"
        WRITE_LEADS = "leads:write", "Write leads"
        READ = "read", "Read leads and the queue"

    name = models.CharField(max_length=80, help_text="Which system uses it, e.g. 'Marketing automation'.")
    scope = models.CharField(max_length=20, choices=Scope.choices)
    prefix = models.CharField(
        max_length=12, unique=True, editable=False, help_text="Shown to tell tokens apart."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    rate_per_minute = models.PositiveIntegerField(
        default=600, help_text="Requests a minute before the API answers 429."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.get_scope_display().lower()})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The answer given to a POST with an `Idempotency-Key`, replayed when the same request comes again."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=200)
    body_digest = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    response = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotency_once_per_token")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.key} → {self.status}"


class Webhook(models.Model):
    """An outgoing notification to another system when a lead enters one of the chosen buckets."""

    name = models.CharField(max_length=80, help_text="e.g. 'CRM: sales-ready leads'.")
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=128, help_text="Shared with the receiver, which checks the HMAC-SHA256 signature with it."
    )
    buckets = models.JSONField(default=list, help_text='Bucket keys, e.g. ["sales_ready"].')
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    swept_through = models.BigIntegerField(
        default=0, editable=False, help_text="The newest transition id the sweep has looked at."
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and not self.swept_through:
            # A new webhook notifies from now on, not about every lead's past moves.
            from leads.models import Transition

            self.swept_through = Transition.objects.aggregate(last=models.Max("id"))["last"] or 0
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from scoring.models import Bucket

        if (
            not isinstance(self.buckets, list)
            or not self.buckets
            or not all(isinstance(b, str) for b in self.buckets)
        ):
            raise ValidationError({"buckets": 'A list of bucket keys, e.g. ["sales_ready"].'})
        known = set(Bucket.objects.values_list("key", flat=True))
        unknown = sorted(set(self.buckets) - known)
        if unknown:
            raise ValidationError(
                {
                    "buckets": f"No matrix version has a bucket {unknown[0]!r}; known: {', '.join(sorted(known))}."
                }
            )


class WebhookDelivery(models.Model):
    """One notification of one transition to one webhook, sent until it is answered 2xx or gives up."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Waiting to retry"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    transition = models.ForeignKey(
        "leads.Transition", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.CharField(max_length=40, default="lead.entered_bucket")
    body = models.TextField(help_text="The JSON body, exactly as signed and sent.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "transition"],
                condition=Q(transition__isnull=False),
                name="delivery_once_per_transition",
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="retrying"), name="delivery_due_retry"
            )
        ]

    def __str__(self) -> str:
        return f"{self.webhook}: {self.event} #{self.pk}"


class WebhookAttempt(models.Model):
    """One try at sending a delivery, with the answer (or the error) it got."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.TextField(blank=True, help_text="The start of the answer's body.")
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    by_hand = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
