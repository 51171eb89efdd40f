"""Sign-in and sign-out hooks: note the session's start and owner, forget it at sign-out."""

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.utils import timezone

from config.accounts.client_ip import client_ip
from config.accounts.middleware import AUTH_AT, SEEN_AT
from config.accounts.models import UserSession


@receiver(user_logged_in, dispatch_uid="accounts-session-start")
def session_started(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    now = int(timezone.now().timestamp())
    request.session[AUTH_AT] = now
    request.session[SEEN_AT] = now
    if request.session.session_key is None:
        request.session.save()
    UserSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={
            "user": user,
            "ip": client_ip(request) or "",
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
        },
    )


@receiver(user_logged_out, dispatch_uid="accounts-session-end")
def session_ended(sender, request, user, **kwargs) -> None:
    if request is not None and getattr(request, "session", None) and request.session.session_key:
        UserSession.objects.filter(session_key=request.session.session_key).delete()
