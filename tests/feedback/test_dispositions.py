"""Logging outcomes: what each does to the queue, and what is refused."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from feedback.dispositions import DispositionError, record_disposition
from feedback.models import Disposition, QueueSettings, Reason
from leads.ingest import ActivityIn, record_activity
from leads.models import Lead, Transition
from leads.queue import FAR_FUTURE
from tests.factories import make_queue_lead

pytestmark = pytest.mark.django_db


def log(lead, by, outcome, **kw):
    return record_disposition(lead_id=lead.pk, by=by, outcome=outcome, expected_owner_id=lead.owner_id, **kw)


def test_first_contact_stops_the_sla_clock_and_records_whether_it_was_in_time(rep):
    lead = make_queue_lead(owner=rep)
    log(lead, rep, "attempted")
    lead.refresh_from_db()
    assert lead.first_contact_at is None and lead.due_at < FAR_FUTURE
    log(lead, rep, "connected")
    lead.refresh_from_db()
    assert lead.first_contact_at is not None and lead.due_at == FAR_FUTURE and lead.sla_met is True
    assert lead.in_queue


def test_a_late_first_contact_is_recorded_as_outside_the_sla(rep):
    now = timezone.now()
    lead = make_queue_lead(owner=rep, now=now - timedelta(hours=50))
    log(lead, rep, "connected", now=now)
    lead.refresh_from_db()
    assert lead.sla_met is False


def test_disqualifying_takes_the_lead_out_of_the_queue_with_a_transition(rep):
    lead = make_queue_lead(owner=rep)
    reason = Reason.objects.get(code="no-budget")
    log(lead, rep, "disqualified", reason=reason, note="No budget until Q3")
    lead.refresh_from_db()
    assert not lead.in_queue and lead.closed_out and lead.bucket == "mql"
    assert lead.cool_off_until > timezone.now() + timedelta(days=QueueSettings.current().cool_off_days - 1)
    transition = lead.transitions.get(cause="disposition")
    assert (transition.from_bucket, transition.to_bucket, transition.in_queue, transition.by) == (
        "mql",
        "mql",
        False,
        rep,
    )
    assert Disposition.objects.get(lead=lead, outcome="disqualified").reason == reason


def test_a_disqualified_lead_is_recycled_when_new_activity_pushes_it_into_a_hotter_queue_bucket(rep):
    now = timezone.now()
    lead = make_queue_lead(owner=rep, now=now - timedelta(days=30))
    QueueSettings.objects.update_or_create(pk=1, defaults={"cool_off_days": 7})
    log(lead, rep, "disqualified", reason=Reason.objects.first(), now=now - timedelta(days=20))
    for n in range(3):
        record_activity(ActivityIn(lead.email, "video_view", now, "web", f"v{n}"), now=now)
    lead.refresh_from_db()
    assert lead.bucket == "sales_ready" and lead.in_queue and not lead.closed_out
    assert lead.recycled_count == 1
    assert lead.transitions.filter(cause="recycle", in_queue=True).exists()


def test_no_recycling_during_the_cool_off(rep):
    now = timezone.now()
    lead = make_queue_lead(owner=rep, now=now - timedelta(days=1))
    log(lead, rep, "nurture", reason=Reason.objects.first(), now=now - timedelta(hours=1))
    for n in range(3):
        record_activity(ActivityIn(lead.email, "video_view", now, "web", f"v{n}"), now=now)
    lead.refresh_from_db()
    assert lead.bucket == "sales_ready" and not lead.in_queue and lead.recycled_count == 0


@pytest.mark.parametrize(
    ("outcome", "extra", "field", "message"),
    [
        ("disqualified", {}, "reason", "Choose a reason"),
        ("nurture", {}, "reason", "Choose a reason"),
        ("opportunity", {}, "amount", "positive number"),
        ("won", {"amount": Decimal("-5")}, "amount", "positive number"),
        (
            "connected",
            {"next_follow_up": timezone.localdate() - timedelta(days=1)},
            "next_follow_up",
            "in the past",
        ),
        ("teleported", {}, "outcome", "Choose an outcome"),
    ],
)
def test_bad_outcomes_are_refused_and_nothing_is_saved(rep, outcome, extra, field, message):
    lead = make_queue_lead(owner=rep)
    with pytest.raises(DispositionError, match=message) as caught:
        log(lead, rep, outcome, **extra)
    assert caught.value.field == field
    assert not Disposition.objects.exists()
    assert Lead.objects.get(pk=lead.pk).in_queue


def test_a_retired_reason_is_refused_but_stays_on_old_records(rep):
    lead = make_queue_lead(owner=rep)
    reason = Reason.objects.get(code="bad-timing")
    old = make_queue_lead(owner=rep)
    log(old, rep, "nurture", reason=reason)
    Reason.objects.filter(pk=reason.pk).update(active=False)
    reason.refresh_from_db()
    with pytest.raises(DispositionError, match="has been retired"):
        log(lead, rep, "nurture", reason=reason)
    assert Disposition.objects.get(lead=old).reason == reason


def test_a_rep_cannot_log_on_another_reps_lead(rep, rep2):
    lead = make_queue_lead(owner=rep2)
    with pytest.raises(DispositionError, match="belongs to another rep"):
        record_disposition(lead_id=lead.pk, by=rep, outcome="connected", expected_owner_id=rep2.pk)


def test_a_form_filled_before_the_lead_was_reassigned_is_refused(rep, manager):
    lead = make_queue_lead(owner=rep)
    Lead.objects.filter(pk=lead.pk).update(owner=manager)
    with pytest.raises(DispositionError, match="reassigned"):
        record_disposition(lead_id=lead.pk, by=manager, outcome="connected", expected_owner_id=rep.pk)
    assert not Transition.objects.filter(cause="disposition").exists()


def test_logging_on_an_unassigned_lead_makes_it_the_reps(rep):
    lead = make_queue_lead()
    log(lead, rep, "attempted")
    assert Lead.objects.get(pk=lead.pk).owner == rep
