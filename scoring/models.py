"""The versioned scoring matrix. These models know nothing of leads."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from simple_history.models import HistoricalRecords

from scoring import engine
from scoring.fields import NUMBER, OPERATOR_CHOICES, OPERATORS_FOR_KIND, lookup_field

GRADE_CHOICES = [(g, g) for g in engine.GRADES]


class ActivityType(models.Model):
    """The catalogue of things a lead can do; weights per matrix version point here."""

    key = models.SlugField(
        max_length=40, unique=True, help_text="Used by the API and imports, e.g. web_visit."
    )
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Revised(models.Model):
    """A row edited by several people at once: every save counts up `revision` (compare-and-set)."""

    revision = models.PositiveIntegerField(
        default=1, editable=False, help_text="Counts up on every save; an edit must name the one it saw."
    )

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            self.revision += 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "revision"}
        super().save(*args, **kwargs)


class MatrixQuerySet(models.QuerySet):
    def active(self) -> ScoringMatrix:
        """The one active version (raises DoesNotExist before the first publication)."""
        return self.get(status=ScoringMatrix.Status.ACTIVE)


class ScoringMatrix(Revised):
    """One version of the whole scoring configuration."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PROPOSED = "proposed", "Proposed"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    class BreadthMeasure(models.TextChoices):
        NONE = "", "No breadth points"
        ACTIVITIES = engine.BREADTH_ACTIVITIES, "per activity"
        TYPES = engine.BREADTH_TYPES, "per distinct activity type"

    version = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="drafts"
    )
    notes = models.TextField(blank=True)
    grade_a_min = models.IntegerField("Grade A from", default=60)
    grade_b_min = models.IntegerField("Grade B from", default=30)
    grade_c_min = models.IntegerField("Grade C from", default=0)
    breadth_measure = models.CharField(max_length=12, choices=BreadthMeasure.choices, blank=True, default="")
    breadth_window_days = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    breadth_points = models.IntegerField(default=0)
    breadth_cap = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    objects = MatrixQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="one_active_matrix"
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("scoring:version", args=[self.version])

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT

    def clean(self) -> None:
        if not self.grade_a_min > self.grade_b_min > self.grade_c_min:
            raise ValidationError("Grade cutoffs must fall from A to C: A from > B from > C from.")


class Condition(models.Model):
    """A test on one lead field, shared by fit criteria and persona rules."""

    field = models.CharField(
        max_length=80, help_text="A profile field, or attributes.<column> for an imported column."
    )
    operator = models.CharField(max_length=10, choices=OPERATOR_CHOICES)
    value = models.CharField(
        max_length=500, blank=True, help_text="For “is one of”, separate values by commas."
    )
    value_to = models.CharField("up to", max_length=40, blank=True, help_text="Upper end for “is between”.")

    class Meta:
        abstract = True

    def clean(self) -> None:
        errors = condition_errors(self.field, self.operator, self.value, self.value_to)
        if errors:
            raise ValidationError(errors)

    def as_condition(self) -> engine.Condition:
        return engine.Condition(self.field, self.operator, self.value, self.value_to)


def condition_errors(field: str, operator: str, value: str, value_to: str) -> dict[str, str]:
    """Name what is wrong with a condition, field by field (empty when it is fine)."""
    lead_field = lookup_field(field)
    if lead_field is None:
        return {"field": f"“{field}” is not a lead field; use a profile field or attributes.<column>."}
    if operator not in OPERATORS_FOR_KIND[lead_field.kind]:
        allowed = ", ".join(
            label for key, label in OPERATOR_CHOICES if key in OPERATORS_FOR_KIND[lead_field.kind]
        )
        return {"operator": f"{lead_field.label} is a {lead_field.kind} field; use one of: {allowed}."}
    if operator == engine.EMPTY:
        return {}
    if not value.strip():
        return {"value": "Enter a value to compare with."}
    if lead_field.kind == NUMBER:
        errors = {}
        if engine._number(value) is None:
            errors["value"] = f"“{value}” is not a number."
        if operator == engine.BETWEEN:
            if engine._number(value_to) is None:
                errors["value_to"] = f"“{value_to}” is not a number." if value_to else "Enter the upper end."
            elif "value" not in errors and engine._number(value_to) < engine._number(value):
                errors["value_to"] = "The upper end must not be below the lower end."
        return errors
    if operator == engine.ONE_OF and not engine.split_values(value):
        return {"value": "Enter at least one value, separated by commas."}
    return {}


class FitCriterion(Revised, Condition):
    matrix = models.ForeignKey(ScoringMatrix, on_delete=models.CASCADE, related_name="criteria")
    label = models.CharField(max_length=120, blank=True)
    points = models.IntegerField(help_text="Fit points when the criterion matches; may be negative.")
    position = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label or f"{self.field} {self.operator} {self.value}"


class Persona(Revised):
    matrix = models.ForeignKey(ScoringMatrix, on_delete=models.CASCADE, related_name="personas")
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=80)
    position = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["matrix", "key"], name="persona_key_per_matrix")]

    def __str__(self) -> str:
        return self.name


class PersonaRule(Revised, Condition):
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="rules")
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.field} {self.operator} {self.value}"


class Bucket(Revised):
    """Where a lead lands, with what sales should do about it."""

    matrix = models.ForeignKey(ScoringMatrix, on_delete=models.CASCADE, related_name="buckets")
    key = models.SlugField(max_length=30)
    name = models.CharField(max_length=60)
    rank = models.PositiveSmallIntegerField(help_text="0 is the coldest; floors and ceilings compare ranks.")
    action = models.CharField("follow-up action", max_length=300, blank=True)
    sla_hours = models.PositiveIntegerField("SLA (hours to first contact)", null=True, blank=True)
    priority = models.PositiveSmallIntegerField(default=100, help_text="1 is worked first in the queue.")
    in_queue = models.BooleanField("feeds the sales queue", default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-rank"]
        constraints = [
            models.UniqueConstraint(fields=["matrix", "key"], name="bucket_key_per_matrix"),
            models.UniqueConstraint(fields=["matrix", "rank"], name="bucket_rank_per_matrix"),
        ]

    def __str__(self) -> str:
        return self.name


class ScoreBand(Revised):
    matrix = models.ForeignKey(ScoringMatrix, on_delete=models.CASCADE, related_name="bands")
    key = models.SlugField(max_length=30)
    low = models.PositiveIntegerField()
    high = models.PositiveIntegerField(null=True, blank=True, help_text="Empty for the open-ended top band.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["low"]
        constraints = [models.UniqueConstraint(fields=["matrix", "key"], name="band_key_per_matrix")]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.low}+" if self.high is None else f"{self.low}–{self.high}"


class RoutingCell(Revised):
    """One cell of the grade × band grid: which bucket a lead lands in."""

    matrix = models.ForeignKey(ScoringMatrix, on_delete=models.CASCADE, related_name="cells")
    grade = models.CharField(max_length=1, choices=GRADE_CHOICES)
    band = models.ForeignKey(ScoreBand, on_delete=models.CASCADE, related_name="cells")
    bucket = models.ForeignKey(Bucket, on_delete=models.CASCADE, related_name="cells")
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["matrix", "grade", "band"], name="one_cell_per_grade_band")
        ]

    def __str__(self) -> str:
        return f"{self.grade} × {self.band}: {self.bucket}"


class ActivityWeight(Revised):
    matrix = models.ForeignKey(ScoringMatrix, on_delete=models.CASCADE, related_name="weights")
    activity_type = models.ForeignKey(ActivityType, on_delete=models.PROTECT, related_name="+")
    points = models.IntegerField(help_text="Points for one activity; negative takes points away.")
    half_life_days = models.FloatField(
        "half-life (days)",
        null=True,
        blank=True,
        help_text="Days after which an activity counts half; empty: no decay.",
    )
    cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="The most points this type can add (or take)."
    )
    floor_bucket = models.ForeignKey(
        Bucket,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="At least this bucket.",
    )
    ceiling_bucket = models.ForeignKey(
        Bucket,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="At most this bucket.",
    )
    override_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days the floor or ceiling holds after the latest such activity; empty: always.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["activity_type__name"]
        constraints = [
            models.UniqueConstraint(fields=["matrix", "activity_type"], name="one_weight_per_type")
        ]

    def __str__(self) -> str:
        return f"{self.activity_type}: {self.points:+d}"

    def clean(self) -> None:
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise ValidationError(
                {"half_life_days": "A half-life must be more than 0 days (leave it empty for no decay)."}
            )


class PersonaWeight(Revised):
    """A persona's multiplier on one activity type (video views count double for engineers)."""

    weight = models.ForeignKey(ActivityWeight, on_delete=models.CASCADE, related_name="persona_weights")
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="weights")
    multiplier = models.FloatField(validators=[MinValueValidator(0)])
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["weight", "persona"], name="one_multiplier_per_persona")
        ]

    def __str__(self) -> str:
        return f"{self.persona}: ×{self.multiplier:g}"


class JobStatus(models.TextChoices):
    """Where a piece of background work stands (full rescores, impact previews)."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RescoreRun(models.Model):
    """A full rescore in the background: what it rescored with, how far it got, how it ended."""

    Status = JobStatus

    matrix = models.ForeignKey(ScoringMatrix, on_delete=models.PROTECT, related_name="rescores")
    cause = models.CharField(max_length=12)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    transitions = models.PositiveIntegerField(default=0)
    last_lead_id = models.BigIntegerField(
        default=0, help_text="Resume point: leads up to this id are rescored."
    )
    scored_at = models.DateTimeField(
        help_text="The moment scores are computed for (decay is measured to it)."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Rescore with v{self.matrix.version} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("scoring:rescore", args=[self.pk])

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}


class Proposal(models.Model):
    """A draft put forward for publication, with its summary, approvals and comment thread."""

    class Status(models.TextChoices):
        OPEN = "open", "Awaiting approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded"
        PUBLISHED = "published", "Published"

    matrix = models.ForeignKey(ScoringMatrix, on_delete=models.PROTECT, related_name="proposals")
    summary = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    fingerprint = models.CharField(
        max_length=64, help_text="The draft's content when proposed; approvals need it unchanged."
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    proposed_at = models.DateTimeField()
    against = models.ForeignKey(
        ScoringMatrix,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The active version when proposed: the diff both sides approve is against it.",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-proposed_at", "-id"]

    def __str__(self) -> str:
        return f"Proposal #{self.pk} for v{self.matrix.version}"

    def get_absolute_url(self) -> str:
        return reverse("scoring:proposal", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in {self.Status.OPEN, self.Status.APPROVED}


class Approval(models.Model):
    """One side's approval of a proposal: one from Marketing, one from Sales manager, two people."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="approvals")
    role = models.CharField(max_length=40)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    fingerprint = models.CharField(max_length=64)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "role"], name="one_approval_per_side"),
            models.UniqueConstraint(fields=["proposal", "by"], name="one_approval_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.role} approval of #{self.proposal_id} by {self.by}"


class ProposalComment(models.Model):
    """A remark in a proposal's thread; a rejection is a comment that sends the draft back."""

    class Kind(models.TextChoices):
        COMMENT = "comment", "Comment"
        REJECTION = "rejection", "Rejection"

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="comments")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.COMMENT)
    text = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on #{self.proposal_id}"


class ImpactPreview(models.Model):
    """What a draft would do to today's leads, computed in the background (see scoring/preview.py)."""

    Status = JobStatus

    matrix = models.ForeignKey(ScoringMatrix, on_delete=models.CASCADE, related_name="previews")
    fingerprint = models.CharField(max_length=64, help_text="The draft content this preview is for.")
    scored_at = models.DateTimeField(help_text="The moment the draft scores leads for.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Preview of v{self.matrix.version} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}


class Publication(models.Model):
    """A version going live: who, when, what it replaced, and the figures just before (the baseline)."""

    matrix = models.OneToOneField(ScoringMatrix, on_delete=models.PROTECT, related_name="publication")
    previous = models.ForeignKey(
        ScoringMatrix, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposal = models.OneToOneField(Proposal, on_delete=models.PROTECT, related_name="publication")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()
    baseline = models.JSONField(help_text="Counts per bucket and grade, queue size and known outcomes.")
    rescore = models.ForeignKey(RescoreRun, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"v{self.matrix.version} published {self.at:%Y-%m-%d %H:%M}"
