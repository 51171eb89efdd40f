"""The home page, which sends each role on to its work."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from config.roles import roles_of
from leads.selectors import home_figures


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role's starting point, with the figures that matter to it."""
    return render(request, "home.html", {"figures": home_figures(), "has_role": bool(roles_of(request.user))})
