"""Getting activities in: record them once, and rescore their leads in the same transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from leads.models import Activity, Lead, Transition
from scoring.models import ActivityType
from scoring.rescore import rescore_leads, rescore_set, save_fields

# From this many touched leads on, a batch is rescored set-based in SQL (`rescore_set`): a couple of
# statements whatever the size, where the engine reads every activity into Python. Below it the
# engine is cheaper: the set-based statement costs milliseconds to build and plan.
SET_BASED_FROM = 20


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
    # The lead as rescored by this call (None when none of its activities was new, or when the
    # batch was rescored set-based), so a caller can answer with the new score without reading it.
    lead: Lead | None = field(default=None, compare=False, repr=False)


def record_activities(items: list[ActivityIn], *, now: datetime | None = None) -> list[Recorded]:
    """Store activities once per (source, event id), create unknown leads, rescore touched leads.

    Everything happens in one transaction: the scores a caller reads after this returns include
    these activities. Activities go in first, the leads are locked last, only to be rescored (set-
    based in SQL from `SET_BASED_FROM` leads on), so the locks are held briefly. Rescoring locks the touched leads in id order with `FOR NO KEY UPDATE`, which
    the key-share locks that inserting their activities takes do not conflict with, so concurrent
    batches that share leads queue up instead of deadlocking (bench_ingest checks it with 8 senders).
    """
    now = now or timezone.now()
    if not items:
        return []
    types = activity_type_ids()
    if any(item.activity_type not in types for item in items):
        types = activity_type_ids(fresh=True)
    for item in items:
        if item.activity_type not in types:
            raise IngestError(f"activity_type: unknown activity type {item.activity_type!r}")
    emails = [item.email.strip().lower() for item in items]
    with transaction.atomic():
        lead_ids = _lead_ids_for(set(emails))
        inserted = _insert_once(items, [lead_ids[e] for e in emails], types)
        duplicates = _stored_events({key for key, row in zip(_keys(items), inserted, strict=True) if not row})
        outcomes: list[tuple[int, int, bool]] = []
        touched: dict[int, datetime] = {}
        for item, email, key, row in zip(items, emails, _keys(items), inserted, strict=True):
            if row:
                lead_id = lead_ids[email]
                outcomes.append((row, lead_id, True))
                touched[lead_id] = max(touched.get(lead_id, item.occurred_at), item.occurred_at)
            else:
                outcomes.append((*duplicates[key], False))
        scored: dict[int, Lead] = {}
        if len(touched) >= SET_BASED_FROM:
            rescore_set(touched, cause=Transition.Cause.ACTIVITY, now=now, last_activity=touched)
        elif touched:
            leads = rescore_leads(touched, cause=Transition.Cause.ACTIVITY, now=now, last_activity=touched)
            scored = {lead.pk: lead for lead in leads}
        if touched:
            scores_changed.send(sender=Activity, lead_ids=sorted(touched), now=now)
    return [Recorded(pk, lead_id, created, scored.get(lead_id)) for pk, lead_id, created in outcomes]


def record_activity(item: ActivityIn, *, now: datetime | None = None) -> Recorded:
    """Record one activity (see `record_activities`)."""
    return record_activities([item], now=now)[0]


# Sent inside the ingest transaction after leads were rescored (their transitions written); webhooks
# listen, so `leads` does not import the integrations app that builds on it.
scores_changed = Signal()


def activity_type_ids(*, fresh: bool = False) -> dict[str, int]:
    """Activity type keys and their ids; types are only ever added, so a process keeps them a minute."""
    global _types_cache
    stamp = time.monotonic()
    if fresh or _types_cache is None or stamp - _types_cache[0] > 60:
        _types_cache = (stamp, dict(ActivityType.objects.values_list("key", "id")))
    return _types_cache[1]


_types_cache: tuple[float, dict[str, int]] | None = None


def _lead_ids_for(emails: set[str]) -> dict[str, int]:
    """Lead ids by email, creating the missing leads (ON CONFLICT DO NOTHING: a concurrent sender may too)."""
    ids = dict(Lead.objects.filter(email__in=emails).values_list("email", "id"))
    missing = sorted(emails - ids.keys())
    if missing:
        # Sorted, so two batches creating the same new leads wait for each other in one order.
        Lead.objects.bulk_create([Lead(email=email) for email in missing], ignore_conflicts=True)
        ids.update(Lead.objects.filter(email__in=missing).values_list("email", "id"))
    return ids


def _keys(items: list[ActivityIn]) -> list[tuple[str, str] | None]:
    return [(i.source, i.source_event_id) if i.source_event_id else None for i in items]


def _insert_once(items: list[ActivityIn], lead_ids: list[int], types: dict[str, int]) -> list[int | None]:
    """Insert the activities with `ON CONFLICT DO NOTHING`; the new row's id per item, None for a duplicate.

    A duplicate is an event already stored, one stored by a concurrent sender a moment ago (the
    insert waits for that sender's transaction), or an earlier item of the same batch.
    """
    fields = [
        Activity._meta.get_field(n)
        for n in (
            "lead",
            "activity_type",
            "occurred_at",
            "source",
            "source_event_id",
            "properties",
            "recorded_at",
        )
    ]
    table = Activity._meta.db_table
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    recorded_at = timezone.now()
    results: list[int | None] = [None] * len(items)
    seen: set[tuple[str, str]] = set()
    rows, positions = [], []
    for n, (item, lead_id, key) in enumerate(zip(items, lead_ids, _keys(items), strict=True)):
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        values = (
            lead_id,
            types[item.activity_type],
            item.occurred_at,
            item.source,
            key and key[1],
            item.properties,
            recorded_at,
        )
        rows.append([f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)])
        positions.append(n)
    # Insert in (source, event id) order: two senders inserting the same events wait for each
    # other on the unique index, and in one order they cannot each wait for the other (a deadlock).
    # The sort is stable, so rows without an event id keep their order.
    order = sorted(range(len(rows)), key=lambda r: _keys([items[positions[r]]])[0] or ("", ""))
    rows, positions = [rows[r] for r in order], [positions[r] for r in order]
    returning = f"ON CONFLICT DO NOTHING RETURNING id, {quote('source')}, {quote('source_event_id')}"
    for start in range(0, len(rows), 1000):
        chunk, where = rows[start : start + 1000], positions[start : start + 1000]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # One array per column: 7 parameters for the driver and planner, not 7,000.
                arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
                sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) {returning}"
                cursor.execute(sql, [list(column) for column in zip(*chunk, strict=True)])
            else:
                placeholders = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(chunk))
                sql = f"INSERT INTO {table} ({columns}) VALUES {placeholders} {returning}"
                cursor.execute(sql, [value for row in chunk for value in row])
            returned = cursor.fetchall()
        # Rows with an event id are matched by it; rows without one are never skipped and come
        # back in the order they were given (as Django's own bulk_create relies on).
        by_key = {(s, e): pk for pk, s, e in returned if e is not None}
        plain = iter(pk for pk, _, e in returned if e is None)
        for n in where:
            key = _keys([items[n]])[0]
            results[n] = by_key.get(key) if key else next(plain)
    return results


def _stored_events(keys: set[tuple[str, str] | None]) -> dict[tuple[str, str], tuple[int, int]]:
    """(activity id, lead id) of events already stored, by (source, event id)."""
    keys.discard(None)
    found: dict[tuple[str, str], tuple[int, int]] = {}
    by_source: dict[str, list[str]] = {}
    for source, event_id in keys:
        by_source.setdefault(source, []).append(event_id)
    for source, event_ids in by_source.items():
        rows = Activity.objects.filter(source=source, source_event_id__in=event_ids).values_list(
            "source_event_id", "id", "lead_id"
        )
        for event_id, pk, lead_id in rows:
            found[(source, event_id)] = (pk, lead_id)
    return found


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
    now = now or timezone.now()
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
        if len(changed_ids) >= SET_BASED_FROM:
            rescore_set(changed_ids, cause=Transition.Cause.PROFILE, now=now)
        elif changed_ids:
            rescore_leads(changed_ids, cause=Transition.Cause.PROFILE, now=now)
            scores_changed.send(sender=Lead, lead_ids=changed_ids, now=now)
    return [Upserted(*statuses[item.email.strip().lower()]) for item in items]


def _validate(lead: Lead, *, exclude: list[str]) -> None:
    try:
        lead.full_clean(exclude=exclude, validate_unique=False)
    except ValidationError as error:
        name, messages = next(iter(error.message_dict.items()))
        raise IngestError(f"{name}: {messages[0]} ({lead.email})") from None
