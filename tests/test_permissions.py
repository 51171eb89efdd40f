"""Who may open which page and take which action: one table, one row per (person, url), expected status."""

import pytest
from django.utils import timezone

from feedback.models import Calibration, Reason
from scoring.models import RescoreRun, ScoringMatrix
from tests.factories import make_lead, make_queue_lead

PEOPLE = ["anonymous", "marketer", "manager", "rep", "rep2", "outsider", "admin_user"]
SIGNED_IN = {"marketer", "manager", "rep", "rep2", "outsider", "admin_user"}
READERS = {"marketer", "manager", "rep", "rep2", "admin_user"}
SALES = {"manager", "rep", "rep2"}
REPORTERS = {"marketer", "manager", "admin_user"}

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
    "/reports/matrix/": REPORTERS,
    "/reports/matrix/?export=grid": REPORTERS,
    "/reports/funnel/": REPORTERS,
    "/reports/speed/": REPORTERS,
    "/reports/rejections/": REPORTERS,
    "/reports/before-after/": REPORTERS,
    "/calibration/": REPORTERS,
    "/calibration/?run={calibration}": REPORTERS,
    "/playbook/": SIGNED_IN,
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
    "/calibration/": ({"marketer", "manager"}, 302),
    "/calibration/{calibration}/draft/": ({"marketer", "manager"}, 302),
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
        "calibration": Calibration.objects.create(
            matrix=ScoringMatrix.objects.active(), result={}, refused="Too few outcomes.", at=timezone.now()
        ).pk,
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
