"""The admin's sign-in policy, and which sessions each person holds (so an admin can end them)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import models

POLICY_CACHE_KEY = "accounts:security-policy"


class SecurityPolicy(models.Model):
    """One row: the sign-in rules an admin sets in the admin."""

    require_two_factor = models.BooleanField(
        "require two-factor authentication for Marketing, Sales managers and staff",
        default=False,
        help_text="People in these roles without an authenticator app are asked to set one up at their "
        "next request; sales reps may still choose to use one.",
    )

    class Meta:
        verbose_name = verbose_name_plural = "security policy"

    def __str__(self) -> str:
        return "Security policy"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1  # there is only ever one policy
        super().save(*args, **kwargs)
        cache.delete(POLICY_CACHE_KEY)

    @classmethod
    def current(cls) -> SecurityPolicy:
        """The policy, cached for a minute: the two-factor check runs on every request."""
        policy = cache.get(POLICY_CACHE_KEY)
        if policy is None:
            policy, _ = cls.objects.get_or_create(pk=1)
            cache.set(POLICY_CACHE_KEY, policy, 60)
        return policy


class UserSession(models.Model):
    """A session a person signed in with; the session itself lives in Django's session store."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signed_in")
    session_key = models.CharField(max_length=40, unique=True)
    ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} from {self.ip or 'unknown'} at {self.created_at:%Y-%m-%d %H:%M}"
