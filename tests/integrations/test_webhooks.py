"""Webhooks: a lead entering a chosen bucket is posted, signed, retried with backoff, logged, re-sent."""

import hashlib
import hmac
import itertools
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from leads.ingest import ActivityIn, LeadIn, record_activity, upsert_leads
from leads.integrations import webhooks
from leads.integrations.models import Webhook, WebhookAttempt, WebhookDelivery
from tests.factories import make_lead

pytestmark = pytest.mark.django_db
SECRET = "s3cret-shared-with-the-crm"


class Receiver:
    """A real HTTP server on a free port that records requests and answers the statuses it is told."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"thanks" if status < 300 else b"try later")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/leadmatrix"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def crm_hook(receiver) -> Webhook:
    return Webhook.objects.create(name="CRM", url=receiver.url, secret=SECRET, buckets=["mql", "sales_ready"])


def demo_request(lead, now=None, event="demo-1"):
    now = now or timezone.now()
    return record_activity(ActivityIn(lead.email, "demo_request", now, "web", event), now=now)


def test_entering_a_chosen_bucket_posts_a_signed_notification(
    crm_hook, receiver, django_capture_on_commit_callbacks
):
    lead = make_lead(seniority="executive")
    with django_capture_on_commit_callbacks(execute=True):
        demo_request(lead)
    lead.refresh_from_db()
    assert lead.bucket in crm_hook.buckets
    (request,) = receiver.requests
    body = json.loads(request["body"])
    assert body["event"] == "lead.entered_bucket"
    assert (body["lead"]["id"], body["lead"]["label"], body["transition"]["to_bucket"]) == (
        lead.pk,
        lead.label,
        lead.bucket,
    )
    stamp, mac = (part.split("=", 1)[1] for part in request["headers"]["Leadmatrix-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)
    delivery = WebhookDelivery.objects.get()
    assert request["headers"]["Leadmatrix-Delivery"] == str(delivery.pk)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert delivery.attempt_log.get().status_code == 200


def test_other_buckets_and_staying_in_a_bucket_send_nothing(
    crm_hook, receiver, django_capture_on_commit_callbacks
):
    lead = make_lead(seniority="student")
    with django_capture_on_commit_callbacks(execute=True):
        record_activity(ActivityIn(lead.email, "email_open", timezone.now(), "esp", "o-1"))
        upsert_leads([LeadIn(lead.email, {"company": "Other"})])
    lead.refresh_from_db()
    assert lead.bucket not in crm_hook.buckets
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_a_profile_change_into_a_bucket_notifies_too(receiver, django_capture_on_commit_callbacks):
    lead = make_lead(seniority="student")
    for n in range(3):
        record_activity(ActivityIn(lead.email, "web_visit", timezone.now(), "web", f"v{n}"))
    lead.refresh_from_db()
    assert lead.bucket == "dead"
    Webhook.objects.create(
        name="Nurture platform", url=receiver.url, secret=SECRET, buckets=["lead", "nurture"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        upsert_leads([LeadIn(lead.email, {"seniority": "executive"})])
    lead.refresh_from_db()
    assert lead.bucket == "lead"
    (request,) = receiver.requests
    body = json.loads(request["body"])
    assert (body["transition"]["cause"], body["transition"]["from_bucket"], body["lead"]["bucket"]) == (
        "profile",
        "dead",
        "lead",
    )


def test_a_failed_delivery_is_retried_with_growing_waits_then_given_up(
    crm_hook, receiver, django_capture_on_commit_callbacks
):
    receiver.statuses = [500] * webhooks.MAX_ATTEMPTS
    lead = make_lead(seniority="executive")
    with django_capture_on_commit_callbacks(execute=True):
        demo_request(lead)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("retrying", 1)
    waits = []
    now = delivery.next_attempt_at
    while delivery.status == "retrying":
        waits.append(delivery.next_attempt_at)
        assert webhooks.send_due_deliveries(now=delivery.next_attempt_at - timedelta(seconds=1)) == 0
        assert webhooks.send_due_deliveries(now=delivery.next_attempt_at) == 1
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS)
    gaps = [b - a for a, b in zip([now - webhooks.FIRST_RETRY, *waits], waits, strict=False)]
    assert gaps[0] == timedelta(seconds=30) and gaps[1] == timedelta(seconds=60)
    assert all(later >= earlier for earlier, later in itertools.pairwise(gaps))
    assert max(gaps) <= webhooks.LONGEST_WAIT
    log = list(delivery.attempt_log.order_by("at"))
    assert len(log) == webhooks.MAX_ATTEMPTS and {a.status_code for a in log} == {500}
    assert log[0].response == "try later"


def test_a_refused_connection_is_logged_and_retried(db, django_capture_on_commit_callbacks):
    Webhook.objects.create(
        name="Down", url="http://127.0.0.1:9/", secret=SECRET, buckets=["mql", "sales_ready"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        demo_request(make_lead(seniority="executive"))
    delivery = WebhookDelivery.objects.get()
    attempt = delivery.attempt_log.get()
    assert delivery.status == "retrying" and attempt.status_code is None and attempt.error


def test_a_delivery_can_be_resent_by_hand(crm_hook, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        demo_request(make_lead(seniority="executive"))
    assert webhooks.resend(deliveries=WebhookDelivery.objects.all()) == 1
    assert len(receiver.requests) == 2 and receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert list(WebhookAttempt.objects.values_list("by_hand", flat=True).order_by("at", "id")) == [
        False,
        True,
    ]


def test_an_inactive_webhook_sends_nothing(crm_hook, receiver, django_capture_on_commit_callbacks):
    crm_hook.active = False
    crm_hook.save()
    with django_capture_on_commit_callbacks(execute=True):
        demo_request(make_lead(seniority="executive"))
    assert not WebhookDelivery.objects.exists() and receiver.requests == []


def test_the_api_answers_before_a_rolled_back_delivery_could_be_sent(crm_hook, receiver, writer):
    """Without commit (the test's transaction) nothing is sent: deliveries go out on commit only."""
    writer.post(
        "/activities",
        {"email": "ceo@example.com", "type": "demo_request", "occurred_at": timezone.now().isoformat()},
    )
    assert receiver.requests == []


def test_the_command_sends_due_retries(crm_hook, receiver, django_capture_on_commit_callbacks):
    from django.core.management import call_command

    receiver.statuses = [503]
    with django_capture_on_commit_callbacks(execute=True):
        demo_request(make_lead(seniority="executive"))
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    call_command("send_webhooks")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == ("delivered", 2, 2)


def transition_into(lead, bucket: str, *, cause: str = "decay", from_bucket: str = "lead"):
    from leads.models import Transition
    from scoring.models import ScoringMatrix

    return Transition.objects.create(
        lead=lead,
        from_bucket=from_bucket,
        to_bucket=bucket,
        grade="C",
        score=12,
        matrix=ScoringMatrix.objects.active(),
        cause=cause,
        at=timezone.now(),
    )


def test_transitions_written_outside_ingest_are_swept_once(receiver, django_capture_on_commit_callbacks):
    """A decay refresh or a publication writes transitions set-based; the sweep notifies of them."""
    lead = make_lead()
    before = transition_into(lead, "nurture")  # older than the webhook: not its business
    hook = Webhook.objects.create(name="MAP", url=receiver.url, secret=SECRET, buckets=["nurture"])
    decayed = transition_into(lead, "nurture")
    transition_into(lead, "dead", from_bucket="nurture")  # another bucket
    transition_into(lead, "nurture", from_bucket="nurture", cause="disposition")  # no bucket change
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.sweep_transitions() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.sweep_transitions() == 0
    (delivery,) = WebhookDelivery.objects.filter(webhook=hook)
    assert delivery.transition_id == decayed.pk != before.pk
    assert delivery.status == "delivered" and len(receiver.requests) == 1
    assert json.loads(receiver.requests[0]["body"])["transition"]["cause"] == "decay"


def test_the_sweep_leaves_alone_what_ingest_already_notified(
    crm_hook, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        demo_request(make_lead(seniority="executive"))
        assert webhooks.sweep_transitions() == 0
    assert WebhookDelivery.objects.count() == 1 and len(receiver.requests) == 1
