"""Who may open which governance page and take which action: one table, one row per (person, url)."""

import pytest

from scoring.models import Approval, FitCriterion, Proposal, ProposalComment, ScoringMatrix
from tests.scoring.governance_helpers import active, draft_of, proposed, set_points, weight

PEOPLE = ["anonymous", "marketer", "manager", "rep", "rep2", "outsider", "admin_user"]
EDITORS = {"marketer", "manager"}
READERS = {"marketer", "manager", "rep", "rep2", "admin_user"}

# page -> (who gets the expected status, that status); everyone else signed in: 403; anonymous: sign-in.
PAGES = {
    "/matrix/proposals/": (READERS, 200),
    "/matrix/proposals/{proposal}/": (READERS, 200),
    "/matrix/proposals/{proposal}/preview/": (READERS, 302),  # htmx fragment; a plain GET goes to the page
    "/matrix/proposals/999999/": (READERS, 404),
    "/matrix/v{draft}/history/": (READERS, 200),
    "/matrix/v{draft}/history/weight/{weight}/": (READERS, 200),
    "/matrix/v{draft}/history/weight/{foreign}/": (READERS, 404),
    "/matrix/v{draft}/draft/": (EDITORS, 200),
    "/matrix/v1/draft/": (EDITORS, 404),  # not a draft
    "/matrix/v{draft}/items/weight/{weight}/edit/": (EDITORS, 200),
    "/matrix/v{draft}/items/weight/{weight}/": (EDITORS, 302),
    "/matrix/v{draft}/items/weight/{foreign}/edit/": (EDITORS, 404),  # a row of another version
    "/matrix/v{draft}/criteria/new/": (EDITORS, 200),
    "/matrix/v{draft}/propose/": (EDITORS, 200),
}

# action -> (POST data, who may, status for them); the others get 403 and nothing changes.
ACTIONS = {
    "/matrix/v1/start-draft/": ({}, EDITORS, 302),
    "/matrix/v{draft}/items/weight/{weight}/edit/": (
        {"points": "21", "half_life_days": "30", "revision": "2"},
        EDITORS,
        302,
    ),
    "/matrix/v{draft}/items/weight/{foreign}/edit/": ({"points": "21", "revision": "1"}, EDITORS, 404),
    "/matrix/v{draft}/criteria/new/": (
        {"label": "Director", "field": "title", "operator": "contains", "value": "director", "points": "5"},
        EDITORS,
        302,
    ),
    "/matrix/v{draft}/criteria/{criterion}/delete/": ({"revision": "1"}, EDITORS, 302),
    "/matrix/v{draft}/propose/": ({"summary": "Again"}, EDITORS, 302),
    "/matrix/proposals/{proposal}/approve/": ({}, EDITORS, 302),
    "/matrix/proposals/{proposal}/reject/": ({"comment": "Not yet"}, EDITORS, 302),
    "/matrix/proposals/{proposal}/comment/": ({"text": "Looks good"}, EDITORS, 302),
    "/matrix/proposals/{proposal}/publish/": ({}, EDITORS, 302),
    "/matrix/proposals/{proposal}/preview/refresh/": ({}, EDITORS, 302),
}


@pytest.fixture
def objects(marketer):
    draft = draft_of(marketer)
    set_points(draft, "whitepaper_download", 20, by=marketer)
    proposal = proposed(draft, by=marketer)
    return {
        "draft": draft.version,
        "weight": weight(draft, "whitepaper_download").pk,
        "foreign": weight(active(), "whitepaper_download").pk,
        "criterion": draft.criteria.first().pk,
        "proposal": proposal.pk,
    }


def _sign_in(client, request, who):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))


def _state():
    return (
        ScoringMatrix.objects.count(),
        Proposal.objects.filter(status="open").count(),
        Approval.objects.count(),
        ProposalComment.objects.count(),
        FitCriterion.objects.count(),
        sorted(ScoringMatrix.objects.values_list("status", flat=True)),
    )


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("page", list(PAGES))
def test_page_access(client, request, objects, who, page):
    _sign_in(client, request, who)
    response = client.get(page.format(**objects))
    allowed, status = PAGES[page]
    if who == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == (status if who in allowed else 403)


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_action_access(client, request, objects, who, action):
    _sign_in(client, request, who)
    data, allowed, status = ACTIONS[action]
    before = _state()
    response = client.post(action.format(**objects), data)
    if who == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    elif who in allowed:
        assert response.status_code == status
        return
    else:
        assert response.status_code == 403
    assert _state() == before
