"""Who may open which page: one table, one row per (person, page), expected status."""

import pytest

from scoring.models import RescoreRun, ScoringMatrix
from tests.factories import make_lead

PEOPLE = ["anonymous", "marketer", "manager", "rep", "rep2", "outsider", "admin_user"]

# page -> the people who get 200 (everyone else signed in: 403; anonymous: redirect to sign-in)
READ_PAGES = {
    "/": {"marketer", "manager", "rep", "rep2", "outsider", "admin_user"},
    "/matrix/": {"marketer", "manager", "rep", "rep2", "admin_user"},
    "/matrix/versions/": {"marketer", "manager", "rep", "rep2", "admin_user"},
    "/matrix/v1/": {"marketer", "manager", "rep", "rep2", "admin_user"},
    "/matrix/rescores/{run}/": {"marketer", "manager", "rep", "rep2", "admin_user"},
    "/leads/": {"marketer", "manager", "rep", "rep2", "admin_user"},
    "/leads/{lead}/": {"marketer", "manager", "rep", "rep2", "admin_user"},
    "/admin/": {"admin_user"},
}


@pytest.fixture
def objects(db):
    lead = make_lead()
    run = RescoreRun.objects.create(
        matrix=ScoringMatrix.objects.active(), cause="publish", scored_at=lead.created_at
    )
    return {"lead": lead.pk, "run": run.pk}


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("page", list(READ_PAGES))
def test_page_access(client, request, objects, who, page):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    response = client.get(page.format(**objects))
    if who in READ_PAGES[page]:
        expected = 200
    elif who == "anonymous" or page == "/admin/":
        expected = 302  # to a sign-in page
    else:
        expected = 403
    assert response.status_code == expected
