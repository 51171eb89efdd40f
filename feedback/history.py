"""Outcomes from before Leadmatrix: recorded as history, with their own dates, and nothing else.

A historical outcome is a fact about the past that reports, backtests and calibration read (see
`feedback.selectors.known_outcomes`). It is not a rep acting now, so unlike `record_disposition`
it does not stop an SLA clock, close a lead out of the queue, start a cool-off, claim the lead or
write a transition: a lead won two years ago that is active again today stays where scoring put
it. Importing the same outcome twice records it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from feedback.models import Disposition, Reason
from leads.models import Lead

HISTORICAL_OUTCOMES = (Disposition.Outcome.WON, Disposition.Outcome.LOST, Disposition.Outcome.DISQUALIFIED)


class HistoryError(ValueError):
    """A historical outcome that cannot be recorded; the message says why."""


@dataclass(frozen=True)
class OutcomeIn:
    email: str
    outcome: str
    at: datetime
    reason_id: int | None = None
    amount: Decimal | None = None
    note: str = ""


def record_historical_outcomes(items: list[OutcomeIn], *, by, now: datetime | None = None) -> list[str]:
    """Record past outcomes of known leads once each; per item "created", "duplicate" or "no lead".

    The same lead, outcome and moment is one outcome, however often it is imported. Leads are
    locked in id order, so two imports of overlapping files queue up instead of recording twice.
    """
    now = now or timezone.now()
    reasons = set(
        Reason.objects.filter(pk__in={i.reason_id for i in items if i.reason_id}).values_list("pk", flat=True)
    )
    for item in items:
        _check(item, now=now, reasons=reasons)
    emails = {item.email.strip().lower() for item in items}
    with transaction.atomic():
        leads = dict(
            Lead.objects.select_for_update()
            .filter(email__in=emails)
            .order_by("pk")
            .values_list("email", "pk")
        )
        known = set(
            Disposition.objects.filter(lead_id__in=leads.values(), imported=True).values_list(
                "lead_id", "outcome", "at"
            )
        )
        statuses, new = [], []
        for item in items:
            lead_id = leads.get(item.email.strip().lower())
            if lead_id is None:
                statuses.append("no lead")
                continue
            key = (lead_id, item.outcome, item.at)
            if key in known:
                statuses.append("duplicate")
                continue
            known.add(key)
            statuses.append("created")
            new.append(
                Disposition(
                    lead_id=lead_id,
                    outcome=item.outcome,
                    reason_id=item.reason_id if item.outcome in Disposition.NEEDS_REASON else None,
                    amount=item.amount if item.outcome in Disposition.NEEDS_AMOUNT else None,
                    note=item.note.strip(),
                    by=by,
                    at=item.at,
                    imported=True,
                )
            )
        Disposition.objects.bulk_create(new)
    return statuses


def _check(item: OutcomeIn, *, now: datetime, reasons: set[int]) -> None:
    if item.outcome not in HISTORICAL_OUTCOMES:
        raise HistoryError(f"outcome: “{item.outcome}” is not won, lost or disqualified")
    if item.outcome in Disposition.NEEDS_REASON and item.reason_id is None:
        raise HistoryError("reason: a disqualified lead needs a reason")
    if item.reason_id is not None and item.reason_id not in reasons:
        raise HistoryError("reason: no such reason")
    if item.at > now + timedelta(days=1):
        raise HistoryError("date: an outcome from the past cannot be in the future")
    if item.amount is not None and item.amount < 0:
        raise HistoryError("amount: cannot be negative")
