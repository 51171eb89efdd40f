"""The three business roles, as Django groups, and the helpers views use to check them."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

MARKETING = "Marketing"
SALES_MANAGER = "Sales manager"
SALES_REP = "Sales rep"
ROLES = (MARKETING, SALES_MANAGER, SALES_REP)

# Model permissions each group gets (for the admin and for anyone checking perms); the app's own
# pages check roles with `role_required`. Kept here so a migration and the docs read one list.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    MARKETING: [
        "leads.view_lead",
        "leads.view_activity",
        "scoring.view_scoringmatrix",
    ],
    SALES_MANAGER: [
        "leads.view_lead",
        "leads.change_lead",
        "leads.view_activity",
        "scoring.view_scoringmatrix",
    ],
    SALES_REP: [
        "leads.view_lead",
        "leads.view_activity",
        "scoring.view_scoringmatrix",
    ],
}


def roles_of(user) -> frozenset[str]:
    """Return the names of the business roles the user holds (cached on the user object)."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_leadmatrix_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._leadmatrix_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    """True when the user holds any of the roles."""
    return bool(roles_of(user).intersection(roles))


def role_required(*roles: str, staff: bool = False) -> Callable:
    """Decorate a view: sign-in required, then one of `roles` (or staff, when `staff`), else 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args, **kwargs):
            if not (has_role(request.user, *roles) or (staff and request.user.is_staff)):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def context(request: HttpRequest) -> dict:
    """Template context: which roles the signed-in person holds, for the navigation."""
    held = roles_of(request.user) if hasattr(request, "user") else frozenset()
    return {
        "is_marketer": MARKETING in held,
        "is_sales_manager": SALES_MANAGER in held,
        "is_rep": SALES_REP in held,
        "role_names": sorted(held),
    }
