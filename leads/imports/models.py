"""An import: the uploaded file's shape, the mapping chosen, its progress and counts; remembered mappings."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.urls import reverse


class ImportJob(models.Model):
    """One uploaded file on its way in: mapped, previewed, then imported in the background."""

    class Kind(models.TextChoices):
        LEADS = "leads", "Leads"
        ACTIVITIES = "activities", "Activities"
        OUTCOMES = "outcomes", "Historical outcomes"

    class Status(models.TextChoices):
        MAPPING = "mapping", "Waiting for the mapping"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.MAPPING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # The file: kept under IMPORTS_DIR until the import finishes (see docs/imports.md).
    original_name = models.CharField(max_length=255)
    stored_name = models.CharField(
        max_length=255, blank=True, help_text="Under IMPORTS_DIR; blank once removed."
    )
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    encoding = models.CharField(max_length=20)
    delimiter = models.CharField(max_length=1)
    headers = models.JSONField(default=list)
    total = models.PositiveIntegerField(default=0, help_text="Data rows in the file.")

    mapping = models.JSONField(
        default=dict, blank=True, help_text="Column header -> field, attribute or skip."
    )
    options = models.JSONField(default=dict, blank=True)

    # Progress and the result. Rows are counted once each: done = created + updated + duplicate + rejected.
    done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    duplicate = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.original_name}"

    def get_absolute_url(self) -> str:
        return reverse("imports:job", args=[self.pk])

    @property
    def path(self) -> Path | None:
        return Path(settings.IMPORTS_DIR) / self.stored_name if self.stored_name else None

    @property
    def encoding_name(self) -> str:
        names = {"utf-8-sig": "UTF-8 (with byte-order mark)", "cp1252": "Windows-1252", "latin-1": "Latin-1"}
        return names.get(self.encoding, self.encoding.upper())

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}

    @property
    def can_start(self) -> bool:
        return self.status in {self.Status.MAPPING, self.Status.FAILED} and bool(self.stored_name)


class Rejection(models.Model):
    """A row an import refused, kept with its cells so it can be downloaded, fixed and imported again."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejections")
    row = models.PositiveIntegerField(help_text="The row number as a spreadsheet shows it (header = 1).")
    reason = models.CharField(max_length=300)
    cells = models.JSONField(default=list)

    class Meta:
        ordering = ["job", "row"]
        indexes = [models.Index(fields=["job", "row"], name="rejection_job_row")]

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


class SavedMapping(models.Model):
    """The mapping last used for a set of column headers, offered again for the next file like it."""

    kind = models.CharField(max_length=12, choices=ImportJob.Kind.choices)
    signature = models.CharField(max_length=64, help_text="Hash of the normalised, sorted headers.")
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    options = models.JSONField(default=dict, blank=True)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    saved_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-saved_at"]
        constraints = [models.UniqueConstraint(fields=["kind", "signature"], name="one_mapping_per_headers")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} mapping for {len(self.headers)} columns"
