"""Pages about leads: the list and a lead's own page with why it scored as it did."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from config.roles import ROLES, role_required
from leads.models import Lead
from leads.selectors import lead_page, search_leads
from scoring.models import ScoringMatrix


@role_required(*ROLES, staff=True)
def lead_list(request: HttpRequest) -> HttpResponse:
    """Leads, hottest first, filtered by grade, bucket or a search; paged by keyset."""
    page = search_leads(
        q=request.GET.get("q", ""),
        grade=request.GET.get("grade", ""),
        bucket=request.GET.get("bucket", ""),
        queue_only=request.GET.get("queue") == "1",
        after=request.GET.get("after", ""),
        size=settings.LEADMATRIX["QUEUE_PAGE_SIZE"],
    )
    context = {"page": page, "buckets": ScoringMatrix.objects.active().buckets.all(), "params": request.GET}
    template = "leads/list.html#results" if request.htmx else "leads/list.html"
    return render(request, template, context)


@role_required(*ROLES, staff=True)
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One lead: its label, bucket and action, and the explanation of every point."""
    lead = get_object_or_404(Lead.objects.select_related("scored_version"), pk=pk)
    return render(request, "leads/detail.html", lead_page(lead))
