"""Getting activities in: record them once, and rescore their leads in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from leads.models import Activity, Lead, Transition
from scoring.models import ActivityType
from scoring.rescore import rescore_leads


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
