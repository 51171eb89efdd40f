"""Leads, what they did, and every change of bucket."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.urls import reverse

from leads.queue import FAR_FUTURE
from scoring.fields import PROFILE_FIELDS
from scoring.models import ActivityType, ScoringMatrix


class LeadQuerySet(models.QuerySet):
    def in_queue(self) -> LeadQuerySet:
        """Leads in the sales queue: in a queue bucket and not closed out by sales."""
        return self.filter(in_queue=True)

    def queue_order(self) -> LeadQuerySet:
        """Work order: bucket priority, then the SLA due time, then score (highest first)."""
        return self.order_by("bucket_priority", "due_at", (F("score") * -1).asc(), "id")

    def after_in_queue_order(self, *, priority: int, due_at, score: int, pk: int) -> LeadQuerySet:
        """The leads after a position in work order, as one row comparison the queue index serves."""
        from django.db import connection

        position = RawSQL(
            '("leads_lead"."bucket_priority", "leads_lead"."due_at", ("leads_lead"."score" * -1), "leads_lead"."id")'
            " > (%s, %s, %s, %s)",
            (priority, connection.ops.adapt_datetimefield_value(due_at), -score, pk),
            output_field=models.BooleanField(),
        )
        return self.filter(position)

    def visible_to(self, user) -> LeadQuerySet:
        """Leads a person may open: reps see their own and unassigned leads; other roles see all."""
        from config.roles import MARKETING, SALES_MANAGER, has_role

        if user.is_staff or has_role(user, MARKETING, SALES_MANAGER):
            return self
        return self.filter(Q(owner=user) | Q(owner__isnull=True))

    def search(self, term: str) -> LeadQuerySet:
        """Leads whose name, email or company contains the term (all leads for an empty term)."""
        term = term.strip()
        if not term:
            return self
        return self.filter(
            Q(email__icontains=term)
            | Q(company__icontains=term)
            | Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
        )

    def overdue(self, now) -> LeadQuerySet:
        """Queue leads whose first contact is past due."""
        return self.filter(in_queue=True, due_at__lt=now)

    def by_label(self, label: str) -> LeadQuerySet:
        """Leads whose label is e.g. `B72`."""
        return self.filter(grade=label[:1].upper(), score=int(label[1:]))


class Lead(models.Model):
    """A person who might buy. The scoring fields are written only by `scoring.rescore`."""

    class Seniority(models.TextChoices):
        EXECUTIVE = "executive", "Executive (C-level, VP)"
        HEAD = "head", "Head of department / director"
        MANAGER = "manager", "Manager"
        STAFF = "staff", "Staff"
        STUDENT = "student", "Student"

    email = models.EmailField(unique=True, help_text="Stored lower-case, so it is unique whatever the case.")
    first_name = models.CharField(max_length=80, blank=True)
    last_name = models.CharField(max_length=80, blank=True)
    company = models.CharField(max_length=160, blank=True)
    title = models.CharField("job title", max_length=160, blank=True)
    seniority = models.CharField(max_length=20, blank=True, choices=Seniority.choices)
    department = models.CharField(max_length=60, blank=True)
    industry = models.CharField(max_length=60, blank=True)
    company_size = models.PositiveIntegerField("company size (employees)", null=True, blank=True)
    revenue_potential = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Whole currency units a year."
    )
    country = models.CharField(max_length=60, blank=True)
    source = models.CharField(max_length=60, blank=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="Imported columns, as text.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Written by scoring: the lead reads as `grade + score`, e.g. B72.
    fit_points = models.IntegerField(default=0)
    grade = models.CharField(max_length=1, default="D")
    score = models.IntegerField(default=0)
    bucket = models.CharField(max_length=30, blank=True, default="")
    bucket_priority = models.PositiveSmallIntegerField(default=1000)
    in_queue = models.BooleanField(default=False)
    persona = models.CharField(max_length=40, blank=True, default="")
    scored_version = models.ForeignKey(
        ScoringMatrix, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    scored_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    # The sales queue (rules in leads/queue.py): who works the lead and how soon.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_leads"
    )
    due_at = models.DateTimeField(
        default=FAR_FUTURE, help_text="First contact due; far future when no clock runs."
    )
    queue_entered_at = models.DateTimeField(null=True, blank=True)
    first_contact_at = models.DateTimeField(null=True, blank=True)
    sla_met = models.BooleanField(
        null=True, blank=True, help_text="Whether first contact came within the SLA."
    )
    closed_out = models.BooleanField(
        default=False, help_text="Sales closed it out; it returns only by recycling."
    )
    cool_off_until = models.DateTimeField(null=True, blank=True)
    recycled_count = models.PositiveIntegerField(default=0)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-score", "id"]
        indexes = [
            models.Index(fields=["grade", "bucket", "score"], name="lead_grade_bucket_score"),
            # The queue's work order, with the score negated so that one ascending row comparison
            # `(priority, due, -score, id) > cursor` walks it: keyset pages at any depth use it.
            models.Index(
                F("bucket_priority"),
                F("due_at"),
                F("score") * -1,
                F("id"),
                condition=Q(in_queue=True),
                name="lead_queue_order",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.email

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("leads:detail", args=[self.pk])

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def label(self) -> str:
        return f"{self.grade}{self.score}"

    @property
    def sla_running(self) -> bool:
        return self.in_queue and self.due_at < FAR_FUTURE

    def facts(self) -> dict[str, object]:
        """The lead as the scoring engine sees it: profile fields plus `attributes.<key>`."""
        facts: dict[str, object] = {name: getattr(self, name) for name in PROFILE_FIELDS}
        for key, value in (self.attributes or {}).items():
            facts[f"attributes.{key}"] = value
        return facts


class Activity(models.Model):
    """One thing a lead did, recorded once per (source, source event id)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    activity_type = models.ForeignKey(ActivityType, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=60, blank=True)
    source_event_id = models.CharField(max_length=120, null=True, blank=True)  # noqa: DJ001 - NULL: no event id, not unique
    properties = models.JSONField(default=dict, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_event_id"],
                condition=Q(source_event_id__isnull=False),
                name="activity_once_per_source_event",
            )
        ]
        indexes = [
            # Covers the rescoring aggregate (index-only scan per lead range).
            models.Index(fields=["lead", "activity_type", "occurred_at"], name="activity_lead_type_time"),
        ]

    def __str__(self) -> str:
        return f"{self.activity_type} at {self.occurred_at:%Y-%m-%d %H:%M}"


class Transition(models.Model):
    """A lead moved from one bucket to another; reports, recycling and history read these rows."""

    class Cause(models.TextChoices):
        ACTIVITY = "activity", "New activity"
        DECAY = "decay", "Decay"
        PUBLISH = "publish", "Matrix published"
        PROFILE = "profile", "Profile changed"
        DISPOSITION = "disposition", "Sales outcome"
        RECYCLE = "recycle", "Recycled"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions")
    from_bucket = models.CharField(max_length=30, blank=True)
    to_bucket = models.CharField(max_length=30)
    in_queue = models.BooleanField(default=False, help_text="In the sales queue after this change.")
    grade = models.CharField(max_length=1)
    score = models.IntegerField()
    matrix = models.ForeignKey(ScoringMatrix, on_delete=models.PROTECT, related_name="+")
    cause = models.CharField(max_length=12, choices=Cause.choices)
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["lead", "at"], name="transition_lead_time")]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_bucket or '∅'} → {self.to_bucket} ({self.cause})"

    @property
    def label(self) -> str:
        return f"{self.grade}{self.score}"
