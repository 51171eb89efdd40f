"""Tokens: 401 without a valid one, revocation, stored hashed, 429 with Retry-After past the rate.

Which scope may call which endpoint is in the permission table, tests/test_permissions.py.
"""

import time
from unittest import mock

import pytest
from django.utils import timezone

from leads.integrations import tokens
from leads.integrations.models import ApiToken
from leads.integrations.tokens import digest_of, issue_token, revoke_tokens
from tests.integrations.conftest import ApiClient

pytestmark = pytest.mark.django_db

ACTIVITY = {"email": "a@example.com", "type": "web_visit", "occurred_at": "2026-11-01T00:00:00Z"}
ENDPOINTS = [
    ("post", "/activities", True),
    ("post", "/leads", True),
    ("get", "/leads/1", False),
    ("get", "/queue", False),
]
BODIES = {"/activities": ACTIVITY, "/leads": {"email": "a@example.com"}}


def call(api: ApiClient, method: str, path: str, with_body: bool):
    if method == "post":
        return api.post(path, BODIES[path])
    return api.get(path)


@pytest.mark.parametrize(("method", "path", "with_body"), ENDPOINTS)
@pytest.mark.parametrize("token", [None, "lm_nothing_here", "Basic abc"])
def test_a_missing_or_unknown_token_is_401(client, db, method, path, with_body, token):
    response = call(ApiClient(client, token), method, path, with_body)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["field"] == "Authorization"


def test_a_revoked_token_is_401_at_once(client, db):
    token, plaintext = issue_token(name="CRM", scope="read")
    api = ApiClient(client, plaintext)
    assert api.get("/queue").status_code == 200
    revoke_tokens(tokens=ApiToken.objects.filter(pk=token.pk), by="test")
    assert api.get("/queue").status_code == 401


def test_a_token_revoked_by_another_process_is_401_within_the_cache_time(client, db):
    token, plaintext = issue_token(name="CRM", scope="read")
    api = ApiClient(client, plaintext)
    assert api.get("/queue").status_code == 200
    # Another server process revokes it: this process's cached look-up knows nothing of it.
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert api.get("/queue").status_code == 200
    later = time.monotonic() + tokens.CACHE_SECONDS
    with mock.patch("leads.integrations.tokens.time.monotonic", return_value=later):
        assert api.get("/queue").status_code == 401


def test_only_the_digest_is_stored_and_use_is_noted(client, db):
    token, plaintext = issue_token(name="CRM", scope="read")
    assert plaintext.startswith(f"lm_{token.prefix}_") and plaintext not in (token.digest, token.prefix)
    assert token.digest == digest_of(plaintext)
    ApiClient(client, plaintext).get("/queue")
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at <= timezone.now()


def test_past_its_rate_a_token_gets_429_with_retry_after(client, db):
    _, plaintext = issue_token(name="Tracker", scope="read", rate_per_minute=3)
    _, other = issue_token(name="Other", scope="read", rate_per_minute=3)
    api = ApiClient(client, plaintext)
    assert [api.get("/queue").status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get("/queue")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["detail"]
    assert ApiClient(client, other).get("/queue").status_code == 200  # counted per token
