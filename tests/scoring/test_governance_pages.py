"""The governance pages: editing in place with htmx, conflicts, proposing, deciding, history, admin."""

import pytest
from django.contrib.auth.models import User

from scoring import governance
from scoring.models import ActivityWeight, Approval, Proposal, ScoringMatrix
from tests.scoring.governance_helpers import (
    active,
    approved,
    cell,
    draft_of,
    forget_cached_matrices,
    proposed,
    set_points,
    weight,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_matrix_cache():
    forget_cached_matrices()


HTMX = {"HX-Request": "true"}


@pytest.fixture
def draft(marketer):
    return draft_of(marketer)


def _edit_url(matrix, kind, pk):
    return f"/matrix/v{matrix.version}/items/{kind}/{pk}/edit/"


def test_starting_a_draft_from_the_page_opens_the_editor(client, manager):
    client.force_login(manager)
    response = client.post("/matrix/v1/start-draft/")
    assert response.status_code == 302 and response["Location"] == "/matrix/v2/draft/"
    html = client.get("/matrix/v2/draft/").content.decode()
    assert "Draft v2" in html and "No problems" in html and 'data-testid="weight-whitepaper_download"' in html


def test_clicking_a_value_gets_the_inline_form_and_saving_returns_just_the_row(client, marketer, draft):
    row = weight(draft, "whitepaper_download")
    client.force_login(marketer)
    form = client.get(_edit_url(draft, "weight", row.pk), headers=HTMX).content.decode()
    assert f'id="weight-{row.pk}"' in form and 'name="revision" value="1"' in form and "<html" not in form
    response = client.post(
        _edit_url(draft, "weight", row.pk),
        {
            "points": "20",
            "half_life_days": "30",
            "cap": "45",
            "revision": "1",
            "reason": "Whitepapers convert",
        },
        headers=HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "matrixChanged"
    assert html.strip().startswith(f'<tr id="weight-{row.pk}"') and "+20" in html
    row.refresh_from_db()
    assert (row.points, row.revision) == (20, 2)
    assert row.history.first().history_change_reason == "Whitepapers convert"
    assert row.history.first().history_user == marketer


def test_the_plain_form_works_without_javascript(client, marketer, draft):
    row = weight(draft, "web_visit")
    client.force_login(marketer)
    page = client.get(_edit_url(draft, "weight", row.pk)).content.decode()
    assert "<html" in page and 'name="points"' in page
    response = client.post(
        _edit_url(draft, "weight", row.pk),
        {"points": "6", "half_life_days": "14", "cap": "30", "revision": "1"},
    )
    assert response.status_code == 302 and response["Location"] == f"/matrix/v2/draft/#weight-{row.pk}"
    assert weight(draft, "web_visit").points == 6


def test_a_bad_value_is_shown_next_to_the_field(client, marketer, draft):
    row = weight(draft, "web_visit")
    client.force_login(marketer)
    html = client.post(
        _edit_url(draft, "weight", row.pk),
        {"points": "5", "half_life_days": "-2", "revision": "1"},
        headers=HTMX,
    ).content.decode()
    assert "A half-life must be more than 0 days" in html and "is-invalid" in html
    assert weight(draft, "web_visit").half_life_days == 14


def test_a_stale_form_shows_who_changed_it_and_their_value(client, marketer, manager, draft):
    row = weight(draft, "whitepaper_download")
    set_points(draft, "whitepaper_download", 25, by=manager, reason="Sales wants more")
    client.force_login(marketer)
    html = client.post(
        _edit_url(draft, "weight", row.pk),
        {"points": "20", "half_life_days": "30", "cap": "45", "revision": "1"},
        headers=HTMX,
    ).content.decode()
    assert 'data-testid="conflict"' in html
    assert (
        "sam changed this" in html
        and "Sales wants more" in html
        and "points 15 → <strong>25</strong>" in html
    )
    assert "You had entered: Points <strong>20</strong>" in html
    assert 'name="revision" value="2"' in html and 'value="25"' in html  # retry from their value
    assert weight(draft, "whitepaper_download").points == 25


def test_a_grid_cell_is_a_select_of_the_drafts_buckets(client, marketer, draft):
    target = cell(draft, "B", "warm")
    client.force_login(marketer)
    form = client.get(_edit_url(draft, "cell", target.pk), headers=HTMX).content.decode()
    assert form.strip().startswith(f'<td id="cell-{target.pk}"') and form.count("<option") == 5
    mql = draft.buckets.get(key="mql")
    html = client.post(
        _edit_url(draft, "cell", target.pk), {"bucket": mql.pk, "revision": "1"}, headers=HTMX
    ).content.decode()
    assert "lm-b-mql" in html
    target.refresh_from_db()
    assert target.bucket == mql


def test_editing_a_published_version_is_refused_with_a_message(client, marketer):
    row = weight(active(), "whitepaper_download")
    client.force_login(marketer)
    response = client.post(
        _edit_url(active(), "weight", row.pk),
        {"points": "99", "half_life_days": "30", "revision": str(row.revision)},
        follow=True,
    )
    assert "a published version never changes" in response.content.decode()
    assert weight(active(), "whitepaper_download").points == 15


def test_a_row_of_another_version_answers_404(client, marketer, draft):
    other = weight(active(), "web_visit")
    client.force_login(marketer)
    assert client.get(_edit_url(draft, "weight", other.pk)).status_code == 404
    assert client.get(f"/matrix/v2/items/nonsense/{other.pk}/edit/").status_code == 404


def test_the_problems_panel_lists_whole_matrix_problems(client, marketer, draft):
    band = draft.bands.get(key="warm")
    governance.edit_item(item=band, revision=band.revision, values={"high": 30}, by=marketer)
    client.force_login(marketer)
    html = client.get("/matrix/v2/draft/?part=problems", headers=HTMX).content.decode()
    assert "Scores 31–39 fall between bands 6–30 and 40–79." in html and "<html" not in html


def test_adding_and_removing_a_criterion_from_the_page(client, marketer, draft):
    client.force_login(marketer)
    response = client.post(
        "/matrix/v2/criteria/new/",
        {"label": "Director", "field": "title", "operator": "contains", "value": "director", "points": "20"},
    )
    assert response.status_code == 302
    added = draft.criteria.get(label="Director")
    bad = client.post(
        "/matrix/v2/criteria/new/",
        {"label": "x", "field": "shoe_size", "operator": "equals", "value": "4", "points": "1"},
    )
    assert "is not a lead field" in bad.content.decode()
    response = client.post(
        f"/matrix/v2/criteria/{added.pk}/delete/", {"revision": str(added.revision)}, headers=HTMX
    )
    assert response.status_code == 200 and response.content == b""
    assert not draft.criteria.filter(label="Director").exists()


def test_the_propose_page_shows_the_diff_and_refuses_an_invalid_draft(client, marketer, draft):
    set_points(draft, "whitepaper_download", 20, by=marketer)
    band = draft.bands.get(key="warm")
    governance.edit_item(item=band, revision=band.revision, values={"high": 30}, by=marketer)
    client.force_login(marketer)
    html = client.get("/matrix/v2/propose/").content.decode()
    assert "Whitepaper download: 15 → 20" in html and "Scores 31–39 fall between" in html
    html = client.post(
        "/matrix/v2/propose/", {"summary": "More for whitepapers"}, follow=True
    ).content.decode()
    assert "cannot be proposed until these are fixed" in html
    assert not Proposal.objects.exists()


def test_a_marketer_and_a_manager_carry_a_proposal_to_publication(client, marketer, manager, draft):
    set_points(draft, "whitepaper_download", 20, by=marketer)
    client.force_login(marketer)
    response = client.post("/matrix/v2/propose/", {"summary": "Whitepapers signal intent"})
    proposal = Proposal.objects.get()
    assert response["Location"] == f"/matrix/proposals/{proposal.pk}/"
    html = client.get(response["Location"]).content.decode()
    assert "Whitepaper download: 15 → 20" in html and "Whitepapers signal intent" in html
    client.post(f"/matrix/proposals/{proposal.pk}/approve/")
    client.force_login(manager)
    assert 'data-testid="proposals-badge"' in client.get("/").content.decode()
    client.post(f"/matrix/proposals/{proposal.pk}/approve/")
    assert 'data-testid="proposals-badge"' not in client.get("/").content.decode()
    response = client.post(f"/matrix/proposals/{proposal.pk}/publish/")
    run = ScoringMatrix.objects.get(version=2).rescores.get()
    assert response["Location"] == f"/matrix/rescores/{run.pk}/"
    assert active().version == 2


def test_the_page_says_why_an_approval_is_refused(client, marketer, manager, draft):
    set_points(draft, "whitepaper_download", 20, by=marketer)
    proposal = proposed(draft, by=marketer)
    client.force_login(manager)
    client.post(f"/matrix/proposals/{proposal.pk}/approve/")
    html = client.post(f"/matrix/proposals/{proposal.pk}/approve/", follow=True).content.decode()
    assert "You have already approved this proposal" in html
    assert Approval.objects.count() == 1


def test_rejecting_and_commenting_from_the_page(client, marketer, manager, draft):
    set_points(draft, "whitepaper_download", 20, by=marketer)
    proposal = proposed(draft, by=marketer)
    client.force_login(manager)
    client.post(f"/matrix/proposals/{proposal.pk}/comment/", {"text": "Looks fine to me"})
    html = client.post(
        f"/matrix/proposals/{proposal.pk}/reject/", {"comment": "Wait for Q3"}, follow=True
    ).content.decode()
    assert "Looks fine to me" in html and "Wait for Q3" in html and "Rejected" in html
    proposal.refresh_from_db()
    assert proposal.status == "rejected"


def test_the_history_pages_show_who_changed_the_whitepaper_weight(client, marketer, manager, rep, draft):
    set_points(draft, "whitepaper_download", 20, by=marketer, reason="Whitepapers convert")
    row = weight(draft, "whitepaper_download")
    client.force_login(rep)
    html = client.get("/matrix/v2/history/").content.decode()
    assert "Whitepaper download" in html and "maria" in html and "Whitepapers convert" in html
    assert '<span class="lm-old">15</span> → <strong>20</strong>' in html
    html = client.get(f"/matrix/v2/history/weight/{row.pk}/").content.decode()
    assert "Weight “Whitepaper download” in v2" in html and "Whitepapers convert" in html
    assert client.get("/matrix/v2/history/weight/999999/").status_code == 404


# --- the admin ---------------------------------------------------------------------------------


def test_the_admin_history_shows_who_changed_which_weight(client, admin_user, marketer, draft):
    set_points(draft, "whitepaper_download", 20, by=marketer, reason="Whitepapers convert")
    row = weight(draft, "whitepaper_download")
    client.force_login(admin_user)
    html = client.get(f"/admin/scoring/activityweight/{row.pk}/history/").content.decode()
    assert "maria" in html and "Whitepapers convert" in html and "Points" in html


def test_history_cannot_be_reverted_edited_or_deleted_in_the_admin(client, admin_user, marketer, draft):
    set_points(draft, "whitepaper_download", 20, by=marketer)
    row = weight(draft, "whitepaper_download")
    first = row.history.earliest("history_date")
    client.force_login(admin_user)
    form_url = f"/admin/scoring/activityweight/{row.pk}/history/{first.history_id}/"
    assert client.get(form_url).status_code == 200
    assert (
        client.post(
            form_url, {"points": "15", "matrix": draft.pk, "activity_type": row.activity_type_id}
        ).status_code
        == 403
    )
    history_admin = f"/admin/scoring/historicalactivityweight/{first.history_id}"
    assert client.get(f"{history_admin}/change/").status_code == 200  # readable
    assert client.post(f"{history_admin}/change/", {"points": "1"}).status_code == 403
    assert client.post(f"{history_admin}/delete/", {"post": "yes"}).status_code == 403
    assert row.history.count() == 2 and weight(draft, "whitepaper_download").points == 20


def test_the_admin_cannot_change_a_published_version(client, admin_user):
    row = weight(active(), "whitepaper_download")
    client.force_login(admin_user)
    client.post(
        f"/admin/scoring/activityweight/{row.pk}/change/",
        {"points": "99", "matrix": row.matrix_id, "activity_type": row.activity_type_id},
    )
    assert client.post(f"/admin/scoring/activityweight/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ActivityWeight.objects.get(pk=row.pk).points == 15


def test_decisions_are_records_nobody_edits_in_the_admin(client, admin_user, marketer, manager, draft):
    set_points(draft, "whitepaper_download", 20, by=marketer)
    proposal = approved(draft, marketer=marketer, manager=manager)
    approval = proposal.approvals.first()
    client.force_login(admin_user)
    assert client.get(f"/admin/scoring/approval/{approval.pk}/change/").status_code == 200
    assert client.post(f"/admin/scoring/approval/{approval.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/scoring/proposal/{proposal.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Approval.objects.count() == 2 and User.objects.filter(pk=marketer.pk).exists()
