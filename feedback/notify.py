"""Warning people about SLAs that are about to run out or have run out."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.roles import SALES_MANAGER
from feedback.models import Notification, QueueSettings
from leads.models import Lead


def notify_sla(*, now: datetime | None = None) -> int:
    """Notify each at-risk lead's owner and every sales manager, once per SLA clock; returns how many."""
    now = now or timezone.now()
    horizon = now + timedelta(hours=QueueSettings.current().warn_hours)
    managers = list(User.objects.filter(groups__name=SALES_MANAGER, is_active=True))
    sent = 0
    at_risk = (
        Lead.objects.in_queue()
        .filter(first_contact_at__isnull=True, due_at__lte=horizon)
        .select_related("owner")
    )
    for lead in at_risk.order_by("due_at"):
        late = lead.due_at <= now
        state = "is overdue" if late else f"is due by {timezone.localtime(lead.due_at):%H:%M}"
        message = (
            f"{lead} ({lead.label}, {lead.bucket}) {state}: first contact {'was' if late else 'is'} due."
        )
        key = f"{lead.pk}:{int(lead.due_at.timestamp())}:{'late' if late else 'soon'}"
        people = {p.pk: p for p in [lead.owner, *managers] if p is not None}
        for person in people.values():
            if _notify(person, lead, "sla", key, message):
                sent += 1
    return sent


def _notify(user: User, lead: Lead, kind: str, key: str, message: str) -> bool:
    try:
        with transaction.atomic():
            Notification.objects.create(user=user, lead=lead, kind=kind, key=key, message=message)
    except IntegrityError:  # already told about this clock
        return False
    if user.email:
        send_mail(
            f"Leadmatrix: {message}",
            f"{message}\n\nOpen the lead: {lead.get_absolute_url()}",
            None,
            [user.email],
        )
    return True
