"""Small factory functions for tests: explicit arguments, sensible defaults, nothing hidden."""

from __future__ import annotations

import itertools
from datetime import datetime

from django.contrib.auth.models import Group, User
from django.utils import timezone

from leads.models import Activity, Lead
from scoring.models import ActivityType

PASSWORD = "a-long-test-password"
_counter = itertools.count(1)


def make_user(username: str, role: str | None, *, staff: bool = False) -> User:
    user = User.objects.create_user(
        username, f"{username}@example.com", PASSWORD, is_staff=staff, is_superuser=staff
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def make_lead(**fields) -> Lead:
    n = next(_counter)
    defaults = {
        "email": f"lead{n}@example.org",
        "first_name": "Lee",
        "last_name": f"Number{n}",
        "company": "Acme",
    }
    return Lead.objects.create(**(defaults | fields))


def add_activity(lead: Lead, type_key: str, at: datetime | None = None, **fields) -> Activity:
    return Activity.objects.create(
        lead=lead,
        activity_type=ActivityType.objects.get(key=type_key),
        occurred_at=at or timezone.now(),
        **fields,
    )


def make_queue_lead(*, now: datetime | None = None, owner: User | None = None, **fields) -> Lead:
    """A lead in the sales queue: an executive who just asked for a demo (A52, MQL, 48 h SLA)."""
    from leads.ingest import ActivityIn, record_activity

    now = now or timezone.now()
    lead = make_lead(**({"seniority": "executive"} | fields))
    record_activity(ActivityIn(lead.email, "demo_request", now, "test", f"demo-{lead.pk}"), now=now)
    if owner is not None:
        Lead.objects.filter(pk=lead.pk).update(owner=owner)
    lead.refresh_from_db()
    return lead
