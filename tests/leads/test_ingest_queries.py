"""Recording an activity stays a handful of round trips: every one is a wait on a busy database."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from leads.ingest import ActivityIn, record_activities, record_activity
from leads.models import Lead
from tests.factories import make_lead

pytestmark = pytest.mark.django_db


def test_one_activity_for_a_known_lead_is_eight_statements_or_fewer(django_assert_max_num_queries):
    now = timezone.now()
    lead = make_lead()
    for n in range(5):
        record_activity(
            ActivityIn(lead.email, "web_visit", now - timedelta(hours=n), "web", f"v{n}"), now=now
        )
    # Savepoint, lead, insert, active matrix, lock-and-read lead, activities, update, release.
    with django_assert_max_num_queries(8):
        record_activity(ActivityIn(lead.email, "email_open", now, "esp", "o-1"), now=now)


def test_a_batch_of_ninety_is_rescored_in_a_fixed_number_of_statements(django_assert_max_num_queries):
    now = timezone.now()
    leads = [make_lead() for _ in range(30)]
    record_activity(ActivityIn(leads[0].email, "web_visit", now, "web", "warm"), now=now)  # caches warm
    items = [
        ActivityIn(lead.email, "web_visit", now - timedelta(minutes=n), "web", f"b{n}")
        for n, lead in enumerate(leads * 3)
    ]
    # 30 leads: rescored set-based. Savepoint, leads, insert, active matrix, then on PostgreSQL
    # lock and one statement that scores, writes transitions and leads; on SQLite the last activity
    # times, a temporary table of new scores (drop, create, transitions, update, drop). Then the
    # webhook configuration (cold cache here; kept 30 s after) and release: nothing grows with the batch.
    with django_assert_max_num_queries(8 if connection.vendor == "postgresql" else 12):
        record_activities(items, now=now)
    assert Lead.objects.filter(pk__in=[lead.pk for lead in leads], last_activity_at=now).count() == 1
    assert set(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("scored_at", flat=True)
    ) == {now}
