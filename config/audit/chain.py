"""Writing to and checking the audit chain.

`record` appends one entry inside the caller's transaction, so an audited change and its entry commit
or roll back together. Writers are serialised (an advisory lock on PostgreSQL) because every entry
names the hash of the one before: the chain must stay one line. `verify_chain` walks it from the start
and names the first entry that does not fit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from django.db import connection, models, transaction
from django.utils import timezone

from config.audit.models import GENESIS, AuditEntry

# Any fixed 64-bit number; it names "the audit chain" among PostgreSQL's advisory locks.
ADVISORY_LOCK_KEY = 0x4C4D_4155_4449_5431  # "LMAUDIT1"


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    return str(value)


def canonical_json(value) -> str:
    """JSON with sorted keys and no spaces; the form stored and hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)


def snapshot(obj: models.Model) -> dict:
    """The stored values of a model instance's concrete fields (foreign keys as ids)."""
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def stored_snapshot(obj: models.Model) -> dict | None:
    """The row as the database holds it now, before an unsaved change; None for a new row."""
    if obj.pk is None:
        return None
    return (
        type(obj)
        ._base_manager.filter(pk=obj.pk)
        .values(*[f.attname for f in obj._meta.concrete_fields])
        .first()
    )


def changed_only(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """Keep only the fields that differ (all of them for a creation or a deletion)."""
    if before is None or after is None:
        return before, after
    keys = [k for k in after if canonical_json(before.get(k)) != canonical_json(after[k])]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _serialise_writers() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
    # SQLite allows one writer at a time; a writer that read a stale head fails on the unique prev_hash.


def record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry to the chain, in the caller's transaction (or its own)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        _serialise_writers()
        head = AuditEntry.objects.order_by("-seq").values("seq", "hash").first()
        entry = AuditEntry(
            seq=(head["seq"] + 1) if head else 1,
            # The clock can step back between processes; the chain's order is `seq`, `at` is information.
            at=at or timezone.now(),
            actor_id=user.pk if user else None,
            actor_name=(user.get_username() if user else str(actor or ""))[:150],
            action=action[:80],
            object_type=object_type[:100],
            object_id=str(object_id)[:64],
            object_repr=object_repr[:200],
            data=canonical_json({"before": before, "after": after, "reason": reason}),
            prev_hash=head["hash"] if head else GENESIS,
        )
        entry.hash = entry.compute_hash()
        entry.save(force_insert=True)
    return entry


# Stands in for the value of a secret field: the entry says that it was set or changed, never to what.
NOT_RECORDED = "(not recorded)"


def hide_secrets(values: dict | None, secret_fields: Iterable[str]) -> dict | None:
    """The same values with each secret field that is present replaced by `NOT_RECORDED`."""
    if values is None:
        return None
    return {k: NOT_RECORDED if k in secret_fields else v for k, v in values.items()}


def record_change(
    *,
    actor,
    obj: models.Model,
    before: dict | None,
    reason: str = "",
    at: datetime | None = None,
    secret_fields: Iterable[str] = (),
) -> AuditEntry | None:
    """Append an entry for a saved model instance: created (no `before`) or changed (only what differs).

    A save that changed nothing writes no entry (and returns None): nothing happened to record.
    """
    old, new = changed_only(before, snapshot(obj))
    if before is not None and not new:
        return None
    secret_fields = frozenset(secret_fields)
    old, new = hide_secrets(old, secret_fields), hide_secrets(new, secret_fields)
    verb = "create" if before is None else "change"
    return record(actor=actor, action=f"{obj._meta.label_lower}.{verb}", obj=obj,
                  before=old, after=new, reason=reason, at=at)  # fmt: skip


@dataclass(frozen=True)
class ChainReport:
    """What `verify_chain` found: how many entries it checked, the head, and the first broken link."""

    checked: int
    head: str
    broken: AuditEntry | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify_chain(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the chain in order; stop at the first entry whose position, link or content is wrong."""
    previous_hash, expected_seq, checked = GENESIS, 1, 0
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=chunk_size):
        problem = ""
        if entry.seq != expected_seq:
            problem = (
                f"entries #{expected_seq}–#{entry.seq - 1} are missing"
                if entry.seq > expected_seq
                else f"its number repeats or goes back (expected #{expected_seq})"
            )
        elif entry.prev_hash != previous_hash:
            problem = "its link (prev_hash) does not match the hash of the entry before it"
        elif entry.compute_hash() != entry.hash:
            problem = "its content does not match its hash: it was changed after it was written"
        if problem:
            return ChainReport(checked=checked, head=previous_hash, broken=entry, problem=problem)
        previous_hash, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    return ChainReport(checked=checked, head=previous_hash)
