"""Per-request sign-in rules: idle and absolute session limits, then the two-factor step."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

AUTH_AT = "lm_auth_at"  # when the person signed in (epoch seconds)
SEEN_AT = "lm_seen_at"  # their last request, refreshed at most once a minute to spare session writes
SEEN_RESOLUTION = 60
# Requests a page makes by itself on a timer: an open tab is not a person at work.
POLLING_VIEWS = {"leads:arrivals", "scoring:proposal_preview"}


class SessionPolicyMiddleware:
    """Ends stale sessions, and keeps an unverified person on the two-factor pages until done."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if response := self._expired(request):
                return response
            if response := self._two_factor(request):
                return response
        return self.get_response(request)

    def _expired(self, request: HttpRequest) -> HttpResponse | None:
        now = int(timezone.now().timestamp())
        session = request.session
        auth_at, seen_at = session.get(AUTH_AT), session.get(SEEN_AT)
        if auth_at is None or seen_at is None:
            # A session from before these limits existed: start counting now.
            session[AUTH_AT], session[SEEN_AT] = auth_at or now, now
            return None
        if now - auth_at > settings.SESSION_COOKIE_AGE:
            why = "Your session reached its maximum length; please sign in again."
        elif now - seen_at > settings.SESSION_IDLE_SECONDS:
            why = "You were signed out after a period without activity; please sign in again."
        else:
            if now - seen_at >= SEEN_RESOLUTION and not _polling(request):
                session[SEEN_AT] = now
            return None
        logout(request)
        messages.info(request, why)
        return _to(reverse(settings.LOGIN_URL), request)

    def _two_factor(self, request: HttpRequest) -> HttpResponse | None:
        from config.accounts.services import two_factor_step

        if request.user.is_verified():
            return None
        step = two_factor_step(request.user)
        if step is None:
            return None
        target = reverse("two_factor_verify" if step == "verify" else "two_factor")
        allowed = {target, reverse("logout")}
        if request.path in allowed:
            return None
        return _to(target, request)


def _polling(request: HttpRequest) -> bool:
    try:
        return resolve(request.path_info).view_name in POLLING_VIEWS
    except Resolver404:
        return False


def _to(url: str, request: HttpRequest) -> HttpResponse:
    """Redirect, keeping where the person was going; htmx requests get a full-page redirect."""
    if request.method == "GET" and not request.headers.get("HX-Request"):
        url = f"{url}?{urlencode({'next': request.get_full_path()})}"
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)
