"""Getting activities in: record them once, and rescore their leads in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from leads.models import Activity, Lead, Transition
from scoring.models import ActivityType
from scoring.rescore import rescore_leads, save_fields


class IngestError(ValueError):
    """An activity that cannot be recorded; the message names the field and the problem."""


@dataclass(frozen=True)
class ActivityIn:
    email: str
    activity_type: str
    occurred_at: datetime
    source: str = ""
    source_event_id: str | None = None
    properties: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    activity_id: int
    lead_id: int
    created: bool


def record_activities(items: list[ActivityIn], *, now: datetime | None = None) -> list[Recorded]:
    """Store activities once per (source, event id), create unknown leads, rescore touched leads.

    Everything happens in one transaction: the scores a caller reads after this returns include
    these activities. Leads are locked in id order by the rescoring, so concurrent batches that
    share leads queue up instead of deadlocking.
    """
    now = now or timezone.now()
    types = dict(
        ActivityType.objects.filter(key__in={i.activity_type for i in items}).values_list("key", "id")
    )
    for item in items:
        if item.activity_type not in types:
            raise IngestError(f"activity_type: unknown activity type {item.activity_type!r}")
    with transaction.atomic():
        leads = _leads_for({i.email.strip().lower() for i in items})
        results = []
        touched: dict[int, datetime] = {}
        for item in items:
            lead = leads[item.email.strip().lower()]
            activity, created = _insert_once(item, lead.pk, types[item.activity_type])
            results.append(Recorded(activity.pk, lead.pk, created))
            if created:
                touched[lead.pk] = max(touched.get(lead.pk, item.occurred_at), item.occurred_at)
        for lead_id, latest in sorted(touched.items()):
            Lead.objects.filter(
                Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=latest), pk=lead_id
            ).update(last_activity_at=latest)
        if touched:
            rescore_leads(touched, cause=Transition.Cause.ACTIVITY, now=now)
    return results


def record_activity(item: ActivityIn, *, now: datetime | None = None) -> Recorded:
    """Record one activity (see `record_activities`)."""
    return record_activities([item], now=now)[0]


def _leads_for(emails: set[str]) -> dict[str, Lead]:
    """Existing leads by email, creating the missing ones (in sorted order, so batches agree)."""
    leads = {lead.email: lead for lead in Lead.objects.filter(email__in=emails)}
    for email in sorted(emails - leads.keys()):
        try:
            with transaction.atomic():
                leads[email] = Lead.objects.create(email=email)
        except IntegrityError:  # created by a concurrent request a moment ago
            leads[email] = Lead.objects.get(email=email)
    return leads


def _insert_once(item: ActivityIn, lead_id: int, type_id: int) -> tuple[Activity, bool]:
    if item.source_event_id:
        existing = Activity.objects.filter(source=item.source, source_event_id=item.source_event_id).first()
        if existing:
            return existing, False
    activity = Activity(
        lead_id=lead_id,
        activity_type_id=type_id,
        occurred_at=item.occurred_at,
        source=item.source,
        source_event_id=item.source_event_id or None,
        properties=item.properties,
    )
    try:
        with transaction.atomic():
            activity.save()
    except IntegrityError:  # the same event, stored by a concurrent request
        return Activity.objects.get(source=item.source, source_event_id=item.source_event_id), False
    return activity, True


# Leads: profile fields and free attributes, upserted by email.

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "title",
    "seniority",
    "department",
    "industry",
    "company_size",
    "revenue_potential",
    "country",
    "source",
)


@dataclass(frozen=True)
class LeadIn:
    """One lead's profile as a sender or an import row gives it; values already of the field's type.

    Only the fields present in `profile` change; `attributes` are merged into the lead's attributes.
    """

    email: str
    profile: dict = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Upserted:
    lead_id: int
    status: str  # "created", "updated" or "unchanged"


def upsert_leads(items: list[LeadIn], *, now: datetime | None = None) -> list[Upserted]:
    """Create or update leads by email in one transaction; rescore those whose profile changed.

    Existing leads are locked in id order (the order rescoring locks them in), so an upsert and a
    concurrent activity batch for the same leads queue up instead of deadlocking. When one email
    appears twice, the later item wins, as a later line of a file would.
    """
    unknown = {key for item in items for key in item.profile} - set(PROFILE_FIELDS)
    if unknown:
        raise IngestError(f"{sorted(unknown)[0]}: not a lead field")
    merged: dict[str, LeadIn] = {}
    for item in items:
        email = item.email.strip().lower()
        before = merged.get(email)
        if before:
            item = LeadIn(email, {**before.profile, **item.profile}, {**before.attributes, **item.attributes})
        merged[email] = item
    with transaction.atomic():
        existing = {
            lead.email: lead
            for lead in Lead.objects.select_for_update().filter(email__in=merged).order_by("pk")
        }
        statuses: dict[str, tuple[int, str]] = {}
        new: list[Lead] = []
        changed: dict[frozenset, list[Lead]] = {}  # leads grouped by the fields that changed
        for email in sorted(merged):
            item = merged[email]
            lead = existing.get(email)
            if lead is None:
                lead = Lead(email=email, **item.profile, attributes=dict(item.attributes))
                _validate(lead, exclude=["scored_version", "owner"])
                new.append(lead)
                continue
            changes = {name: value for name, value in item.profile.items() if getattr(lead, name) != value}
            attributes = {**lead.attributes, **item.attributes}
            if attributes != lead.attributes:
                changes["attributes"] = attributes
            if not changes:
                statuses[email] = (lead.pk, "unchanged")
                continue
            for name, value in changes.items():
                setattr(lead, name, value)
            _validate(lead, exclude=["scored_version", "owner", "email"])
            lead.updated_at = timezone.now()
            changed.setdefault(frozenset(changes), []).append(lead)
            statuses[email] = (lead.pk, "updated")
        # One INSERT for the new leads and one prepared UPDATE per set of changed fields: saving
        # leads one by one costs more than scoring them.
        Lead.objects.bulk_create(new)
        for lead in new:
            statuses[lead.email] = (lead.pk, "created")
        for names, leads in changed.items():
            save_fields(leads, [*sorted(names), "updated_at"])
        changed_ids = [pk for pk, status in statuses.values() if status != "unchanged"]
        if changed_ids:
            rescore_leads(changed_ids, cause=Transition.Cause.PROFILE, now=now)
    return [Upserted(*statuses[item.email.strip().lower()]) for item in items]


def _validate(lead: Lead, *, exclude: list[str]) -> None:
    try:
        lead.full_clean(exclude=exclude, validate_unique=False)
    except ValidationError as error:
        name, messages = next(iter(error.message_dict.items()))
        raise IngestError(f"{name}: {messages[0]} ({lead.email})") from None
