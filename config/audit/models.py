"""One row per audited change, chained to the row before by a SHA-256 hash."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

from django.conf import settings
from django.db import models

GENESIS = "0" * 64


class AuditEntry(models.Model):
    """Who did what to which object, with the values before and after; never updated or deleted.

    `hash` is SHA-256 over a canonical serialisation of every other field, `prev_hash` included, so
    changing, removing or reordering a stored entry breaks the chain at that entry (see `verify_chain`).
    `seq` and `prev_hash` are unique: two writers can never fork the chain, even if the lock is missed.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField()
    # No database constraint: a person may be deactivated or removed, their entries never change.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    # Canonical JSON ({"before", "after", "reason"}), stored as text so the hashed bytes are the stored bytes.
    data = models.TextField()
    prev_hash = models.CharField(max_length=64, unique=True)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_repr}".strip()

    def canonical(self) -> bytes:
        """The bytes the hash covers: every field but `hash` and the row id, in a fixed form."""
        payload = {
            "seq": self.seq,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor_id": self.actor_id,
            "actor": self.actor_name,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "object_repr": self.object_repr,
            "data": self.data,
            "prev": self.prev_hash,
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def compute_hash(self) -> str:
        """SHA-256 of the canonical form, as 64 hex digits."""
        return hashlib.sha256(self.canonical()).hexdigest()

    @property
    def details(self) -> dict:
        """The stored before/after/reason, decoded."""
        return json.loads(self.data)
