"""Template context from feedback: the number on the notification bell."""

from django.http import HttpRequest

from config.roles import SALES_MANAGER, SALES_REP, has_role
from feedback.models import Notification


def unread_count(request: HttpRequest) -> dict:
    """Template context: the number on the bell in the navigation."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated or not has_role(user, SALES_REP, SALES_MANAGER):
        return {}
    return {"unread_notifications": Notification.objects.filter(user=user, read_at__isnull=True).count()}
