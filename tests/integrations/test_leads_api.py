"""POST /api/v1/leads (upsert by email), GET /api/v1/leads/<id or email>, GET /api/v1/queue."""

import pytest
from django.utils import timezone

from leads.models import Lead
from tests.factories import make_lead, make_queue_lead

pytestmark = pytest.mark.django_db


def test_a_lead_is_created_then_updated_by_email(lead_writer):
    created = lead_writer.post(
        "/leads", {"email": "CTO@Example.com", "seniority": "staff", "attributes": {"plan": "pro"}}
    )
    assert created.status_code == 201, created.content
    lead = Lead.objects.get(pk=created.json()["lead_id"])
    before = lead.fit_points
    updated = lead_writer.post(
        "/leads", {"email": "cto@example.com", "seniority": "executive", "company_size": 500}
    )
    assert (updated.status_code, updated.json()["status"]) == (200, "updated")
    lead.refresh_from_db()
    assert (lead.seniority, lead.company_size, lead.attributes) == ("executive", 500, {"plan": "pro"})
    assert lead.fit_points > before  # rescored before the answer


def test_a_lead_batch_rejects_items_by_field_and_keeps_the_rest(lead_writer):
    response = lead_writer.post(
        "/leads",
        [
            {"email": "a@example.com", "company": "Acme"},
            {"email": "b@example.com", "seniority": "wizard"},
            {"email": "c@example.com", "company_size": -5},
            {"email": "d@example.com", "company": "x" * 161},
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 3}
    assert [r["errors"][0]["field"] for r in body["results"][1:]] == ["seniority", "company_size", "company"]
    assert list(Lead.objects.values_list("email", flat=True)) == ["a@example.com"]


def test_reading_a_lead_gives_its_score_and_explanation(reader):
    lead = make_queue_lead()
    by_id = reader.get(f"/leads/{lead.pk}")
    by_email = reader.get(f"/leads/{lead.email.upper()}")
    assert by_id.status_code == 200 and by_id.json() == by_email.json()
    body = by_id.json()
    assert (body["grade"], body["score"], body["label"], body["bucket"]) == (
        lead.grade,
        lead.score,
        lead.label,
        lead.bucket,
    )
    assert body["in_queue"] is True
    assert any(t["type"] == "demo_request" for t in body["explanation"]["activity_types"])
    assert any(c["field"] == "seniority" for c in body["explanation"]["criteria"])


@pytest.mark.parametrize("ref", ["nobody@example.com", "a%00b", "99999999999999999999999", "%D9%A3"])
def test_an_unknown_lead_is_404_json(reader, ref):
    response = reader.get(f"/leads/{ref}")
    assert response.status_code == 404
    assert response.json()["detail"] == "Not found."


def test_the_queue_pages_by_keyset_in_work_order(reader):
    now = timezone.now()
    leads = [make_queue_lead(now=now) for _ in range(5)]
    make_lead()  # not in the queue
    first = reader.get("/queue", {"limit": 2}).json()
    second = reader.get("/queue", {"limit": 2, "after": first["next"]}).json()
    third = reader.get("/queue", {"limit": 2, "after": second["next"]}).json()
    ids = [item["id"] for page in (first, second, third) for item in page["items"]]
    expected = list(Lead.objects.in_queue().queue_order().values_list("pk", flat=True))
    assert ids == expected and sorted(ids) == sorted(lead.pk for lead in leads)
    assert third["next"] is None
    assert first["items"][0]["due_at"] is not None


@pytest.mark.parametrize(
    ("params", "field"), [({"limit": 0}, "limit"), ({"limit": "many"}, "limit"), ({"after": "x-y"}, "after")]
)
def test_bad_queue_parameters_are_422_naming_the_field(reader, params, field):
    response = reader.get("/queue", params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
