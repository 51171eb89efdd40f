"""Daily snapshots per day and version, and the before/after comparison of a publication."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from feedback.dispositions import record_disposition
from feedback.models import DailySnapshot
from feedback.snapshots import compare_publication, take_snapshot
from scoring import governance
from tests.factories import make_queue_lead
from tests.scoring.governance_helpers import approved, draft_of, forget_cached_matrices, set_points

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    forget_cached_matrices()
    yield
    forget_cached_matrices()


def test_a_snapshot_stores_the_days_flows_and_stocks_for_the_live_version(rep):
    # Midday, so the lead's half hour in the queue falls on the same day whenever the test runs.
    now = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    lead = make_queue_lead(owner=rep, now=now - timedelta(minutes=30))
    record_disposition(lead_id=lead.pk, by=rep, outcome="connected", expected_owner_id=rep.pk, now=now)
    record_disposition(
        lead_id=lead.pk, by=rep, outcome="won", expected_owner_id=rep.pk, amount=Decimal(900), now=now
    )
    snapshot = take_snapshot(now=now + timedelta(minutes=1))
    assert snapshot.day == timezone.localdate(now) and snapshot.matrix.version == 1
    assert (snapshot.mqls, snapshot.accepted, snapshot.won, snapshot.won_value) == (1, 1, 1, Decimal(900))
    assert snapshot.grade_counts == {"A": 1} and snapshot.bucket_counts == {"mql": 1}
    assert snapshot.queue_size == 0  # a won lead leaves the queue
    assert snapshot.days_to_close == pytest.approx(0.0, abs=0.1)


def test_taking_the_snapshot_again_the_same_day_refreshes_it(rep):
    take_snapshot()
    make_queue_lead(owner=rep)
    take_snapshot()
    assert DailySnapshot.objects.count() == 1 and DailySnapshot.objects.get().queue_size == 1


def test_the_command_backfills_past_days_from_transitions(rep):
    now = timezone.now()
    make_queue_lead(owner=rep, now=now - timedelta(days=2))
    call_command("snapshot_daily", "--days", "4")
    by_day = {s.day: s for s in DailySnapshot.objects.all()}
    today = timezone.localdate(now)
    assert len(by_day) == 4
    assert by_day[today - timedelta(days=3)].queue_size == 0
    assert by_day[today - timedelta(days=1)].queue_size == 1


def test_before_after_compares_per_day_means_around_a_publication_beside_the_change(marketer, manager):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 25, by=marketer)
    proposal = approved(draft, marketer=marketer, manager=manager)
    publication = governance.publish_proposal(proposal=proposal, by=manager)
    day = timezone.localdate(publication.at)
    v1, v2 = publication.previous, publication.matrix
    for back, mqls in ((3, 2), (2, 4), (1, 6)):
        DailySnapshot.objects.create(
            day=day - timedelta(days=back), matrix=v1, mqls=mqls, taken_at=publication.at
        )
    for ahead, mqls in ((0, 8), (1, 10)):
        DailySnapshot.objects.create(
            day=day + timedelta(days=ahead), matrix=v2, mqls=mqls, taken_at=publication.at
        )
    comparison = compare_publication(publication=publication, days=7)
    mqls = next(r for r in comparison.rows if r["key"] == "mqls")
    assert (mqls["before"], mqls["after"], mqls["change"]) == (4.0, 9.0, 125.0)
    assert any("Whitepaper download" in c.text and "25" in c.text for c in comparison.changes)


def test_before_after_page_says_so_when_nothing_was_published(client, manager):
    client.force_login(manager)
    page = client.get("/reports/before-after/").content.decode()
    assert 'data-testid="empty-state"' in page and "No version has been published" in page
