"""The OpenAPI document and docs page (under our CSP), and the admin: tokens shown once, re-sending."""

import re

import pytest

from leads.integrations.models import ApiToken, Webhook, WebhookDelivery
from leads.integrations.tokens import digest_of

pytestmark = pytest.mark.django_db


def test_the_openapi_document_describes_every_endpoint_and_the_bearer_auth(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/v1/activities",
        "/api/v1/leads",
        "/api/v1/leads/{ref}",
        "/api/v1/queue",
    }
    body = schema["paths"]["/api/v1/activities"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert body["oneOf"][1]["maxItems"] == 1000
    assert {"email", "type", "occurred_at", "source", "event_id", "properties"} == set(
        body["oneOf"][0]["properties"]
    )
    assert body["oneOf"][1]["items"] == body["oneOf"][0]
    assert {s["type"] for s in schema["components"]["securitySchemes"].values()} == {"http"}


def test_the_docs_page_loads_only_our_own_files(client):
    response = client.get("/api/v1/docs")
    html = response.content.decode()
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    # The only inline script is a JSON data block, which CSP does not execute.
    assert re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html) == [
        ' type="application/json" id="swagger-settings"'
    ]


def test_a_new_token_is_shown_once_and_stored_hashed(admin_client):
    response = admin_client.post(
        "/admin/integrations/apitoken/add/",
        {"name": "Marketing automation", "scope": "activities:write", "rate_per_minute": 600},
        follow=True,
    )
    token = ApiToken.objects.get()
    (plaintext,) = re.findall(
        r"The token for Marketing automation is (lm_\w+_[\w-]+)", response.content.decode()
    )
    assert token.digest == digest_of(plaintext) and token.created_by is not None
    page = admin_client.get(f"/admin/integrations/apitoken/{token.pk}/change/").content.decode()
    assert plaintext not in page


def test_tokens_are_revoked_not_deleted(admin_client):
    from leads.integrations.tokens import issue_token

    token, _ = issue_token(name="CRM", scope="read")
    admin_client.post(
        "/admin/integrations/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert admin_client.get(f"/admin/integrations/apitoken/{token.pk}/delete/").status_code == 403


def test_deliveries_are_viewable_and_can_be_resent_from_the_admin(admin_client):
    hook = Webhook.objects.create(name="CRM", url="http://127.0.0.1:9/", secret="x", buckets=["mql"])
    delivery = WebhookDelivery.objects.create(webhook=hook, body='{"event": "lead.entered_bucket"}')
    admin_client.post(
        "/admin/integrations/webhookdelivery/",
        {"action": "resend", "_selected_action": [delivery.pk]},
        follow=True,
    )
    page = admin_client.get(f"/admin/integrations/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.attempt_log.get().by_hand
    assert (
        "Connection refused" in page.content.decode()
        or delivery.attempt_log.get().error in page.content.decode()
    )


@pytest.mark.parametrize(
    ("buckets", "saved"),
    [('["sales_ready"]', True), ('["hot_leads"]', False), ('"sales_ready"', False), ("[]", False)],
)
def test_a_webhook_takes_only_known_bucket_keys(admin_client, buckets, saved):
    response = admin_client.post(
        "/admin/integrations/webhook/add/",
        {
            "name": "CRM",
            "url": "https://crm.example.com/hooks",
            "secret": "s",
            "buckets": buckets,
            "active": "on",
        },
    )
    assert Webhook.objects.exists() is saved
    if not saved:
        assert "bucket" in response.content.decode()
