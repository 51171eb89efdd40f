"""The ingest API's request and response shapes (pydantic via django-ninja), and their checks."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from ninja import Field, Schema
from pydantic import AfterValidator, ConfigDict

from leads.models import Lead

MAX_BATCH = 1000
# An activity older than this, or more than a day ahead of the server clock, is a sender's bug.
OLDEST_ACTIVITY = timedelta(days=365 * 10)
FUTURE_SLACK = timedelta(days=1)


def _email(value: str) -> str:
    value = value.strip().lower()
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValueError("not a valid email address") from None
    return value


def _recent(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # documented: a time without offset is UTC
    now = timezone.now()
    if value > now + FUTURE_SLACK:
        raise ValueError("is in the future")
    if value < now - OLDEST_ACTIVITY:
        raise ValueError("is more than 10 years ago")
    return value


Email = Annotated[str, Field(max_length=254, examples=["ann@example.com"]), AfterValidator(_email)]
RecentTime = Annotated[datetime, AfterValidator(_recent)]


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class ActivityIn(Strict):
    """One thing a lead did. The lead is created when its email is new."""

    email: Email
    type: str = Field(
        max_length=60, examples=["whitepaper_download"], description="An activity type key (see docs/api.md)."
    )
    occurred_at: RecentTime = Field(description="ISO 8601; without an offset it is read as UTC.")
    source: str = Field("", max_length=60, description="The sending system, e.g. `mautic`.")
    event_id: str | None = Field(
        None, max_length=120, description="The source's own id: the same (source, event_id) is stored once."
    )
    properties: dict[str, Any] = Field(default_factory=dict)


class LeadIn(Strict):
    """A lead's profile; only the fields sent change, `attributes` are merged."""

    email: Email
    first_name: str = Field(None, max_length=80)
    last_name: str = Field(None, max_length=80)
    company: str = Field(None, max_length=160)
    title: str = Field(None, max_length=160)
    seniority: Literal["", *Lead.Seniority.values] = None  # type: ignore[valid-type]
    department: str = Field(None, max_length=60)
    industry: str = Field(None, max_length=60)
    company_size: int | None = Field(None, ge=0, le=2_147_483_647)
    revenue_potential: int | None = Field(None, ge=0, le=9_223_372_036_854_775_807)
    country: str = Field(None, max_length=60)
    source: str = Field(None, max_length=60)
    attributes: dict[str, Any] = Field(default_factory=dict)


class FieldError(Schema):
    field: str = Field(examples=["email"])
    message: str = Field(examples=["not a valid email address"])


class ErrorOut(Schema):
    detail: str
    errors: list[FieldError] = []


class LeadRef(Schema):
    id: int
    email: str
    grade: str
    score: int
    label: str = Field(examples=["B72"])
    bucket: str


class ActivityOut(Schema):
    status: Literal["created", "duplicate"]
    activity_id: int
    lead: LeadRef


class ItemResult(Schema):
    index: int
    status: Literal["created", "duplicate", "updated", "unchanged", "rejected"]
    id: int | None = None
    lead_id: int | None = None
    errors: list[FieldError] = []


class BatchOut(Schema):
    counts: dict[str, int] = Field(examples=[{"created": 998, "duplicate": 1, "rejected": 1}])
    results: list[ItemResult]


class UpsertOut(Schema):
    status: Literal["created", "updated", "unchanged"]
    lead_id: int


class ExplanationOut(Schema):
    criteria: list[dict[str, Any]]
    activity_types: list[dict[str, Any]]
    breadth_points: float
    override: str | None
    next_step: dict[str, Any] | None


class LeadOut(LeadRef):
    first_name: str
    last_name: str
    company: str
    fit_points: int
    persona: str
    in_queue: bool
    scored_at: datetime | None
    last_activity_at: datetime | None
    explanation: ExplanationOut


class QueueItem(LeadRef):
    name: str
    company: str
    bucket_priority: int
    due_at: datetime | None
    owner: str | None


class QueueOut(Schema):
    items: list[QueueItem]
    next: str | None = Field(description="Pass as `after` for the next page; null on the last page.")


# Deeper JSON than this is refused before anything walks it: Python's json parser accepts nesting up to
# about 1,000 levels in C, while the recursive checks below (and pydantic) would overflow the stack on it.
MAX_DEPTH = 64


def too_deep(value: Any, *, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects are nested more than `limit` levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def bad_values(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first value the database cannot store (NUL, lone surrogate, NaN/infinity), as (path, problem)."""
    if isinstance(value, str):
        if "\x00" in value:
            return path, "contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, "is not valid Unicode"
    elif isinstance(value, float) and not math.isfinite(value):
        return path, "is not a finite number"
    elif isinstance(value, dict):
        for key, item in value.items():
            found = bad_values(key, f"{path}.{key!r}".lstrip(".")) or bad_values(
                item, f"{path}.{key}".lstrip(".")
            )
            if found:
                return found
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found = bad_values(item, f"{path}[{n}]")
            if found:
                return found
    return None
