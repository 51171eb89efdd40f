"""API tokens: issued once, stored as a SHA-256 digest, checked per request, revoked in the admin.

A token is `lm_` + 8 characters of prefix + 32 random characters (about 190 bits). With that much
entropy a plain SHA-256 is the right hash: a slow password hash would cost every request
milliseconds and buy nothing, since nobody can guess such a token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.utils import timezone

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
    """The active token with this plaintext, or None; notes when it was last used."""
    if not plaintext.startswith("lm_") or len(plaintext) > 100:
        return None
    token = ApiToken.objects.filter(digest=digest_of(plaintext), revoked_at__isnull=True).first()
    if token is None:
        return None
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke_tokens(*, tokens, now: datetime | None = None) -> int:
    """Revoke tokens at once; requests with them answer 401 from then on."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=now or timezone.now())
