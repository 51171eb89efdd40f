"""Hostile bodies the schema-driven fuzzer does not write: raw bytes, extreme nesting and numbers, far-off times.

`tests/integrations/test_activities_api.py` already holds the common refusals (not JSON, NaN, NUL in
a string, a lone surrogate, 100,000 open brackets, a body over the limit, a century-off time); these
are the remaining shapes, each on both write endpoints. Every one must be a 4xx JSON answer naming
the field, and must store nothing.
"""

import json

import pytest

from leads.models import Activity, Lead

pytestmark = pytest.mark.django_db

GOOD_ACTIVITY = {"email": "ann@example.com", "type": "web_visit", "occurred_at": "2026-11-01T00:00:00Z"}
GOOD_LEAD = {"email": "ann@example.com", "company": "Acme"}


def nested(depth: int) -> str:
    return '{"k": ' * depth + "1" + "}" * depth


def with_raw(base: dict, field: str, raw: str) -> str:
    """`base` as JSON with `field` set to a raw JSON fragment (numbers json.dumps would not write)."""
    return json.dumps(base | {field: "@@"}).replace('"@@"', raw)


CASES = [
    # invalid UTF-8 in the middle of a string, and a byte-order mark before the body
    ("/activities", b'{"email": "ann@example.com", "type": "web\xff\xfevisit"}', 400, "body"),
    ("/leads", b'{"email": "ann@ex\xc3\x28ample.com"}', 400, "body"),
    # nesting the parser accepts but nothing should walk (found here: 950 levels was a 500), and far more
    ("/activities", with_raw(GOOD_ACTIVITY, "properties", nested(65)), 400, "body"),
    ("/leads", with_raw(GOOD_LEAD, "attributes", nested(990)), 400, "body"),
    ("/activities", json.dumps([GOOD_ACTIVITY | {"properties": json.loads(nested(63))}]), 400, "body"),
    ("/leads", with_raw(GOOD_LEAD, "attributes", nested(50_000)), 400, "body"),
    # numbers: an integer of 5,000 digits, a float that overflows to infinity, ints past the columns
    ("/leads", with_raw(GOOD_LEAD, "company_size", "9" * 5000), 400, "body"),
    ("/activities", with_raw(GOOD_ACTIVITY, "properties", '{"n": 1e400}'), 422, "properties.n"),
    ("/leads", with_raw(GOOD_LEAD, "attributes", '{"n": -1e999}'), 422, "attributes.n"),
    ("/leads", with_raw(GOOD_LEAD, "company_size", str(2**31)), 422, "company_size"),
    ("/leads", with_raw(GOOD_LEAD, "revenue_potential", str(2**63)), 422, "revenue_potential"),
    # far-off and malformed times, including ones Python's datetime cannot hold
    ("/activities", with_raw(GOOD_ACTIVITY, "occurred_at", '"9999-12-31T23:59:59Z"'), 422, "occurred_at"),
    ("/activities", with_raw(GOOD_ACTIVITY, "occurred_at", '"0001-01-01T00:00:00Z"'), 422, "occurred_at"),
    ("/activities", with_raw(GOOD_ACTIVITY, "occurred_at", '"+275760-09-13T00:00:00Z"'), 422, "occurred_at"),
    ("/activities", with_raw(GOOD_ACTIVITY, "occurred_at", '"2026-02-30T00:00:00Z"'), 422, "occurred_at"),
    ("/activities", with_raw(GOOD_ACTIVITY, "occurred_at", "99999999999999999999"), 422, "occurred_at"),
    ("/activities", with_raw(GOOD_ACTIVITY, "occurred_at", "-62135596801"), 422, "occurred_at"),
    # NUL where bad_values must look too: an object key, an email, a batch item
    ("/activities", with_raw(GOOD_ACTIVITY, "properties", '{"a\\u0000b": 1}'), 422, "properties"),
    ("/leads", json.dumps({"email": "ann\x00@example.com"}), 422, "email"),
    ("/leads", json.dumps([GOOD_LEAD, {"email": "bob@example.com", "company": "B\x00"}]), 422, "[1].company"),
]


@pytest.mark.parametrize(("path", "body", "status", "field"), CASES)
def test_hostile_bodies_are_a_4xx_naming_the_field_and_store_nothing(
    writer, lead_writer, path, body, status, field
):
    sender = writer if path == "/activities" else lead_writer
    response = sender.post(path, None, raw=body)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f.startswith(field) or field in f for f in fields), fields
    assert not Activity.objects.exists() and not Lead.objects.exists()


def test_nesting_up_to_the_limit_is_stored(writer):
    body = with_raw(GOOD_ACTIVITY | {"occurred_at": "2026-11-01T00:00:00Z"}, "properties", nested(63))
    response = writer.post("/activities", None, raw=body)
    assert response.status_code == 201, response.content
    assert Activity.objects.get().properties == json.loads(nested(63))
