"""The queue's rules, and the set-based rescoring that must follow them exactly."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from leads.models import Lead, Transition
from leads.queue import FAR_FUTURE, QueueState, next_queue_state
from scoring.rescore import rescore_all, rescore_leads
from tests.factories import add_activity, make_lead

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
OUT = QueueState(False, False, None, FAR_FUTURE, None, None, 0)


def step(old, *, old_rank=1, queue=True, rank=3, sla=48, now=NOW):
    return next_queue_state(old, old_rank=old_rank, in_queue_bucket=queue, rank=rank, sla_hours=sla, now=now)


def test_entering_the_queue_starts_the_sla_clock():
    state, recycled = step(OUT)
    assert state.in_queue and not recycled
    assert (state.queue_entered_at, state.due_at, state.first_contact_at) == (
        NOW,
        NOW + timedelta(hours=48),
        None,
    )


def test_a_hotter_bucket_before_first_contact_brings_the_due_time_closer_never_later():
    entered, _ = step(OUT, now=NOW - timedelta(hours=40))
    hotter, _ = step(entered, old_rank=3, rank=4, sla=4)
    assert hotter.due_at == NOW + timedelta(hours=4)
    cooler, _ = step(hotter, old_rank=4, rank=3, sla=48)
    assert cooler.due_at == NOW + timedelta(hours=4)


def test_leaving_the_queue_stops_the_clock():
    entered, _ = step(OUT)
    left, _ = step(entered, old_rank=3, queue=False, rank=1, sla=None)
    assert not left.in_queue and left.due_at == FAR_FUTURE


def test_a_closed_out_lead_stays_out_while_its_bucket_does_not_rise():
    closed = QueueState(False, True, None, FAR_FUTURE, NOW, NOW, 0)
    same, recycled = step(closed, old_rank=3, rank=3)
    assert not same.in_queue and same.closed_out and not recycled


def test_a_closed_out_lead_is_recycled_when_it_rises_into_a_queue_bucket_after_the_cool_off():
    closed = QueueState(False, True, NOW - timedelta(days=1), FAR_FUTURE, NOW - timedelta(days=30), NOW, 2)
    back, recycled = step(closed, old_rank=1, rank=3)
    assert recycled and back.in_queue and not back.closed_out
    assert back.recycled_count == 3 and back.queue_entered_at == NOW and back.first_contact_at is None


def test_no_recycling_before_the_cool_off_ends():
    cooling = QueueState(False, True, NOW + timedelta(days=1), FAR_FUTURE, None, NOW, 0)
    still, recycled = step(cooling, old_rank=1, rank=4)
    assert not recycled and not still.in_queue and still.closed_out


# --- the SQL path follows the same rules -------------------------------------------------------------

QUEUE_FIELDS = [
    "in_queue",
    "closed_out",
    "due_at",
    "queue_entered_at",
    "first_contact_at",
    "recycled_count",
    "bucket",
]


def _scenarios():
    """Leads in every combination of old bucket and closed-out state, with activity that moves them."""
    now = datetime.now(UTC).replace(microsecond=0)
    leads = []
    olds = ["", "dead", "nurture", "mql", "sales_ready"]
    for n, (old_bucket, closed, cool_off, activity) in enumerate(
        itertools.product(olds, [False, True], [None, 1, -1], ["demo_request", "email_open", None])
    ):
        lead = make_lead(seniority="head", industry="Software")
        if activity:
            add_activity(lead, activity, now - timedelta(hours=1))
        Lead.objects.filter(pk=lead.pk).update(
            bucket=old_bucket,
            in_queue=old_bucket in {"mql", "sales_ready"} and not closed,
            closed_out=closed,
            cool_off_until=None if cool_off is None else now + timedelta(days=cool_off),
            due_at=now + timedelta(hours=n) if old_bucket in {"mql", "sales_ready"} else FAR_FUTURE,
        )
        leads.append(lead.pk)
    return now, leads


@pytest.mark.django_db
def test_full_and_incremental_rescoring_agree_on_every_queue_field():
    now, ids = _scenarios()
    every_field = [
        *QUEUE_FIELDS,
        "fit_points",
        "grade",
        "score",
        "persona",
        "bucket_priority",
        "scored_version",
    ]
    before = {lead["id"]: lead for lead in Lead.objects.values("id", *every_field)}

    rescore_leads(ids, cause="activity", now=now)
    incremental = {lead["id"]: lead for lead in Lead.objects.values("id", *QUEUE_FIELDS)}
    incremental_transitions = sorted(
        Transition.objects.values_list("lead_id", "to_bucket", "in_queue", "cause")
    )

    Transition.objects.all().delete()
    for pk, row in before.items():
        Lead.objects.filter(pk=pk).update(**{k: v for k, v in row.items() if k != "id"})
    rescore_all(cause="activity", now=now)
    full = {lead["id"]: lead for lead in Lead.objects.values("id", *QUEUE_FIELDS)}
    full_transitions = sorted(Transition.objects.values_list("lead_id", "to_bucket", "in_queue", "cause"))

    mismatches = {pk: (before[pk], incremental[pk], full[pk]) for pk in full if full[pk] != incremental[pk]}
    assert not mismatches
    assert full_transitions == incremental_transitions
    assert any(cause == "recycle" for *_, cause in full_transitions)
    assert any(row["closed_out"] for row in full.values())
