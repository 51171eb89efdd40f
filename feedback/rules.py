"""The rules sales managers keep: the reasons reps choose from, and the queue's cool-off and warnings.

Each change is written with its audit entry in one transaction; a change that changes nothing writes
no entry.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from config.audit import chain as audit
from feedback.models import QueueSettings, Reason

LABEL_MAX = Reason._meta.get_field("label").max_length


class RuleError(ValueError):
    """A change to the reasons or queue rules that was refused; the message says why."""


def add_reason(*, label: str, code: str, by: User) -> Reason:
    """Add a reason at the end of the list; refused when its code is taken."""
    try:
        with transaction.atomic():
            reason = Reason.objects.create(label=label.strip(), code=code, position=Reason.objects.count())
            audit.record_change(actor=by, obj=reason, before=None)
    except IntegrityError as exc:
        # The form checked the code, but another manager may have added it since (both saw it free).
        if Reason.objects.filter(code=code).exists():
            raise RuleError("A reason with that code exists.") from exc
        raise
    return reason


def rename_reason(*, reason_id: int, label: str, by: User) -> Reason:
    """Give a reason a new name; old records show the new name."""
    label = label.strip()
    if not label or len(label) > LABEL_MAX:
        raise RuleError(f"A reason needs a name of at most {LABEL_MAX} characters.")
    return _change_reason(reason_id, by=by, label=label)


def set_reason_active(*, reason_id: int, active: bool, by: User) -> Reason:
    """Retire a reason (no longer offered, kept on old records) or bring it back into use."""
    return _change_reason(reason_id, by=by, active=active)


def _change_reason(reason_id: int, *, by: User, **values) -> Reason:
    """Save the values that differ, with their audit entry; nothing at all when none differs."""
    with transaction.atomic():
        reason = Reason.objects.select_for_update().get(pk=reason_id)
        changed = {name: value for name, value in values.items() if getattr(reason, name) != value}
        if changed:
            before = audit.snapshot(reason)
            for name, value in changed.items():
                setattr(reason, name, value)
            reason.save(update_fields=list(changed))
            audit.record_change(actor=by, obj=reason, before=before)
    return reason


def change_queue_settings(*, cool_off_days: int, warn_hours: int, by: User) -> QueueSettings:
    """Set the team's cool-off and SLA warning time."""
    with transaction.atomic():
        current = QueueSettings.objects.select_for_update().get(pk=QueueSettings.current().pk)
        before = audit.snapshot(current)
        current.cool_off_days, current.warn_hours = cool_off_days, warn_hours
        if audit.snapshot(current) != before:
            current.save()
            audit.record_change(actor=by, obj=current, before=before)
    return current
