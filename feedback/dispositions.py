"""Logging what happened with a lead: the outcome, its reason, and what it does to the queue."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from config.audit import chain as audit
from config.roles import SALES_MANAGER, has_role
from feedback.models import Disposition, QueueSettings, Reason
from leads.models import Lead, Transition
from leads.queue import FAR_FUTURE


class DispositionError(ValueError):
    """An outcome that cannot be logged; `field` names the form field at fault (or None)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def record_disposition(
    *,
    lead_id: int,
    by,
    outcome: str,
    expected_owner_id: int | None,
    reason: Reason | None = None,
    amount: Decimal | None = None,
    note: str = "",
    next_follow_up: date | None = None,
    now: datetime | None = None,
) -> Disposition:
    """Log an outcome for a lead; first contact stops the SLA clock, closing outcomes leave the queue.

    Everything is checked before anything is written, with the lead locked, so a refused outcome
    changes nothing and two people logging at once are serialised.
    """
    now = now or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update(of=("self",)).select_related("owner").get(pk=lead_id)
        _check(lead, by=by, outcome=outcome, expected_owner_id=expected_owner_id, reason=reason,
               amount=amount, next_follow_up=next_follow_up, today=timezone.localdate(now))  # fmt: skip
        disposition = Disposition.objects.create(
            lead=lead,
            outcome=outcome,
            reason=reason if outcome in Disposition.NEEDS_REASON else None,
            amount=amount if outcome in Disposition.NEEDS_AMOUNT else None,
            note=note.strip(),
            next_follow_up=next_follow_up,
            by=by,
            at=now,
        )
        changed = []
        if outcome in Disposition.CONTACT and lead.first_contact_at is None:
            lead.first_contact_at = now
            lead.sla_met = lead.due_at == FAR_FUTURE or now <= lead.due_at
            lead.due_at = FAR_FUTURE
            changed += ["first_contact_at", "sla_met", "due_at"]
        if outcome in Disposition.CLOSES_OUT and not lead.closed_out:
            was_in_queue = lead.in_queue
            lead.closed_out = True
            lead.in_queue = False
            lead.due_at = FAR_FUTURE
            lead.cool_off_until = now + timedelta(days=QueueSettings.current().cool_off_days)
            changed += ["closed_out", "in_queue", "due_at", "cool_off_until"]
            if was_in_queue:
                Transition.objects.create(
                    lead=lead,
                    from_bucket=lead.bucket,
                    to_bucket=lead.bucket,
                    in_queue=False,
                    grade=lead.grade,
                    score=lead.score,
                    matrix_id=lead.scored_version_id,
                    cause=Transition.Cause.DISPOSITION,
                    at=now,
                    by=by,
                )
        if lead.owner_id is None and not has_role(by, SALES_MANAGER):
            lead.owner = by  # logging an outcome on an unassigned lead claims it
            changed.append("owner")
        if changed:
            lead.save(update_fields=sorted(set(changed)))
        # Last in the transaction: the chain's lock is held for as short a time as possible.
        audit.record_change(actor=by, obj=disposition, before=None, at=now)
    return disposition


def _check(lead, *, by, outcome, expected_owner_id, reason, amount, next_follow_up, today) -> None:
    if outcome not in Disposition.Outcome.values:
        raise DispositionError("Choose an outcome.", "outcome")
    if not has_role(by, SALES_MANAGER) and lead.owner_id not in (None, by.pk):
        raise DispositionError(
            "This lead belongs to another rep; only its owner or a sales manager can log outcomes."
        )
    if lead.owner_id != expected_owner_id:
        owner = lead.owner.get_full_name() or lead.owner.username if lead.owner else "nobody"
        raise DispositionError(
            f"This lead was reassigned to {owner} while you were filling in the form; nothing was saved. "
            "Check the lead and log the outcome again."
        )
    if outcome in Disposition.NEEDS_REASON:
        if reason is None:
            raise DispositionError(
                "Choose a reason: it is required when a lead is disqualified or nurtured.", "reason"
            )
        if not reason.active:
            raise DispositionError(f"The reason “{reason.label}” has been retired; choose another.", "reason")
    if outcome in Disposition.NEEDS_AMOUNT and (amount is None or amount <= 0):
        raise DispositionError("Enter the amount as a positive number.", "amount")
    if next_follow_up is not None and next_follow_up < today:
        raise DispositionError("The next follow-up cannot be in the past.", "next_follow_up")
