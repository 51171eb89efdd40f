"""Pages where sales logs outcomes and manages reasons and queue rules."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from config.roles import SALES_MANAGER, SALES_REP, role_required
from feedback import rules
from feedback.dispositions import DispositionError, record_disposition
from feedback.forms import DispositionForm, QueueSettingsForm, ReasonForm
from feedback.models import Notification, QueueSettings, Reason
from leads.models import Lead


@role_required(SALES_REP, SALES_MANAGER)
def log_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    """The outcome form (a modal on the lead page, a page without JavaScript) and its submission."""
    lead = get_object_or_404(Lead.objects.visible_to(request.user).select_related("owner"), pk=pk)
    if request.method == "POST":
        form = DispositionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                disposition = record_disposition(
                    lead_id=lead.pk,
                    by=request.user,
                    outcome=data["outcome"],
                    expected_owner_id=data["expected_owner"],
                    reason=data["reason"],
                    amount=data["amount"],
                    note=data["note"],
                    next_follow_up=data["next_follow_up"],
                )
            except DispositionError as exc:
                form.add_error(exc.field, str(exc))
            else:
                messages.success(request, f"Logged “{disposition.get_outcome_display()}” for {lead}.")
                response = redirect(lead)
                if request.htmx:
                    response = HttpResponse(status=204, headers={"HX-Redirect": lead.get_absolute_url()})
                return response
    else:
        form = DispositionForm(initial={"expected_owner": lead.owner_id})
    template = "feedback/outcome.html#form" if request.htmx else "feedback/outcome.html"
    # 422 with the form: htmx is configured (base.html) to swap it in so the errors show by the fields.
    return render(request, template, {"lead": lead, "form": form}, status=422 if form.errors else 200)


@role_required(SALES_MANAGER)
def reasons(request: HttpRequest) -> HttpResponse:
    """The managed list of reasons, and the queue's cool-off and warning settings."""
    queue_settings = QueueSettings.current()
    reason_form = ReasonForm(prefix="reason")
    settings_form = QueueSettingsForm(instance=queue_settings, prefix="queue")
    if request.method == "POST":
        if "reason-label" in request.POST:
            reason_form = ReasonForm(request.POST, prefix="reason")
            if reason_form.is_valid():
                data = reason_form.cleaned_data
                try:
                    reason = rules.add_reason(label=data["label"], code=data["code"], by=request.user)
                except rules.RuleError as exc:
                    reason_form.add_error("code", str(exc))
                else:
                    messages.success(request, f"Added the reason “{reason.label}”.")
                    return redirect("feedback:reasons")
        else:
            settings_form = QueueSettingsForm(request.POST, instance=queue_settings, prefix="queue")
            if settings_form.is_valid():
                data = settings_form.cleaned_data
                rules.change_queue_settings(
                    cool_off_days=data["cool_off_days"], warn_hours=data["warn_hours"], by=request.user
                )
                messages.success(request, "Queue settings saved.")
                return redirect("feedback:reasons")
    context = {"reasons": Reason.objects.all(), "reason_form": reason_form, "settings_form": settings_form}
    return render(request, "feedback/reasons.html", context)


@require_POST
@role_required(SALES_MANAGER)
def rename_reason(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename a reason; old records show the new name."""
    reason = get_object_or_404(Reason, pk=pk)
    try:
        reason = rules.rename_reason(
            reason_id=reason.pk, label=request.POST.get("label", ""), by=request.user
        )
    except rules.RuleError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Renamed to “{reason.label}”.")
    return redirect("feedback:reasons")


@require_POST
@role_required(SALES_MANAGER)
def toggle_reason(request: HttpRequest, pk: int) -> HttpResponse:
    """Retire a reason (it stays on old records) or bring it back."""
    reason = get_object_or_404(Reason, pk=pk)
    # The button says which state it asks for, so a second click (or a stale tab) does not undo the first.
    wanted = request.POST.get("active", "")
    active = wanted == "1" if wanted in {"0", "1"} else not reason.active
    reason = rules.set_reason_active(reason_id=reason.pk, active=active, by=request.user)
    messages.success(request, f"“{reason.label}” is {'back in use' if reason.active else 'retired'}.")
    return redirect("feedback:reasons")


@role_required(SALES_REP, SALES_MANAGER)
def notifications(request: HttpRequest) -> HttpResponse:
    """Your notifications, newest first; opening the page marks them read."""
    mine = Notification.objects.filter(user=request.user).select_related("lead")[:100]
    page = render(request, "feedback/notifications.html", {"notifications": mine})
    Notification.objects.filter(user=request.user, read_at__isnull=True).update(read_at=timezone.now())
    return page
