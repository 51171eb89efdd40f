"""Idempotency: events stored once per (source, event id); Idempotency-Key replays the stored answer."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.integrations.models import IdempotencyRecord
from leads.models import Activity, Lead

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def test_the_same_key_and_body_replay_the_stored_answer(writer):
    body = [{"email": "a@example.com", "type": "web_visit", "occurred_at": NOW.isoformat()}]  # no event id
    first = writer.post("/activities", body, headers={"Idempotency-Key": "k-1"})
    again = writer.post("/activities", body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Activity.objects.count() == 1  # without the key, an event without id would be stored twice
    assert IdempotencyRecord.objects.count() == 1


def test_the_same_key_with_another_body_is_422(writer):
    body = {"email": "a@example.com", "type": "web_visit", "occurred_at": NOW.isoformat()}
    writer.post("/activities", body, headers={"Idempotency-Key": "k-1"})
    other = writer.post("/activities", body | {"type": "email_open"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert Activity.objects.count() == 1


def test_a_rejected_request_stores_no_answer(writer):
    writer.post("/activities", {"email": "bad"}, headers={"Idempotency-Key": "k-1"})
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["a\x00b", "x" * 256, "snow☃"])
def test_an_unusable_key_is_422_and_writes_nothing(writer, key):
    body = {"email": "a@example.com", "type": "web_visit", "occurred_at": NOW.isoformat()}
    response = writer.post("/activities", body, headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert not Activity.objects.exists()


def test_keys_belong_to_their_token(client, tokens, writer, lead_writer):
    writer.post(
        "/activities",
        {"email": "a@example.com", "type": "web_visit", "occurred_at": NOW.isoformat()},
        headers={"Idempotency-Key": "same"},
    )
    response = lead_writer.post("/leads", {"email": "b@example.com"}, headers={"Idempotency-Key": "same"})
    assert response.status_code == 201


events = st.lists(
    st.tuples(
        st.sampled_from(["a@example.com", "b@example.com", "C@Example.com"]),
        st.sampled_from(["web_visit", "email_open", "demo_request"]),
        st.sampled_from(["mautic", "web"]),
        st.integers(min_value=0, max_value=5),
        st.integers(min_value=0, max_value=30),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(events, min_size=1, max_size=4))
def test_any_resending_stores_each_event_once_and_scores_as_one_send(writer, batches):
    """However events are split into batches and resent, the result equals sending each event once."""
    Activity.objects.all().delete()
    Lead.objects.all().delete()
    sent: dict[tuple[str, str], dict] = {}
    for batch in batches:
        items = []
        for email, type_key, source, event, minutes in batch:
            item = {
                "email": email,
                "type": type_key,
                "occurred_at": (NOW - timedelta(minutes=minutes)).isoformat(),
                "source": source,
                "event_id": f"e{event}",
            }
            items.append(sent.setdefault((source, f"e{event}"), item))  # a resend repeats the first item
        response = writer.post("/activities", items)
        assert response.status_code == 200
        statuses = [r["status"] for r in response.json()["results"]]
        assert set(statuses) <= {"created", "duplicate"}
    stored = set(Activity.objects.values_list("source", "source_event_id"))
    assert stored == set(sent)
    # Every answer for an event names the one stored row.
    again = writer.post("/activities", list(sent.values())).json()
    assert {r["status"] for r in again["results"]} == {"duplicate"}
    assert {r["id"] for r in again["results"]} == set(Activity.objects.values_list("pk", flat=True))
    # The stored scores equal a fresh rescore of the stored activities.
    from scoring.rescore import explain

    for lead in Lead.objects.all():
        assert lead.label == explain(lead, now=lead.scored_at).label


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.fixed_dictionaries(
        {
            "email": st.sampled_from(["a@example.com", "b@example.com"]),
            "company": st.text(max_size=5).filter(lambda s: "\x00" not in s),
        }
    ),
    key=st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=8),
)
def test_a_key_replays_exactly_the_first_answer(lead_writer, body, key):
    IdempotencyRecord.objects.all().delete()
    first = lead_writer.post("/leads", body, headers={"Idempotency-Key": key})
    assert first.status_code in (200, 201)
    again = lead_writer.post("/leads", body, headers={"Idempotency-Key": key})
    assert (again.status_code, again.content) == (first.status_code, first.content)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_senders_of_the_same_events_in_other_orders_store_each_once(tokens):
    """Senders racing with overlapping events and leads, in reverse orders: no deadlock, no double row."""
    import threading

    from django.test import Client

    from tests.integrations.conftest import ApiClient

    items = [
        {
            "email": f"lead{n % 7}@example.com",
            "type": "web_visit",
            "occurred_at": NOW.isoformat(),
            "source": "s",
            "event_id": f"e{n}",
        }
        for n in range(60)
    ]
    orders = [items, items[::-1], items[20:] + items[:20], items[::2] + items[1::2]]
    statuses: list[int] = []

    def send(batch):
        try:
            statuses.append(
                ApiClient(Client(), tokens["activities:write"]).post("/activities", batch).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(batch,)) for batch in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4
    assert Activity.objects.count() == 60
    assert Lead.objects.count() == 7
