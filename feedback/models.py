"""What sales did with a lead and how it ended: dispositions with structured reasons."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from leads.models import Lead


class Reason(models.Model):
    """A managed reason for disqualifying or nurturing a lead; retired reasons stay on old records."""

    code = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=80)
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "label"]

    def __str__(self) -> str:
        return self.label if self.active else f"{self.label} (retired)"


class Disposition(models.Model):
    """One outcome a rep logged for a lead."""

    class Outcome(models.TextChoices):
        ATTEMPTED = "attempted", "Attempted"
        CONNECTED = "connected", "Connected"
        MEETING = "meeting", "Meeting booked"
        OPPORTUNITY = "opportunity", "Opportunity"
        WON = "won", "Won"
        LOST = "lost", "Lost"
        DISQUALIFIED = "disqualified", "Disqualified"
        NURTURE = "nurture", "Back to nurture"

    CONTACT = {Outcome.CONNECTED, Outcome.MEETING, Outcome.OPPORTUNITY, Outcome.WON}
    CONVERTED = {Outcome.OPPORTUNITY, Outcome.WON}
    NOT_CONVERTED = {Outcome.LOST, Outcome.DISQUALIFIED}
    NEEDS_REASON = {Outcome.DISQUALIFIED, Outcome.NURTURE}
    NEEDS_AMOUNT = {Outcome.OPPORTUNITY, Outcome.WON}
    CLOSES_OUT = {Outcome.DISQUALIFIED, Outcome.NURTURE, Outcome.LOST, Outcome.WON}

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="dispositions")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    reason = models.ForeignKey(Reason, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    note = models.TextField(blank=True)
    next_follow_up = models.DateField(null=True, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    imported = models.BooleanField(default=False, help_text="Came from a historical outcomes import.")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["lead", "at"], name="disposition_lead_time"),
            # Reports: the leads with an outcome as one index-only set, and outcomes in a date range.
            models.Index(fields=["outcome", "lead"], name="disposition_outcome_lead"),
            models.Index(fields=["outcome", "at"], name="disposition_outcome_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} for {self.lead_id}"


class QueueSettings(models.Model):
    """Team-wide queue rules a sales manager sets (one row)."""

    cool_off_days = models.PositiveIntegerField(
        default=14, help_text="Days a closed-out lead stays out of the queue before it may be recycled."
    )
    warn_hours = models.PositiveIntegerField(
        default=1, help_text="Hours before an SLA runs out that the owner and sales managers are warned."
    )

    class Meta:
        verbose_name_plural = "queue settings"

    def __str__(self) -> str:
        return "Queue settings"

    @classmethod
    def current(cls) -> QueueSettings:
        return cls.objects.get_or_create(pk=1)[0]


class Notification(models.Model):
    """A message for one person in the app (the bell in the navigation); also sent by email."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    key = models.CharField(max_length=80, help_text="Makes a notification idempotent (one per SLA clock).")
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "key"], name="one_notification_per_key")
        ]

    def __str__(self) -> str:
        return self.message


class DailySnapshot(models.Model):
    """The day's figures, stored per day and matrix version, so before and after a change compare."""

    day = models.DateField()
    matrix = models.ForeignKey(
        "scoring.ScoringMatrix", on_delete=models.PROTECT, related_name="+", help_text="Active that day."
    )
    queue_size = models.PositiveIntegerField(
        default=0, help_text="Leads in the sales queue at the day's end."
    )
    mqls = models.PositiveIntegerField(default=0, help_text="Leads that entered the sales queue that day.")
    accepted = models.PositiveIntegerField(default=0, help_text="Leads sales first reached that day.")
    opportunities = models.PositiveIntegerField(default=0, help_text="Opportunities opened that day.")
    pipeline_value = models.DecimalField(
        max_digits=16, decimal_places=2, default=0, help_text="Open opportunities' amounts at the day's end."
    )
    won = models.PositiveIntegerField(default=0, help_text="Deals won that day.")
    won_value = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    days_to_close = models.FloatField(
        null=True,
        blank=True,
        help_text="Median days from entering the queue to won, wins of the last 30 days.",
    )
    grade_counts = models.JSONField(default=dict, help_text="Leads per grade at the day's end.")
    bucket_counts = models.JSONField(default=dict, help_text="Leads per bucket at the day's end.")
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["day", "matrix"], name="one_snapshot_per_day_and_version")
        ]

    def __str__(self) -> str:
        return f"Snapshot {self.day} (v{self.matrix.version})"


class Calibration(models.Model):
    """A fit of the matrix to known outcomes: the suggestion, its evidence, and the draft made from it."""

    matrix = models.ForeignKey(
        "scoring.ScoringMatrix",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The version calibrated.",
    )
    result = models.JSONField(help_text="Suggested points, evidence and held-out figures (or the refusal).")
    refused = models.CharField(max_length=300, blank=True, help_text="Why no suggestion was made.")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()
    draft = models.ForeignKey(
        "scoring.ScoringMatrix", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"Calibration of v{self.matrix.version} at {self.at:%Y-%m-%d %H:%M}"
