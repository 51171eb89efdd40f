"""Calibration: refusal on too little data, a suggestion that ranks better, a draft through governance."""

import random
from datetime import date

import pytest
from django.utils import timezone

from feedback.calibration import calibrate, create_draft_from_calibration, scaled_cap
from feedback.models import Disposition
from scoring.governance import GovernanceError
from scoring.models import FitCriterion, ScoringMatrix
from tests.factories import make_lead
from tests.scoring.governance_helpers import forget_cached_matrices

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    forget_cached_matrices()
    yield
    forget_cached_matrices()


def outcomes(*, converted: int, lost: int) -> None:
    """Leads with decisive outcomes: students mostly convert and executives mostly do not, against
    what the default matrix believes, so a calibration has something to correct."""
    rng = random.Random(7)
    now = timezone.now()
    rows = []
    for n in range(converted + lost):
        won = n < converted
        likely = "student" if won else "executive"
        seniority = likely if rng.random() < 0.85 else rng.choice(["student", "executive"])
        lead = make_lead(seniority=seniority, country=rng.choice(["Spain", "Chile"]))
        rows.append(Disposition(lead=lead, outcome="won" if won else "lost", at=now, imported=True,
                                amount=1000 if won else None))  # fmt: skip
    Disposition.objects.bulk_create(rows)


def test_calibration_refuses_with_the_reason_below_forty_outcomes_of_either_kind(marketer):
    outcomes(converted=39, lost=80)
    run = calibrate(by=marketer)
    assert run.result == {}
    assert (
        "39 leads converted" in run.refused and "80 did not" in run.refused and "at least 40" in run.refused
    )
    with pytest.raises(GovernanceError, match="no suggestion"):
        create_draft_from_calibration(calibration=run, by=marketer)


def test_calibration_suggests_points_that_rank_held_out_leads_better(marketer):
    outcomes(converted=60, lost=60)
    run = calibrate(by=marketer)
    assert run.refused == ""
    r = run.result
    assert (r["outcomes"], r["converted"], r["train"], r["test"]) == (120, 60, 84, 36)
    features = {f["label"]: f for f in r["features"]}
    assert features["Student"]["suggested"] > features["Executive (C-level, VP)"]["suggested"]
    assert features["Student"]["with_rate"] > features["Executive (C-level, VP)"]["with_rate"]
    # Nobody has an industry, so that criterion carries no evidence and keeps its points.
    assert features["Target industry"]["evidence"] is False
    assert features["Target industry"]["suggested"] == features["Target industry"]["current"] == 15
    assert r["current"]["auc"] < 0.5 < r["suggested"]["auc"]
    assert r["suggested"]["top_decile"] > r["base_rate"]
    assert sum(b["leads"] for b in r["current"]["bands"]) == 36


def test_a_draft_from_the_suggestion_takes_the_governance_path_and_leaves_the_active_version_alone(marketer):
    outcomes(converted=60, lost=60)
    run = calibrate(by=marketer)
    active_points = list(ScoringMatrix.objects.active().criteria.values_list("points", flat=True))
    draft = create_draft_from_calibration(calibration=run, by=marketer)
    assert draft.status == ScoringMatrix.Status.DRAFT and draft.based_on.version == 1
    assert list(ScoringMatrix.objects.active().criteria.values_list("points", flat=True)) == active_points
    student = draft.criteria.get(label="Student")
    suggested = next(f["suggested"] for f in run.result["features"] if f["label"] == "Student")
    assert student.points == suggested
    entry = FitCriterion.history.filter(id=student.pk).latest("history_date")
    assert entry.history_change_reason == f"Calibration #{run.pk}" and entry.history_user == marketer
    run.refresh_from_db()
    assert run.draft == draft
    with pytest.raises(GovernanceError, match="already made"):
        create_draft_from_calibration(calibration=run, by=marketer)


def test_a_rep_cannot_make_a_draft_from_a_suggestion(rep, marketer):
    outcomes(converted=60, lost=60)
    run = calibrate(by=marketer)
    with pytest.raises(Exception, match="Only Marketing and Sales managers"):
        create_draft_from_calibration(calibration=run, by=rep)
    assert ScoringMatrix.objects.filter(status=ScoringMatrix.Status.DRAFT).count() == 0


@pytest.mark.parametrize(
    ("cap", "old", "new", "expected"),
    [(30, 5, 10, 60), (30, 5, -10, 60), (None, 5, 10, None), (30, 0, 10, 30), (30, 5, 0, 30), (10, 50, 1, 1)],
)
def test_caps_scale_with_their_points(cap, old, new, expected):
    assert scaled_cap(cap, old, new) == expected


def test_the_calibration_page_runs_shows_current_and_suggested_and_makes_a_draft(client, marketer):
    outcomes(converted=60, lost=60)
    client.force_login(marketer)
    response = client.post("/calibration/")
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="criteria-table"' in page and 'data-testid="auc-suggested"' in page
    run_id = int(response["Location"].split("run=")[1])
    response = client.post(f"/calibration/{run_id}/draft/")
    draft = ScoringMatrix.objects.get(status=ScoringMatrix.Status.DRAFT)
    assert response.status_code == 302 and response["Location"] == f"/matrix/v{draft.version}/draft/"


def test_the_calibration_page_shows_the_refusal(client, manager):
    outcomes(converted=5, lost=5)
    client.force_login(manager)
    response = client.post("/calibration/", follow=True)
    assert 'data-testid="calibration-refused"' in response.content.decode()


def test_the_data_set_carries_what_the_import_pages_need_an_email_and_a_date_per_lead():
    from feedback.dataset import EXPORTED_ON, _email, generate_rows

    rows = generate_rows(count=50)
    assert all(row["email"] == _email(row) for row in rows)  # the loader and the pages make the same leads
    dates = [date.fromisoformat(row["last_activity_date"]) for row in rows]
    assert all(
        (EXPORTED_ON - d).days == int(row["last_activity_days_ago"])
        for d, row in zip(dates, rows, strict=True)
    )
