"""POST /api/v1/activities: one or a batch, idempotent, scores updated before the answer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Activity, Lead, Transition

pytestmark = pytest.mark.django_db


def activity(n=1, **fields):
    return {
        "email": f"ann{n}@example.com",
        "type": "demo_request",
        "occurred_at": timezone.now().isoformat(),
        "source": "mautic",
        "event_id": f"ev-{n}",
        "properties": {"page": "/pricing"},
    } | fields


def test_one_activity_creates_the_lead_and_answers_its_new_score(writer):
    response = writer.post("/activities", activity(email="New.Person@Example.com"))
    assert response.status_code == 201, response.content
    body = response.json()
    lead = Lead.objects.get(email="new.person@example.com")
    assert body["status"] == "created"
    assert body["lead"] == {
        "id": lead.pk,
        "email": lead.email,
        "grade": lead.grade,
        "score": lead.score,
        "label": lead.label,
        "bucket": lead.bucket,
    }
    assert lead.score > 0 and lead.bucket
    assert lead.last_activity_at is not None
    assert Activity.objects.get(pk=body["activity_id"]).properties == {"page": "/pricing"}
    assert Transition.objects.filter(lead=lead, cause="activity").exists()


def test_a_resent_event_is_stored_once_and_answers_success(writer):
    first = writer.post("/activities", activity())
    again = writer.post("/activities", activity())
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["status"] == "duplicate"
    assert again.json()["activity_id"] == first.json()["activity_id"]
    assert Activity.objects.count() == 1


def test_a_batch_stores_valid_items_and_rejects_the_others_by_field(writer):
    items = [
        activity(1),
        activity(2, email="not-an-email"),
        activity(1),  # the same event again, in the same batch
        activity(3, type="telepathy"),
        activity(4, occurred_at="1926-01-01T00:00:00Z"),
        activity(5, event_id=None, properties={"note": "no event id"}),
    ]
    response = writer.post("/activities", items)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["counts"] == {"created": 2, "duplicate": 1, "rejected": 3}
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [
        (0, "created"),
        (1, "rejected"),
        (2, "duplicate"),
        (3, "rejected"),
        (4, "rejected"),
        (5, "created"),
    ]
    assert body["results"][1]["errors"][0]["field"] == "email"
    assert body["results"][3]["errors"] == [{"field": "type", "message": "unknown activity type 'telepathy'"}]
    assert body["results"][4]["errors"][0]["field"] == "occurred_at"
    assert body["results"][2]["id"] == body["results"][0]["id"]
    assert Activity.objects.count() == 2
    assert set(Lead.objects.values_list("email", flat=True)) == {"ann1@example.com", "ann5@example.com"}


def test_scores_of_a_batch_are_current_when_the_answer_arrives(writer, reader):
    now = timezone.now()
    items = [
        activity(
            n,
            email="busy@example.com",
            type="web_visit",
            occurred_at=(now - timedelta(minutes=n)).isoformat(),
        )
        for n in range(20)
    ]
    writer.post("/activities", items)
    lead = Lead.objects.get(email="busy@example.com")
    read = reader.get("/leads/busy@example.com").json()
    assert (read["score"], read["label"]) == (lead.score, lead.label)
    assert lead.score > 0


def test_more_than_a_thousand_items_are_refused_and_nothing_is_written(writer):
    response = writer.post("/activities", [activity(n) for n in range(1001)])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
    assert "1,000" in response.json()["errors"][0]["message"]
    assert not Activity.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ("{not json", 400, "body"),
        ('{"email": "a@example.com", "type": "web_visit", "occurred_at": NaN}', 400, "body"),
        ("[]", 422, "body"),
        ('"just a string"', 422, "body"),
        ('{"email": 5, "type": "web_visit", "occurred_at": "2026-01-01T00:00:00Z"}', 422, "email"),
        ('{"email": "a@example.com", "type": "web_visit", "occurred_at": "yesterday"}', 422, "occurred_at"),
        ('{"email": "a@example.com", "type": "web_visit"}', 422, "occurred_at"),
        (
            '{"email": "a@example.com", "type": "web_visit", "occurred_at": "2999-01-01T00:00:00Z"}',
            422,
            "occurred_at",
        ),
        (
            '{"email": "a@example.com", "type": "telepathy", "occurred_at": "2026-11-01T00:00:00Z"}',
            422,
            "type",
        ),
        (
            '{"email": "a@example.com", "type": "web_visit", "occurred_at": "2026-11-01T00:00:00Z", "colour": 1}',
            422,
            "colour",
        ),
        (
            '{"email": "a@example.com", "type": "web_visit", "occurred_at": "2026-11-01T00:00:00Z", "source": "a\\u0000b"}',
            422,
            "source",
        ),
        (
            '{"email": "a@example.com", "type": "web_visit", "occurred_at": "2026-11-01T00:00:00Z", "properties": {"k": "\\ud800"}}',
            422,
            "properties.k",
        ),
        (
            '{"email": "a@example.com", "type": "web_visit", "occurred_at": "2026-11-01T00:00:00Z", "properties": []}',
            422,
            "properties",
        ),
        (
            '{"email": "a@example.com", "type": "web_visit", "occurred_at": "2026-11-01T00:00:00Z", "event_id": "'
            + "x" * 121
            + '"}',
            422,
            "event_id",
        ),
        ("[" * 100_000 + "]" * 100_000, 400, "body"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(writer, body, status, field):
    response = writer.post("/activities", None, raw=body)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert not Activity.objects.exists() and not Lead.objects.exists()


def test_a_body_over_the_limit_is_413(writer, settings):
    settings.LEADMATRIX = settings.LEADMATRIX | {"API_MAX_BODY_BYTES": 2000}
    response = writer.post("/activities", activity(properties={"blob": "x" * 3000}))
    assert response.status_code == 413
    assert response.json()["errors"] == [{"field": "body", "message": "at most 2,000 bytes"}]
    assert not Activity.objects.exists()


def test_a_body_that_is_not_json_is_415(writer):
    response = writer.client.post(
        "/api/v1/activities",
        "email=a",
        content_type="text/plain",
        headers={"Authorization": f"Bearer {writer.token}"},
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["field"] == "Content-Type"
