"""Recording an activity stays a handful of round trips: every one is a wait on a busy database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.ingest import ActivityIn, record_activities, record_activity
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


def test_a_batch_of_ninety_costs_what_one_activity_does_plus_its_transitions(django_assert_max_num_queries):
    now = timezone.now()
    leads = [make_lead() for _ in range(30)]
    items = [
        ActivityIn(lead.email, "web_visit", now - timedelta(minutes=n), "web", f"b{n}")
        for n, lead in enumerate(leads * 3)
    ]
    # The same statements as one activity, plus one insert of the transitions of the 30 leads
    # (all unscored before) and the webhook configuration (cold cache here; kept 30 s after):
    # nothing grows with the batch.
    with django_assert_max_num_queries(10):
        record_activities(items, now=now)
