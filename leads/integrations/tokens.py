"""API tokens: issued once, stored as a SHA-256 digest, checked per request, revoked in the admin.

A token is `lm_` + 8 characters of prefix + 32 random characters (about 190 bits). With that much
entropy a plain SHA-256 is the right hash: a slow password hash would cost every request
milliseconds and buy nothing, since nobody can guess such a token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from config.audit import chain as audit
from leads.integrations.models import ApiToken

# last_used_at is written at most this often per token, so a busy sender does not write a row a request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def digest_of(plaintext: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def issue_token(
    *, name: str, scope: str, created_by=None, rate_per_minute: int = 600
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plaintext, which is never stored and cannot be shown again."""
    prefix = secrets.token_hex(4)
    plaintext = f"lm_{prefix}_{secrets.token_urlsafe(24)}"
    token = ApiToken.objects.create(
        name=name,
        scope=scope,
        prefix=prefix,
        digest=digest_of(plaintext),
        created_by=created_by,
        rate_per_minute=rate_per_minute,
    )
    return token, plaintext


def fill_new_token(token: ApiToken) -> str:
    """Give an unsaved token (from the admin form) its prefix and digest; returns the plaintext."""
    token.prefix = secrets.token_hex(4)
    plaintext = f"lm_{token.prefix}_{secrets.token_urlsafe(24)}"
    token.digest = digest_of(plaintext)
    return plaintext


def token_for(plaintext: str, *, now: datetime | None = None) -> ApiToken | None:
    """The active token with this plaintext, or None; notes when it was last used.

    Kept per process for `CACHE_SECONDS`: a sender's every request would otherwise start with a
    round trip for the same row. Revoking or saving a token forgets it in this process at once; other
    server processes honour a revocation within `CACHE_SECONDS`.
    """
    if not plaintext.startswith("lm_") or len(plaintext) > 100:
        return None
    digest = digest_of(plaintext)
    stamp = time.monotonic()
    cached = _cache.get(digest)
    if cached is not None and stamp - cached[0] < CACHE_SECONDS:
        token = cached[1]
    else:
        token = ApiToken.objects.filter(digest=digest, revoked_at__isnull=True).first()
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()  # far more tokens than senders: someone is guessing, keep memory bounded
        _cache[digest] = (stamp, token)
    if token is None:
        return None
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# How long a process trusts a token it looked up (also that a plaintext is unknown).
CACHE_SECONDS = 5.0
_CACHE_SIZE = 1000
_cache: dict[str, tuple[float, ApiToken | None]] = {}


def forget_tokens() -> None:
    """Drop this process's cached token look-ups (after a token was saved, revoked or deleted)."""
    _cache.clear()


@receiver([post_save, post_delete], sender=ApiToken)
def _forget_on_change(**kwargs) -> None:
    forget_tokens()


def revoke_tokens(*, tokens, by, now: datetime | None = None) -> int:
    """Revoke tokens at once, one audit entry each; requests with them answer 401 from then on."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(tokens.values_list("pk", flat=True))
        revoking = list(
            ApiToken.objects.select_for_update().filter(pk__in=ids, revoked_at__isnull=True).order_by("pk")
        )
        ApiToken.objects.filter(pk__in=[t.pk for t in revoking]).update(revoked_at=now)
        for token in revoking:
            audit.record(actor=by, action="integrations.apitoken.revoke", obj=token,
                         before={"revoked_at": None}, after={"revoked_at": now})  # fmt: skip
    forget_tokens()
    return len(revoking)
