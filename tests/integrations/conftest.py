"""Tokens of each scope and a client that posts JSON with one."""

import json

import pytest

from leads.integrations.models import ApiToken
from leads.integrations.tokens import issue_token


class ApiClient:
    def __init__(self, client, token: str | None) -> None:
        self.client, self.token = client, token

    def _headers(self, headers):
        base = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return base | (headers or {})

    def post(self, path, data, *, headers=None, raw: bytes | str | None = None):
        body = raw if raw is not None else json.dumps(data)
        return self.client.post(
            f"/api/v1{path}", body, content_type="application/json", headers=self._headers(headers)
        )

    def get(self, path, params=None, *, headers=None):
        return self.client.get(f"/api/v1{path}", params or {}, headers=self._headers(headers))


@pytest.fixture
def tokens(db) -> dict[str, str]:
    return {scope: issue_token(name=f"{scope} sender", scope=scope)[1] for scope in ApiToken.Scope.values}


@pytest.fixture
def writer(client, tokens) -> ApiClient:
    return ApiClient(client, tokens["activities:write"])


@pytest.fixture
def lead_writer(client, tokens) -> ApiClient:
    return ApiClient(client, tokens["leads:write"])


@pytest.fixture
def reader(client, tokens) -> ApiClient:
    return ApiClient(client, tokens["read"])
