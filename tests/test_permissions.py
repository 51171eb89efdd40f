"""Who may open which page and take which action: one table, one row per (person, url), expected status."""

import pytest
from django.utils import timezone

from feedback.models import Reason
from scoring.models import RescoreRun, ScoringMatrix
from tests.factories import make_lead, make_queue_lead

PEOPLE = ["anonymous", "marketer", "manager", "rep", "rep2", "outsider", "admin_user"]
SIGNED_IN = {"marketer", "manager", "rep", "rep2", "outsider", "admin_user"}
READERS = {"marketer", "manager", "rep", "rep2", "admin_user"}
SALES = {"manager", "rep", "rep2"}

# GET pages -> the people who get 200. Everyone else signed in gets 403, except where a lead is out
# of reach (another rep's lead: 404); anonymous visitors are sent to sign in (302).
PAGES = {
    "/": SIGNED_IN,
    "/matrix/": READERS,
    "/matrix/versions/": READERS,
    "/matrix/v1/": READERS,
    "/matrix/rescores/{run}/": READERS,
    "/leads/": READERS,
    "/leads/{lead}/": READERS,
    "/leads/{riley_lead}/": READERS - {"rep2"},
    "/leads/queue/": READERS,
    "/leads/queue/arrivals/?since={since}": READERS,
    "/leads/team/": {"manager", "admin_user"},
    "/leads/{lead}/outcome/": SALES,
    "/leads/{riley_lead}/outcome/": {"manager", "rep"},
    "/reasons/": {"manager"},
    "/notifications/": SALES,
    "/admin/": {"admin_user"},
}
NOT_FOUND = {("/leads/{riley_lead}/", "rep2"), ("/leads/{riley_lead}/outcome/", "rep2")}

# POST actions -> (the people who may, the status they get). Others: 403, or 404 out of reach.
ACTIONS = {
    "/leads/{lead}/claim/": ({"rep", "rep2"}, 302),
    "/leads/queue/assign/": ({"manager"}, 302),
    "/leads/queue/round-robin/": ({"manager"}, 302),
    "/leads/{riley_lead}/outcome/": ({"manager", "rep"}, 204),
    "/reasons/{reason}/toggle/": ({"manager"}, 302),
    "/reasons/{reason}/rename/": ({"manager"}, 302),
}
ACTION_DATA = {
    "/leads/queue/assign/": {"lead": "{lead}", "owner": ""},
    "/leads/queue/round-robin/": {"bucket": "mql"},
    "/leads/{riley_lead}/outcome/": {"outcome": "attempted", "expected_owner": "{riley}"},
    "/reasons/{reason}/rename/": {"label": "Budget frozen"},
}


@pytest.fixture
def objects(db, rep):
    lead = make_lead()
    riley_lead = make_queue_lead(owner=rep)
    run = RescoreRun.objects.create(
        matrix=ScoringMatrix.objects.active(), cause="publish", scored_at=lead.created_at
    )
    return {
        "lead": lead.pk,
        "riley_lead": riley_lead.pk,
        "riley": rep.pk,
        "run": run.pk,
        "reason": Reason.objects.first().pk,
        "since": timezone.now().isoformat().replace("+", "%2B"),
    }


def sign_in(client, request, who):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("page", list(PAGES))
def test_page_access(client, request, objects, who, page):
    sign_in(client, request, who)
    response = client.get(page.format(**objects))
    if who in PAGES[page]:
        expected = 200
    elif who == "anonymous" or page == "/admin/":
        expected = 302  # to a sign-in page
    elif (page, who) in NOT_FOUND:
        expected = 404
    else:
        expected = 403
    assert response.status_code == expected


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_action_access(client, request, objects, who, action):
    sign_in(client, request, who)
    data = {k: v.format(**objects) for k, v in ACTION_DATA.get(action, {}).items()}
    response = client.post(action.format(**objects), data, headers={"HX-Request": "true"})
    allowed, status = ACTIONS[action]
    if who in allowed:
        expected = status
    elif who == "anonymous":
        expected = 302
    elif action == "/leads/{riley_lead}/outcome/" and who == "rep2":
        expected = 404
    else:
        expected = 403
    assert response.status_code == expected


# The ingest API: tokens, not sessions. Each endpoint -> the one token scope that may call it; other
# scopes get 403, no token 401, and a signed-in session (even an admin's) is no token. The API's docs
# and OpenAPI document are public.
API = {
    ("POST", "/api/v1/activities"): "activities:write",
    ("POST", "/api/v1/leads"): "leads:write",
    ("GET", "/api/v1/leads/{lead}"): "read",
    ("GET", "/api/v1/queue"): "read",
}
API_BODIES = {
    "/api/v1/activities": {
        "email": "x@example.com",
        "type": "web_visit",
        "occurred_at": "2026-11-01T00:00:00Z",
    },
    "/api/v1/leads": {"email": "x@example.com"},
}
API_CALLERS = ["activities:write", "leads:write", "read", "no token", "admin session"]


@pytest.mark.parametrize("caller", API_CALLERS)
@pytest.mark.parametrize(("method", "url"), list(API))
def test_api_access(client, request, objects, method, url, caller):
    from leads.integrations.tokens import issue_token

    headers = {}
    if caller == "admin session":
        sign_in(client, request, "admin_user")
    elif caller != "no token":
        headers["Authorization"] = f"Bearer {issue_token(name='t', scope=caller)[1]}"
    path = url.format(**objects)
    if method == "POST":
        response = client.post(path, API_BODIES[url], content_type="application/json", headers=headers)
    else:
        response = client.get(path, headers=headers)
    if caller == API[(method, url)]:
        assert response.status_code in {200, 201}
    else:
        assert response.status_code == (403 if caller in API_CALLERS[:3] else 401)


@pytest.mark.parametrize("who", ["anonymous", "rep"])
@pytest.mark.parametrize("page", ["/api/v1/docs", "/api/v1/openapi.json"])
def test_api_docs_are_public(client, request, objects, who, page):
    sign_in(client, request, who)
    assert client.get(page).status_code == 200
