"""The matrix pages, the lead page's explanation, and rescore progress."""

from datetime import timedelta

import pytest
from django.utils import timezone

from scoring.models import RescoreRun, ScoringMatrix
from scoring.rescore import rescore_all
from tests.factories import add_activity, make_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(marketer):
    now = timezone.now()
    boss = make_lead(first_name="Bea", seniority="executive", industry="Software", company_size=5000)
    add_activity(boss, "video_view", now - timedelta(days=1))
    add_activity(boss, "video_view", now - timedelta(days=2))
    add_activity(boss, "pricing_visit", now - timedelta(hours=3))
    student = make_lead(first_name="Stu", seniority="student")
    add_activity(student, "email_open", now - timedelta(days=40))
    rescore_all(cause="publish", now=now)
    return boss, student


def test_the_active_matrix_page_shows_the_grid_with_lead_counts(client, marketer, scored):
    client.force_login(marketer)
    html = client.get("/matrix/").content.decode()
    assert 'data-testid="routing-grid"' in html
    assert "Score 80+" in html and "Sales-ready" in html
    # Bea: A with 30+30 (decayed) + 10 + breadth 4 -> A × 40–79 = MQL; Stu: D × 0–5.
    assert html.count('<span class="lm-count">1</span>') == 2
    assert "Whitepaper download" in html and "Executive (C-level, VP)" in html


def test_the_versions_page_lists_every_version(client, rep, scored):
    client.force_login(rep)
    html = client.get("/matrix/versions/").content.decode()
    assert "v1" in html and "Starting matrix" in html and "Active" in html


def test_a_lead_page_explains_the_score_in_plain_words(client, rep, scored):
    boss, _ = scored
    client.force_login(rep)
    html = client.get(f"/leads/{boss.pk}/").content.decode()
    boss.refresh_from_db()
    assert boss.label in html
    assert "+40</span> Executive (C-level, VP)" in html
    assert "Product video view" in html
    assert "more engagement point" in html and "Sales-ready" in html


def test_the_lead_list_filters_by_grade_and_pages_by_keyset(client, rep, scored):
    client.force_login(rep)
    html = client.get("/leads/?grade=D").content.decode()
    assert "Stu" in html and "Bea" not in html
    fragment = client.get("/leads/?grade=A", headers={"HX-Request": "true"}).content.decode()
    assert "Bea" in fragment and "<html" not in fragment


def test_rescore_progress_polls_until_done(client, rep, db):
    run = RescoreRun.objects.create(
        matrix=ScoringMatrix.objects.active(),
        cause="publish",
        scored_at=timezone.now(),
        total=10,
        done=4,
        status=RescoreRun.Status.RUNNING,
    )
    client.force_login(rep)
    html = client.get(f"/matrix/rescores/{run.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert 'value="40"' in html and 'hx-trigger="every 1s"' in html
    RescoreRun.objects.filter(pk=run.pk).update(status=RescoreRun.Status.DONE, done=10)
    html = client.get(f"/matrix/rescores/{run.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert 'value="100"' in html and "hx-trigger" not in html
