"""Pages of the matrix: the versions, rescore progress, and changing the matrix together
(drafts edited in place, proposals with diff and preview, approvals, publication, history)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from config.roles import ROLES, has_role, role_required
from leads.selectors import grid_counts
from scoring import governance
from scoring.diff import diff_versions, grouped
from scoring.forms import (
    BandForm,
    BucketForm,
    CellForm,
    CommentForm,
    CriterionForm,
    ItemForm,
    MultiplierForm,
    NewCriterionForm,
    ProposeForm,
    RejectForm,
    SettingsForm,
    WeightForm,
    lead_field_choices,
)
from scoring.governance import EDITORS, EditConflict, GovernanceError
from scoring.matrices import engine_matrix, matrix_problems
from scoring.models import FitCriterion, PersonaWeight, Proposal, RescoreRun, ScoringMatrix
from scoring.preview import current_preview, start_preview


@role_required(*ROLES, staff=True)
def active_matrix(request: HttpRequest) -> HttpResponse:
    """The matrix that scores leads now."""
    return _render_version(request, get_object_or_404(ScoringMatrix, status=ScoringMatrix.Status.ACTIVE))


@role_required(*ROLES, staff=True)
def versions(request: HttpRequest) -> HttpResponse:
    """Every version, newest first, with who made and published it."""
    rows = ScoringMatrix.objects.select_related("created_by", "published_by", "based_on")
    return render(request, "scoring/versions.html", {"versions": rows})


@role_required(*ROLES, staff=True)
def version_detail(request: HttpRequest, version: int) -> HttpResponse:
    """One version in full, read-only."""
    return _render_version(request, get_object_or_404(ScoringMatrix, version=version))


def _render_version(request: HttpRequest, matrix: ScoringMatrix) -> HttpResponse:
    plain = engine_matrix(matrix)
    counts = grid_counts(plain, version_id=matrix.pk)
    buckets = {b.key: b for b in plain.buckets}
    grid_rows = [
        (
            grade,
            [
                (band, buckets[plain.grid[(grade, band.key)]], counts.get((grade, band.key), 0))
                for band in plain.bands
            ],
        )
        for grade in ("A", "B", "C", "D")
        if all((grade, band.key) in plain.grid for band in plain.bands)
    ]
    context = {
        "matrix": matrix,
        "plain": plain,
        "grid_rows": grid_rows,
        "scored_leads": sum(counts.values()),
        "criteria": matrix.criteria.all(),
        "weights": matrix.weights.select_related(
            "activity_type", "floor_bucket", "ceiling_bucket"
        ).prefetch_related("persona_weights__persona"),
        "personas": matrix.personas.prefetch_related("rules"),
        "buckets": matrix.buckets.all(),
    }
    return render(request, "scoring/version.html", context)


@role_required(*ROLES, staff=True)
def rescore_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """A full rescore's progress; the htmx request gets just the bar, polled until it finishes."""
    run = get_object_or_404(RescoreRun.objects.select_related("matrix", "requested_by"), pk=pk)
    template = "scoring/rescore.html#progress" if request.htmx else "scoring/rescore.html"
    return render(request, template, {"run": run})


# --- changing the matrix together: drafts, proposals, approvals, publication, history -------------


@dataclass(frozen=True)
class Editable:
    """A kind of draft row that is edited in place: its form, its rows, how it is drawn."""

    form: type[ItemForm]
    rows: Callable[[ScoringMatrix], QuerySet]
    partial: str
    wrapper: str  # the element the row is drawn as: "tr", "td" or "div"
    colspan: int = 1


EDITABLE: dict[str, Editable] = {
    "settings": Editable(SettingsForm, lambda m: ScoringMatrix.objects.filter(pk=m.pk), "settings", "div"),
    "weight": Editable(
        WeightForm,
        lambda m: m.weights.select_related("activity_type", "floor_bucket", "ceiling_bucket"),
        "weight-row",
        "tr",
        7,
    ),
    "multiplier": Editable(
        MultiplierForm,
        lambda m: PersonaWeight.objects.filter(weight__matrix=m).select_related(
            "persona", "weight__activity_type"
        ),
        "multiplier-row",
        "tr",
        4,
    ),
    "criterion": Editable(CriterionForm, lambda m: m.criteria.all(), "criterion-row", "tr", 4),
    "bucket": Editable(BucketForm, lambda m: m.buckets.all(), "bucket-row", "tr", 6),
    "band": Editable(BandForm, lambda m: m.bands.all(), "band-row", "tr", 3),
    "cell": Editable(CellForm, lambda m: m.cells.select_related("bucket", "band"), "cell", "td"),
}


def _item(version: int, kind: str, pk: int) -> tuple[ScoringMatrix, Editable, models.Model]:
    """The version, the kind and the row; 404 when the row is not part of that version."""
    editable = EDITABLE.get(kind)
    if editable is None:
        raise Http404("No such kind of item.")
    matrix = get_object_or_404(ScoringMatrix, version=version)
    return matrix, editable, get_object_or_404(editable.rows(matrix), pk=pk)


def _item_context(matrix: ScoringMatrix, kind: str, item, editable: Editable, **extra) -> dict:
    return {
        "matrix": matrix,
        "item": item,
        "kind": kind,
        "dom_id": f"{kind}-{item.pk}",
        "wrapper": editable.wrapper,
        "colspan": editable.colspan,
        "edit_url": reverse("scoring:edit_item", args=[matrix.version, kind, item.pk]),
        "show_url": reverse("scoring:show_item", args=[matrix.version, kind, item.pk]),
        "draft_url": reverse("scoring:draft", args=[matrix.version]),
        "lead_fields": lead_field_choices(),
        **extra,
    }


def _draft_context(matrix: ScoringMatrix) -> dict:
    cells = list(matrix.cells.select_related("bucket", "band"))
    bands = sorted({c.band for c in cells}, key=lambda b: b.low) or list(matrix.bands.all())
    by_place = {(c.grade, c.band_id): c for c in cells}
    return {
        "matrix": matrix,
        "problems": matrix_problems(matrix),
        "settings_item": matrix,
        "weights": EDITABLE["weight"].rows(matrix).prefetch_related("persona_weights__persona"),
        "multipliers": EDITABLE["multiplier"]
        .rows(matrix)
        .order_by("weight__activity_type__name", "persona__name"),
        "criteria": matrix.criteria.all(),
        "buckets": matrix.buckets.all(),
        "bands": matrix.bands.all(),
        "grid_bands": bands,
        "grid_rows": [
            (grade, [by_place.get((grade, b.pk)) for b in bands]) for grade in ("A", "B", "C", "D")
        ],
        "open_proposal": matrix.proposals.filter(
            status__in=[Proposal.Status.OPEN, Proposal.Status.APPROVED]
        ).first(),
        "new_criterion_form": NewCriterionForm(instance=FitCriterion(matrix=matrix)),
        "lead_fields": lead_field_choices(),
    }


@role_required(*EDITORS)
@require_POST
def start_draft(request: HttpRequest, version: int) -> HttpResponse:
    """Copy a published version into a new draft and open it."""
    source = get_object_or_404(ScoringMatrix, version=version)
    try:
        draft = governance.start_draft(source=source, by=request.user)
    except GovernanceError as exc:
        messages.error(request, str(exc))
        return redirect(source)
    messages.success(
        request, f"Draft v{draft.version} started from v{source.version}. Edit it, then propose it."
    )
    return redirect("scoring:draft", draft.version)


@role_required(*EDITORS)
def draft_editor(request: HttpRequest, version: int) -> HttpResponse:
    """A draft, every value editable in place; the htmx request for `problems` gets just that panel."""
    matrix = get_object_or_404(ScoringMatrix, version=version, status=ScoringMatrix.Status.DRAFT)
    if request.htmx and request.GET.get("part") == "problems":
        return render(
            request, "scoring/draft.html#problems", {"matrix": matrix, "problems": matrix_problems(matrix)}
        )
    return render(request, "scoring/draft.html", _draft_context(matrix))


@role_required(*EDITORS)
def show_item(request: HttpRequest, version: int, kind: str, pk: int) -> HttpResponse:
    """One draft row as it is drawn on the page (what Cancel goes back to)."""
    matrix, editable, item = _item(version, kind, pk)
    if not request.htmx:
        return redirect(f"{reverse('scoring:draft', args=[version])}#{kind}-{pk}")
    return render(
        request, f"scoring/draft.html#{editable.partial}", _item_context(matrix, kind, item, editable)
    )


@role_required(*EDITORS)
def edit_item(request: HttpRequest, version: int, kind: str, pk: int) -> HttpResponse:
    """Edit one row of a draft: the form in place of the row, saved only over the revision it showed."""
    matrix, editable, item = _item(version, kind, pk)
    if request.method != "POST":
        if matrix.status != ScoringMatrix.Status.DRAFT:
            messages.error(request, f"v{matrix.version} is not a draft: a published version never changes.")
            return redirect(matrix)
        return _render_item_form(request, matrix, kind, editable, editable.form(instance=item))
    form = editable.form(request.POST, instance=type(item).objects.get(pk=item.pk))
    if not form.is_valid():
        return _render_item_form(request, matrix, kind, editable, form)
    try:
        item = governance.edit_item(
            item=item,
            revision=form.cleaned_data["revision"],
            values=form.values(),
            by=request.user,
            reason=form.cleaned_data["reason"],
        )
    except EditConflict as conflict:
        fresh = editable.form(instance=conflict.current)
        return _render_item_form(
            request, matrix, kind, editable, fresh, conflict=conflict, yours=form.values()
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _render_item_form(request, matrix, kind, editable, form)
    except GovernanceError as exc:
        if not request.htmx:
            messages.error(request, str(exc))
            return redirect(matrix)
        return _render_item_form(request, matrix, kind, editable, form, error=str(exc))
    if not request.htmx:
        messages.success(request, "Saved.")
        return redirect(f"{reverse('scoring:draft', args=[version])}#{kind}-{pk}")
    item = get_object_or_404(editable.rows(matrix), pk=pk)
    response = render(
        request, f"scoring/draft.html#{editable.partial}", _item_context(matrix, kind, item, editable)
    )
    response["HX-Trigger"] = "matrixChanged"
    return response


def _render_item_form(request, matrix, kind, editable, form, **extra) -> HttpResponse:
    context = _item_context(matrix, kind, form.instance, editable, form=form, **extra)
    if "yours" in extra:
        current = form.initial
        context["yours"] = [
            (form.fields[name].label or name, _shown(value))
            for name, value in extra["yours"].items()
            if _comparable(value) != _comparable(current.get(name))
        ]
    if request.htmx:
        return render(request, "scoring/draft.html#item-form", context)
    context["wrapper"] = "div"
    return render(request, "scoring/edit_item.html", context)


def _comparable(value):
    return getattr(value, "pk", value)


def _shown(value) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@role_required(*EDITORS)
def add_criterion(request: HttpRequest, version: int) -> HttpResponse:
    """Add a fit criterion to a draft (a plain form; the page reloads with the new row)."""
    matrix = get_object_or_404(ScoringMatrix, version=version, status=ScoringMatrix.Status.DRAFT)
    form = NewCriterionForm(request.POST or None, instance=FitCriterion(matrix=matrix))
    if request.method == "POST" and form.is_valid():
        try:
            criterion = governance.add_criterion(
                matrix=matrix, values=form.values(), by=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except GovernanceError as exc:
            messages.error(request, str(exc))
            return redirect(matrix)
        else:
            messages.success(request, f"Added the criterion “{criterion}”.")
            return redirect(f"{reverse('scoring:draft', args=[version])}#criterion-{criterion.pk}")
    return render(
        request,
        "scoring/add_criterion.html",
        {"matrix": matrix, "form": form, "lead_fields": lead_field_choices()},
    )


@role_required(*EDITORS)
@require_POST
def delete_criterion(request: HttpRequest, version: int, pk: int) -> HttpResponse:
    """Remove a fit criterion from a draft, unless someone changed it since the page showed it."""
    matrix, _editable, criterion = _item(version, "criterion", pk)
    try:
        revision = int(request.POST.get("revision", ""))
    except ValueError:
        return HttpResponseBadRequest("The form did not say which revision it showed.")
    try:
        governance.delete_criterion(
            criterion=criterion, revision=revision, by=request.user, reason=request.POST.get("reason", "")
        )
    except GovernanceError as exc:
        messages.error(request, str(exc))
        return (
            redirect("scoring:draft", version)
            if matrix.status == ScoringMatrix.Status.DRAFT
            else redirect(matrix)
        )
    if request.htmx:
        return HttpResponse("", headers={"HX-Trigger": "matrixChanged"})
    messages.success(request, f"Removed the criterion “{criterion}”.")
    return redirect("scoring:draft", version)


@role_required(*EDITORS)
def propose(request: HttpRequest, version: int) -> HttpResponse:
    """Put a draft forward: its diff against the active version, its problems, and a summary."""
    matrix = get_object_or_404(ScoringMatrix, version=version, status=ScoringMatrix.Status.DRAFT)
    form = ProposeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            proposal = governance.propose_draft(
                matrix=matrix, by=request.user, summary=form.cleaned_data["summary"]
            )
        except GovernanceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, "Proposed. Marketing and a Sales manager have been asked to approve it."
            )
            return redirect(proposal)
    active = ScoringMatrix.objects.filter(status=ScoringMatrix.Status.ACTIVE).first()
    changes = diff_versions(active, matrix) if active else []
    return render(
        request,
        "scoring/propose.html",
        {
            "matrix": matrix,
            "active": active,
            "form": form,
            "sections": grouped(changes),
            "problems": matrix_problems(matrix),
        },
    )


@role_required(*ROLES, staff=True)
def proposals(request: HttpRequest) -> HttpResponse:
    """Proposals awaiting approval, drafts in progress, and decisions already taken."""
    rows = Proposal.objects.select_related("matrix", "proposed_by").prefetch_related("approvals__by")
    return render(
        request,
        "scoring/proposals.html",
        {
            "open": rows.filter(status__in=[Proposal.Status.OPEN, Proposal.Status.APPROVED]),
            "closed": rows.exclude(status__in=[Proposal.Status.OPEN, Proposal.Status.APPROVED])[:30],
            "drafts": ScoringMatrix.objects.filter(status=ScoringMatrix.Status.DRAFT).select_related(
                "based_on", "created_by"
            ),
            "awaiting_ids": set(governance.awaiting_approval(request.user).values_list("pk", flat=True)),
            "active": ScoringMatrix.objects.filter(status=ScoringMatrix.Status.ACTIVE).first(),
        },
    )


def _proposal(pk: int) -> Proposal:
    return get_object_or_404(Proposal.objects.select_related("matrix", "proposed_by"), pk=pk)


@role_required(*ROLES, staff=True)
def proposal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A proposal: the diff, the impact preview and backtest, approvals, the thread, and what to do next."""
    proposal = _proposal(pk)
    compared_with = (
        proposal.publication.previous
        if proposal.status == Proposal.Status.PUBLISHED
        else ScoringMatrix.objects.filter(status=ScoringMatrix.Status.ACTIVE).first()
    )
    changes = diff_versions(compared_with, proposal.matrix) if compared_with else []
    approvals = {a.role: a for a in proposal.approvals.select_related("by")}
    sides = [role for role in governance.SIDES if has_role(request.user, role)]
    stale = proposal.is_open and governance.changes_since(proposal)
    outdated = (
        proposal.is_open and compared_with is not None and proposal.against_id not in (None, compared_with.pk)
    )
    context = {
        "proposal": proposal,
        "matrix": proposal.matrix,
        "compared_with": compared_with,
        "sections": grouped(changes),
        "approvals": [(side, approvals.get(side)) for side in governance.SIDES],
        "can_approve": proposal.status == Proposal.Status.OPEN
        and any(side not in approvals for side in sides)
        and all(a.by_id != request.user.pk for a in approvals.values()),
        "can_decide": bool(sides) and proposal.is_open,
        "stale": stale,
        "outdated": outdated,
        "comments": proposal.comments.select_related("by"),
        "reject_form": RejectForm(),
        "comment_form": CommentForm(),
        **_preview_context(proposal),
    }
    return render(request, "scoring/proposal.html", context)


def _preview_context(proposal: Proposal) -> dict:
    preview = current_preview(proposal.matrix) if proposal.is_open else None
    if preview is None and not proposal.is_open:
        preview = proposal.matrix.previews.filter(fingerprint=proposal.fingerprint).first()
    return {"proposal": proposal, "preview": preview, "result": preview.result if preview else None}


@role_required(*ROLES, staff=True)
def proposal_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The preview panel alone, polled by htmx until the background computation is done."""
    proposal = _proposal(pk)
    if not request.htmx:
        return redirect(proposal)
    context = _preview_context(proposal) | {
        "can_decide": has_role(request.user, *EDITORS) and proposal.is_open
    }
    return render(request, "scoring/proposal.html#preview", context)


@role_required(*EDITORS)
@require_POST
def refresh_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """Compute the preview again, for the draft as it is and the leads as they are now."""
    proposal = _proposal(pk)
    start_preview(matrix=proposal.matrix, by=request.user)
    return redirect(f"{proposal.get_absolute_url()}#preview")


@role_required(*EDITORS)
@require_POST
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve a proposal for one's own side."""
    proposal = _proposal(pk)
    try:
        approval = governance.approve_proposal(proposal=proposal, by=request.user)
    except GovernanceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Approved for {approval.role}.")
    return redirect(proposal)


@role_required(*EDITORS)
@require_POST
def reject(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a proposal back to its draft, saying why."""
    proposal = _proposal(pk)
    try:
        governance.reject_proposal(
            proposal=proposal, by=request.user, comment=request.POST.get("comment", "")
        )
    except GovernanceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Sent back: v{proposal.matrix.version} is open for changes again.")
    return redirect(proposal)


@role_required(*EDITORS)
@require_POST
def comment(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a comment to a proposal's thread."""
    proposal = _proposal(pk)
    try:
        governance.comment_on_proposal(proposal=proposal, by=request.user, text=request.POST.get("text", ""))
    except GovernanceError as exc:
        messages.error(request, str(exc))
    return redirect(f"{proposal.get_absolute_url()}#thread")


@role_required(*EDITORS)
@require_POST
def publish(request: HttpRequest, pk: int) -> HttpResponse:
    """Publish an approved proposal and follow the rescore it starts."""
    proposal = _proposal(pk)
    try:
        publication = governance.publish_proposal(proposal=proposal, by=request.user)
    except GovernanceError as exc:
        messages.error(request, str(exc))
        return redirect(proposal)
    messages.success(
        request, f"v{publication.matrix.version} is active. Every lead is being rescored with it."
    )
    return redirect(publication.rescore)


@role_required(*ROLES, staff=True)
def history(request: HttpRequest, version: int) -> HttpResponse:
    """Every recorded change to a version's rows, newest first, with old → new per field."""
    matrix = get_object_or_404(ScoringMatrix, version=version)
    return render(
        request,
        "scoring/history.html",
        {
            "matrix": matrix,
            "entries": governance.summarised(governance.version_history(matrix)),
            "decisions": matrix.proposals.select_related("proposed_by").prefetch_related(
                "approvals__by", "comments__by"
            ),
        },
    )


@role_required(*ROLES, staff=True)
def item_history(request: HttpRequest, version: int, kind: str, pk: int) -> HttpResponse:
    """Every recorded change to one row of a version (who changed the whitepaper weight, and why)."""
    if kind not in governance.KINDS:
        raise Http404("No such kind of item.")
    matrix = get_object_or_404(ScoringMatrix, version=version)
    entries = governance.version_history(matrix, kind=kind, item_id=pk)
    if not entries:
        raise Http404("No such item in this version.")
    return render(request, "scoring/history.html", {"matrix": matrix, "entries": entries, "item": entries[0]})
