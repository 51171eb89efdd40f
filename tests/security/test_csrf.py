"""Every POST action refuses a request without the CSRF token, even from someone allowed to take it."""

import pytest
from django.test import Client

from tests.test_permissions import ROWS, _state, objects  # noqa: F401  (objects is a fixture)

POSTS = [row for row in ROWS if row.method == "POST"]


@pytest.mark.parametrize("row", POSTS, ids=str)
def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(request, objects, row):  # noqa: F811
    who = sorted(row.allowed - row.out_of_reach)[0]
    client = Client(enforce_csrf_checks=True)
    client.force_login(request.getfixturevalue(who))
    data = {k: v.format(**objects) for k, v in row.data.items()}
    before = _state()
    response = client.post(
        row.url.format(**objects), data, headers={"HX-Request": "true"} if row.htmx else {}
    )
    assert response.status_code == 403
    assert _state() == before


def test_signing_in_needs_the_csrf_token(rep):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "riley", "password": "a-long-test-password"})
    assert response.status_code == 403 and "_auth_user_id" not in client.session
