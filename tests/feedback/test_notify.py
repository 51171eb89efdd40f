"""SLA warnings reach the owner and the sales managers, once per clock, in the app and by email."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from feedback.models import Notification
from feedback.notify import notify_sla
from tests.factories import make_queue_lead

pytestmark = pytest.mark.django_db


def test_a_lead_about_to_breach_notifies_its_owner_and_the_managers_once(client, rep, manager):
    now = timezone.now()
    lead = make_queue_lead(owner=rep, now=now - timedelta(hours=47, minutes=30))
    make_queue_lead(owner=rep, now=now)  # plenty of time left
    assert notify_sla(now=now) == 2
    assert notify_sla(now=now) == 0
    assert set(Notification.objects.values_list("user__username", flat=True)) == {"riley", "sam"}
    assert all(str(lead) in m.subject for m in mail.outbox) and len(mail.outbox) == 2
    assert notify_sla(now=now + timedelta(hours=1)) == 2  # now overdue: a second, different warning
    client.force_login(rep)
    home = client.get("/").content.decode()
    assert 'data-testid="nav-notifications"' in home and ">2<" in home
    page = client.get("/notifications/").content.decode()
    assert "is overdue" in page
    assert not Notification.objects.filter(user=rep, read_at__isnull=True).exists()


def test_contacted_leads_are_not_warned_about(rep):
    from feedback.dispositions import record_disposition

    now = timezone.now()
    lead = make_queue_lead(owner=rep, now=now - timedelta(hours=50))
    record_disposition(lead_id=lead.pk, by=rep, outcome="connected", expected_owner_id=rep.pk, now=now)
    assert notify_sla(now=now) == 0
