"""Pages about leads: the queue, the list, a lead's own page, assignment."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from config.exports import csv_response
from config.roles import MARKETING, ROLES, SALES_MANAGER, SALES_REP, has_role, role_required
from leads.assignment import AssignmentError, assign_leads, claim_lead, round_robin
from leads.models import Lead
from leads.selectors import (
    EXPORT_FIELDS,
    QueueFilters,
    active_buckets,
    lead_export_rows,
    lead_page,
    new_in_queue_since,
    queue_filter_choices,
    queue_page,
    queue_rows,
    rep_choices,
    search_leads,
    team_overview,
)
from scoring.models import ScoringMatrix


@role_required(*ROLES, staff=True)
def queue(request: HttpRequest) -> HttpResponse:
    """The sales queue in work order: my queue for a rep, the team's for a manager, read-only for marketing."""
    filters = QueueFilters.from_query(request.GET)
    now = timezone.now()
    buckets = active_buckets()
    page = queue_page(
        user=request.user,
        filters=filters,
        cursor=request.GET.get("after", ""),
        size=settings.LEADMATRIX["QUEUE_PAGE_SIZE"],
        now=now,
    )
    can_assign = has_role(request.user, SALES_MANAGER)
    context = {
        "page": page,
        "filters": filters,
        "can_claim": has_role(request.user, SALES_REP),
        "can_assign": can_assign,
        "read_only": has_role(request.user, MARKETING)
        and not has_role(request.user, SALES_REP, SALES_MANAGER),
        "title": "My queue" if has_role(request.user, SALES_REP) else "Team queue",
        "rows": queue_rows(page.leads, now=now, buckets={b.key: b for b in buckets}),
        # The assign form is part of the results, so the htmx fragment needs the reps too.
        "reps": rep_choices() if can_assign or not request.htmx else [],
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "leads/queue.html#results", context)
    context |= {"buckets": [(b.key, b.name) for b in buckets if b.in_queue], **queue_filter_choices()}
    return render(request, "leads/queue.html", context)


@role_required(*ROLES, staff=True)
def queue_arrivals(request: HttpRequest) -> HttpResponse:
    """The 'new leads arrived' banner, polled by the queue page."""
    try:
        since = timezone.datetime.fromisoformat(request.GET.get("since", ""))
    except ValueError:
        return HttpResponse("")
    count = new_in_queue_since(user=request.user, filters=QueueFilters.from_query(request.GET), since=since)
    return render(request, "leads/queue.html#arrivals", {"arrivals": count})


@require_POST
@role_required(SALES_REP)
def claim(request: HttpRequest, pk: int) -> HttpResponse:
    """A rep takes an unassigned lead; if another rep was quicker, say so."""
    lead = get_object_or_404(Lead.objects.visible_to(request.user), pk=pk)
    try:
        lead = claim_lead(lead_id=lead.pk, by=request.user)
        messages.success(request, f"{lead} is yours now.")
    except AssignmentError as exc:
        messages.error(request, str(exc))
    return redirect(_back(request, lead.get_absolute_url()))


@require_POST
@role_required(SALES_MANAGER)
def assign(request: HttpRequest) -> HttpResponse:
    """A manager assigns or reassigns the selected leads to a rep (or to nobody)."""
    ids = [int(pk) for pk in request.POST.getlist("lead") if pk.isdigit()]
    owner_id = request.POST.get("owner", "")
    owner = get_object_or_404(User, pk=owner_id) if owner_id.isdigit() else None
    if not ids:
        messages.error(request, "Select at least one lead to assign.")
    else:
        try:
            changed = assign_leads(lead_ids=ids, owner=owner, by=request.user)
            who = (owner.get_full_name() or owner.username) if owner else "nobody"
            messages.success(request, f"{changed} lead{'s' if changed != 1 else ''} assigned to {who}.")
        except AssignmentError as exc:
            messages.error(request, str(exc))
    return redirect(_back(request, "leads:queue"))


@require_POST
@role_required(SALES_MANAGER)
def assign_round_robin(request: HttpRequest) -> HttpResponse:
    """Share a bucket's unassigned queue leads among the reps in turn."""
    bucket = request.POST.get("bucket", "")
    try:
        counts = round_robin(bucket=bucket, by=request.user)
        total = sum(counts.values())
        if total:
            shares = ", ".join(f"{name} {n}" for name, n in counts.items())
            messages.success(request, f"{total} unassigned leads shared out: {shares}.")
        else:
            messages.info(request, "There are no unassigned leads in that bucket.")
    except AssignmentError as exc:
        messages.error(request, str(exc))
    return redirect(_back(request, "leads:queue"))


@role_required(SALES_MANAGER, staff=True)
def team(request: HttpRequest) -> HttpResponse:
    """Per rep: leads owned, overdue, contacts within SLA, outcomes this week; the unassigned leads."""
    now = timezone.now()
    unassigned = Lead.objects.in_queue().filter(owner__isnull=True)
    context = {
        "rows": team_overview(now=now),
        "unassigned": unassigned.queue_order()[:20],
        "unassigned_count": unassigned.count(),
        "overdue_unassigned": unassigned.filter(due_at__lt=now).count(),
        "now": now,
        "buckets": ScoringMatrix.objects.active().buckets.filter(in_queue=True),
    }
    return render(request, "leads/team.html", context)


@role_required(*ROLES, staff=True)
def lead_list(request: HttpRequest) -> HttpResponse:
    """Every lead a person may see, hottest first, filtered by grade, bucket or a search."""
    page = search_leads(
        user=request.user,
        q=request.GET.get("q", ""),
        grade=request.GET.get("grade", ""),
        bucket=request.GET.get("bucket", ""),
        after=request.GET.get("after", ""),
        size=settings.LEADMATRIX["QUEUE_PAGE_SIZE"],
    )
    context = {"page": page, "buckets": ScoringMatrix.objects.active().buckets.all(), "params": request.GET}
    template = "leads/list.html#results" if request.htmx else "leads/list.html"
    return render(request, template, context)


@role_required(*ROLES, staff=True)
def lead_export(request: HttpRequest) -> HttpResponse:
    """The lead list with its current filters as a CSV file, safe to open in a spreadsheet."""
    header = [*(name.replace("owner__username", "owner") for name in EXPORT_FIELDS)]
    rows = lead_export_rows(
        user=request.user,
        q=request.GET.get("q", ""),
        grade=request.GET.get("grade", ""),
        bucket=request.GET.get("bucket", ""),
    )
    return csv_response(f"leads-{timezone.localdate():%Y-%m-%d}.csv", header, rows)


@role_required(*ROLES, staff=True)
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One lead: label, bucket and action, owner and SLA, why it scored, history and outcomes."""
    lead = get_object_or_404(
        Lead.objects.visible_to(request.user).select_related("scored_version", "owner"), pk=pk
    )
    context = lead_page(lead) | {
        "can_log": has_role(request.user, SALES_MANAGER)
        or (has_role(request.user, SALES_REP) and lead.owner_id in (None, request.user.pk)),
        "can_claim": has_role(request.user, SALES_REP) and lead.owner_id is None,
        "now": timezone.now(),
    }
    return render(request, "leads/detail.html", context)


def _back(request: HttpRequest, default: str) -> str:
    """Where to return after a POST: the `next` field when it is ours, else the default."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default
