"""The impact preview and backtest: computed with publishing's own SQL, equal to what publishing does."""

from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from feedback.models import Disposition
from leads.models import Lead
from scoring import governance
from scoring.models import ImpactPreview
from scoring.preview import impact, run_preview, start_preview
from scoring.rescore import rescore_all
from tests.factories import add_activity, make_lead
from tests.scoring.governance_helpers import (
    approved,
    cell,
    draft_of,
    forget_cached_matrices,
    proposed,
    set_points,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_matrix_cache():
    forget_cached_matrices()


def _outcome(lead: Lead, outcome: str, at) -> None:
    Disposition.objects.create(lead=lead, outcome=outcome, at=at)


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def leads(now):
    """A spread of leads scored by v1: executives, heads, staff, students, with activities and outcomes."""
    made = []
    for n, seniority in enumerate(
        ["executive", "head", "head", "manager", "staff", "student", "head", "staff"]
    ):
        lead = make_lead(seniority=seniority, industry="Software" if n % 2 else "Retail")
        for k in range(n % 4):
            add_activity(lead, "whitepaper_download", now - timedelta(days=k + 1))
        if n % 3 == 0:
            add_activity(lead, "web_visit", now - timedelta(hours=n + 1))
        made.append(lead)
    rescore_all(cause="publish", now=now)
    _outcome(made[1], "won", now)
    _outcome(made[2], "lost", now)
    _outcome(made[3], "opportunity", now)
    _outcome(made[6], "disqualified", now)
    return made


@pytest.fixture
def draft(marketer):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 30, by=marketer)
    row = cell(draft, "B", "warm")
    governance.edit_item(
        item=row, revision=row.revision, values={"bucket": draft.buckets.get(key="mql")}, by=marketer
    )
    return draft


def _counts(field: str) -> dict[str, int]:
    return dict(Lead.objects.values_list(field).annotate(n=Count("id")).order_by())


def test_the_preview_equals_what_publishing_then_produces(
    leads, draft, marketer, manager, now, django_capture_on_commit_callbacks
):
    before_buckets, before_grades = _counts("bucket"), _counts("grade")
    before_queue = Lead.objects.in_queue().count()
    result = impact(matrix=draft, now=now, batch_size=3)
    assert {b["key"]: b["before"] for b in result["buckets"] if b["before"]} == before_buckets
    assert {g["grade"]: g["before"] for g in result["grades"] if g["before"]} == before_grades
    assert result["queue"]["before"] == before_queue

    proposal = approved(draft, marketer=marketer, manager=manager)
    with django_capture_on_commit_callbacks(execute=True):
        governance.publish_proposal(proposal=proposal, by=manager, now=now)
    assert {b["key"]: b["after"] for b in result["buckets"] if b["after"]} == _counts("bucket")
    assert {g["grade"]: g["after"] for g in result["grades"] if g["after"]} == _counts("grade")
    assert result["queue"]["after"] == Lead.objects.in_queue().count()
    assert (
        result["queue"]["after"] - result["queue"]["before"]
        == result["queue"]["entering"] - result["queue"]["leaving"]
    )
    assert result["queue"]["entering"] > 0  # the draft is more generous, so the test means something


def test_the_preview_writes_nothing(leads, draft, now):
    stored = list(
        Lead.objects.order_by("pk").values_list("pk", "grade", "score", "bucket", "in_queue", "scored_at")
    )
    impact(matrix=draft, now=now)
    assert (
        list(
            Lead.objects.order_by("pk").values_list("pk", "grade", "score", "bucket", "in_queue", "scored_at")
        )
        == stored
    )


def test_the_samples_name_leads_entering_the_queue_with_old_and_new_labels(leads, draft, now):
    result = impact(matrix=draft, now=now)
    assert len(result["entering"]) == result["queue"]["entering"]
    entering = result["entering"][0]
    lead = Lead.objects.get(pk=entering["id"])
    assert entering["before"]["label"] == lead.label and not lead.in_queue
    assert entering["after"]["bucket"] in {"mql", "sales_ready"}


def test_the_backtest_compares_queues_against_known_outcomes(leads, draft, now):
    result = impact(matrix=draft, now=now)
    backtest = result["backtest"]
    outcomes = {leads[1].pk: True, leads[2].pk: False, leads[3].pk: True, leads[6].pk: False}
    assert (backtest["known"], backtest["converted"]) == (4, 2)
    in_queue_now = set(Lead.objects.in_queue().values_list("pk", flat=True))
    queue_now = [pk for pk in outcomes if pk in in_queue_now]
    caught_now = [pk for pk in queue_now if outcomes[pk]]
    assert backtest["current"]["queue"] == len(queue_now)
    assert backtest["current"]["converted"] == len(caught_now)
    assert backtest["current"]["recall"] == round(100.0 * len(caught_now) / 2, 1)
    assert backtest["draft"]["queue"] >= backtest["current"]["queue"]


def test_a_preview_runs_in_the_background_with_progress(
    leads, draft, now, settings, django_capture_on_commit_callbacks
):
    settings.LEADMATRIX = settings.LEADMATRIX | {"RESCORE_BATCH_SIZE": 3}
    with django_capture_on_commit_callbacks(execute=True):
        preview = start_preview(matrix=draft, now=now)
    preview.refresh_from_db()
    assert (preview.status, preview.done, preview.total, preview.percent) == ("done", 8, 8, 100)
    assert preview.result == impact(matrix=draft, now=now)


def test_proposing_starts_a_preview_that_the_page_polls_until_done(client, leads, draft, marketer, now):
    proposal = proposed(draft, by=marketer)  # on_commit never fires here: the preview stays queued
    preview = ImpactPreview.objects.get(matrix=draft)
    client.force_login(marketer)
    html = client.get(
        f"/matrix/proposals/{proposal.pk}/preview/", headers={"HX-Request": "true"}
    ).content.decode()
    assert 'hx-trigger="every 1s"' in html and "<html" not in html
    run_preview(preview.pk)
    html = client.get(
        f"/matrix/proposals/{proposal.pk}/preview/", headers={"HX-Request": "true"}
    ).content.decode()
    assert "hx-trigger" not in html and 'data-testid="backtest"' in html


def test_a_preview_of_an_older_content_is_not_shown_as_current(leads, draft, marketer, now, client):
    proposal = proposed(draft, by=marketer)
    run_preview(ImpactPreview.objects.get(matrix=draft).pk)
    set_points(draft, "web_visit", 9, by=marketer)
    client.force_login(marketer)
    html = client.get(f"/matrix/proposals/{proposal.pk}/").content.decode()
    assert "No preview for the draft as it is now" in html
    assert 'data-testid="stale"' in html


def test_a_lead_a_rep_closed_out_is_previewed_as_publishing_treats_it(
    leads, draft, marketer, manager, now, django_capture_on_commit_callbacks
):
    if not hasattr(Lead, "closed_out"):
        pytest.skip("the queue's closed-out state is not part of leads yet")
    # A rep closed out an MQL: it left the queue, and staying an MQL does not bring it back.
    closed = Lead.objects.filter(in_queue=True, bucket="mql").first()
    Lead.objects.filter(pk=closed.pk).update(closed_out=True, in_queue=False)
    result = impact(matrix=draft, now=now)
    assert closed.pk not in {row["id"] for row in result["entering"]}
    proposal = approved(draft, marketer=marketer, manager=manager)
    with django_capture_on_commit_callbacks(execute=True):
        governance.publish_proposal(proposal=proposal, by=manager, now=now)
    assert not Lead.objects.get(pk=closed.pk).in_queue
    assert result["queue"]["after"] == Lead.objects.in_queue().count()
    assert {b["key"]: b["after"] for b in result["buckets"] if b["after"]} == _counts("bucket")
