"""Template context for the navigation: how many proposals wait for this person's approval."""

from django.http import HttpRequest

from config.roles import MARKETING, SALES_MANAGER, has_role


def proposals(request: HttpRequest) -> dict:
    """The count behind the Proposals badge (a lazy callable: no query unless the page shows it)."""
    user = getattr(request, "user", None)
    if user is None or not has_role(user, MARKETING, SALES_MANAGER):
        return {}

    def awaiting() -> int:
        from scoring.governance import awaiting_approval

        return awaiting_approval(user).count()

    return {"proposals_awaiting": awaiting}
