"""Report pages, before/after, calibration and the playbook. Each chart has its table and a CSV export."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from config.exports import csv_response
from config.roles import MARKETING, SALES_MANAGER, has_role, role_required
from feedback import reports
from feedback.calibration import calibrate, create_draft_from_calibration
from feedback.forms import ReportFilterForm
from feedback.models import Calibration, Disposition, QueueSettings, Reason
from feedback.snapshots import compare_publication
from scoring.diff import grouped
from scoring.governance import GovernanceError
from scoring.models import ActivityType, Publication, ScoringMatrix

READERS = (MARKETING, SALES_MANAGER)
GRADE_COLOURS = {"A": "#15803d", "B": "#1d4ed8", "C": "#7c3aed", "D": "#6b7280"}


def _filters(request: HttpRequest):
    """The bound filter form and its filters (None when the input is refused)."""
    form = ReportFilterForm(request.GET or None)
    if not request.GET:
        return form, reports.default_filters()
    return form, form.filters() if form.is_valid() else None


def _page(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    form, filters = context["form"], context["filters"]
    context |= {
        "choices": reports.filter_choices(),
        "query": "&".join(f"{k}={v}" for k, v in filters.as_params().items()) if filters else "",
    }
    if not request.GET:
        form.initial = filters.as_params()
    return render(request, template, context)


@role_required(*READERS, staff=True)
def index(request: HttpRequest) -> HttpResponse:
    """The reports start at the matrix in numbers."""
    return redirect("feedback:report_matrix")


@role_required(*READERS, staff=True)
def matrix_report(request: HttpRequest) -> HttpResponse:
    """The grade × band grid with leads, reached sales and conversion; grade and bucket counts."""
    form, filters = _filters(request)
    numbers = reports.matrix_numbers(filters=filters) if filters else None
    export = request.GET.get("export")
    if numbers and export == "grid":
        rows = [
            (c.grade, c.band, c.bucket_name, c.leads, c.reached, c.converted, c.rate) for c in numbers.cells
        ]
        header = ["grade", "band", "bucket", "leads", "reached sales", "converted", "conversion %"]
        return csv_response("matrix-in-numbers.csv", header, rows)
    if numbers and export == "counts":
        rows = [("grade", g, n) for g, n in numbers.grades.items()] + [
            ("bucket", name, n) for _, name, n in numbers.buckets
        ]
        return csv_response("grade-and-bucket-counts.csv", ["kind", "name", "leads"], rows)
    if filters and export == "leads":
        return csv_response("leads.csv", reports.LEAD_EXPORT_HEADER, reports.lead_rows(filters=filters))
    chart = None
    if numbers:
        chart = {
            "type": "bar",
            "labels": list(numbers.grades),
            "datasets": [
                {
                    "label": "Leads",
                    "data": list(numbers.grades.values()),
                    "colours": list(GRADE_COLOURS.values()),
                }
            ],
        }
    from feedback.models import DailySnapshot

    history = list(DailySnapshot.objects.order_by("-day").values("day", "grade_counts")[:90])[::-1]
    history_chart = {
        "type": "line",
        "labels": [h["day"].isoformat() for h in history],
        "datasets": [
            {"label": f"Grade {g}", "data": [h["grade_counts"].get(g, 0) for h in history], "colour": c}
            for g, c in GRADE_COLOURS.items()
        ],
    }
    context = {
        "form": form,
        "filters": filters,
        "numbers": numbers,
        "chart": chart,
        "history": history,
        "history_chart": history_chart if history else None,
        "tab": "matrix",
    }
    return _page(request, "feedback/reports/matrix.html", context)


@role_required(*READERS, staff=True)
def funnel_report(request: HttpRequest) -> HttpResponse:
    """New → MQL → accepted → opportunity → won per week or month, with the conversion between stages."""
    form, filters = _filters(request)
    rows = reports.funnel(filters=filters) if filters else []
    if filters and request.GET.get("export") == "funnel":
        header = ["period"] + [label for _, label in reports.STAGES]
        return csv_response(
            "funnel.csv",
            header,
            ([r.period.isoformat()] + [r.counts[k] for k, _ in reports.STAGES] for r in rows),
        )
    chart = {
        "type": "bar",
        "labels": [r.period.isoformat() for r in rows],
        "datasets": [
            {"label": label, "data": [r.counts[key] for r in rows], "colour": colour}
            for (key, label), colour in zip(
                reports.STAGES, ["#94a3b8", "#c2410c", "#1d4ed8", "#7c3aed", "#15803d"], strict=True
            )
        ],
    }
    context = {
        "form": form,
        "filters": filters,
        "rows": rows,
        "totals": reports.funnel_totals(rows),
        "stages": reports.STAGES,
        "chart": chart if rows else None,
        "tab": "funnel",
    }
    return _page(request, "feedback/reports/funnel.html", context)


@role_required(*READERS, staff=True)
def speed_report(request: HttpRequest) -> HttpResponse:
    """Time to first contact (median, 90th percentile), SLA kept per bucket and rep, time to close."""
    form, filters = _filters(request)
    data = reports.speed(filters=filters) if filters else None
    export = request.GET.get("export")
    if data and export in {"bucket", "rep"}:
        rows = data["by_bucket"] if export == "bucket" else data["by_rep"]
        header = [
            export,
            "entered queue",
            "first contacts",
            "median hours",
            "90th percentile hours",
            "SLA kept %",
        ]
        return csv_response(
            f"speed-per-{export}.csv",
            header,
            ([r["name"], r["entered"], r["contacted"], r["median_h"], r["p90_h"], r["sla_rate"]] for r in rows),
        )  # fmt: skip
    if data and export == "close":
        return csv_response(
            "time-to-close.csv",
            ["outcome", "closed", "median hours", "90th percentile hours"],
            ([r["outcome"], r["closed"], r["median_h"], r["p90_h"]] for r in data["to_close"]),
        )  # fmt: skip
    chart = None
    if data and data["by_bucket"]:
        chart = {
            "type": "bar",
            "labels": [r["name"] for r in data["by_bucket"]],
            "datasets": [
                {"label": "Median hours to first contact", "data": [r["median_h"] for r in data["by_bucket"]], "colour": "#1d4ed8"},
                {"label": "90th percentile", "data": [r["p90_h"] for r in data["by_bucket"]], "colour": "#c2410c"},
            ],
        }  # fmt: skip
    context = {"form": form, "filters": filters, "data": data, "chart": chart, "tab": "speed"}
    return _page(request, "feedback/reports/speed.html", context)


@role_required(*READERS, staff=True)
def rejections_report(request: HttpRequest) -> HttpResponse:
    """Disqualification and nurture reasons ranked, by source and by bucket."""
    form, filters = _filters(request)
    data = reports.rejections(filters=filters) if filters else None
    export = request.GET.get("export")
    if data and export == "reasons":
        return csv_response(
            "rejection-reasons.csv",
            ["reason", "total", "disqualified", "nurtured", "share %"],
            ([r["reason"], r["total"], r["disqualified"], r["nurtured"], r["share"]] for r in data["ranked"]),
        )
    if data and export in {"source", "bucket"}:
        pivot = data[f"by_{export}"]
        return csv_response(
            f"rejections-by-{export}.csv",
            ["reason", *pivot["columns"], "total"],
            ([reason, *counts, total] for reason, counts, total in pivot["rows"]),
        )
    chart = None
    if data and data["ranked"]:
        chart = {
            "type": "bar",
            "horizontal": True,
            "stacked": True,
            "labels": [r["reason"] for r in data["ranked"]],
            "datasets": [
                {
                    "label": "Disqualified",
                    "data": [r["disqualified"] for r in data["ranked"]],
                    "colour": "#b91c1c",
                },
                {
                    "label": "Back to nurture",
                    "data": [r["nurtured"] for r in data["ranked"]],
                    "colour": "#0e7490",
                },
            ],
        }
    pivots = (
        [("By source", data["by_source"], "source"), ("By bucket", data["by_bucket"], "bucket")]
        if data
        else []
    )
    context = {
        "form": form,
        "filters": filters,
        "data": data,
        "chart": chart,
        "pivots": pivots,
        "tab": "rejections",
    }
    return _page(request, "feedback/reports/rejections.html", context)


@role_required(*READERS, staff=True)
def before_after(request: HttpRequest) -> HttpResponse:
    """The days before a publication against the days after it, beside the change that was made."""
    publications = list(Publication.objects.select_related("matrix", "previous", "proposal", "by"))
    chosen = publications[0] if publications else None
    wanted = request.GET.get("publication", "")
    if wanted.isdigit():
        chosen = next((p for p in publications if p.pk == int(wanted)), None)
        if chosen is None:
            raise Http404("No such publication.")
    try:
        days = min(max(int(request.GET.get("days", 14)), 1), 180)
    except ValueError:
        days = 14
    comparison = compare_publication(publication=chosen, days=days) if chosen else None
    if comparison and request.GET.get("export") == "comparison":
        return csv_response(
            f"before-after-v{chosen.matrix.version}.csv",
            ["figure", f"{days} days before (mean)", f"{days} days after (mean)", "change %"],
            ([r["label"], r["before"], r["after"], r["change"]] for r in comparison.rows),
        )
    chart = None
    if comparison and not comparison.empty:
        series = comparison.before + comparison.after
        chart = {
            "type": "line",
            "labels": [s.day.isoformat() for s in series],
            "marker": chosen.at.date().isoformat(),
            "datasets": [
                {"label": "MQLs", "data": [s.mqls for s in series], "colour": "#c2410c"},
                {"label": "Accepted by sales", "data": [s.accepted for s in series], "colour": "#1d4ed8"},
                {"label": "Won", "data": [s.won for s in series], "colour": "#15803d"},
                {"label": "Queue size", "data": [s.queue_size for s in series], "colour": "#64748b"},
            ],
        }
    context = {
        "publications": publications,
        "chosen": chosen,
        "days": days,
        "comparison": comparison,
        "changes": grouped(comparison.changes) if comparison else [],
        "chart": chart,
        "tab": "before_after",
    }
    return render(request, "feedback/reports/before_after.html", context)


# --- calibration ---------------------------------------------------------------------------------


@role_required(*READERS, staff=True)
def calibration(request: HttpRequest) -> HttpResponse:
    """Current and suggested points side by side, with the evidence and the held-out figures."""
    active = ScoringMatrix.objects.active()
    if request.method == "POST":
        if not has_role(request.user, *READERS):
            raise PermissionDenied("Only Marketing and Sales managers run calibrations.")
        run = calibrate(matrix=active, by=request.user)
        if run.refused:
            messages.warning(request, f"No suggestion: {run.refused}")
        else:
            messages.success(
                request,
                f"Calibrated v{active.version} on {run.result['outcomes']} leads with a known outcome.",
            )
        return redirect(f"{request.path}?run={run.pk}")
    wanted = request.GET.get("run", "")
    if wanted.isdigit():
        run = get_object_or_404(Calibration.objects.select_related("matrix", "draft", "by"), pk=int(wanted))
    else:
        run = Calibration.objects.select_related("matrix", "draft", "by").filter(matrix=active).first()
    names = dict(ActivityType.objects.values_list("key", "name"))
    features = []
    if run and not run.refused:
        for f in run.result["features"]:
            label = names.get(f["label"], f["label"]) if f["kind"] == "activity" else f["label"]
            change = None if f["current"] is None else f["suggested"] - f["current"]
            features.append({**f, "name": label, "change": change})
    if run and not run.refused and request.GET.get("export") == "suggestion":
        return csv_response(
            f"calibration-{run.pk}.csv",
            ["kind", "item", "current points", "suggested points", "leads with it", "conversion with %", "conversion without %", "log-odds"],
            ([f["kind"], f["name"], f["current"], f["suggested"], f["with_n"], f["with_rate"], f["without_rate"], f["coef"]] for f in features),
        )  # fmt: skip
    chart = None
    if run and not run.refused:
        r = run.result
        chart = {
            "type": "bar",
            "labels": [b["band"] for b in r["current"]["bands"]],
            "datasets": [
                {"label": f"v{run.matrix.version} now", "data": [b["rate"] for b in r["current"]["bands"]], "colour": "#94a3b8"},
                {"label": "Suggested", "data": [b["rate"] for b in r["suggested"]["bands"]], "colour": "#1d4ed8"},
            ],
            "yTitle": "Conversion rate (%)",
        }  # fmt: skip
    context = {
        "active": active,
        "run": run,
        "features": features,
        "criteria": [f for f in features if f["kind"] != "activity"],
        "activities": [f for f in features if f["kind"] == "activity"],
        "chart": chart,
        "evaluations": [
            (f"v{run.matrix.version} now", run.result["current"]),
            ("Suggested", run.result["suggested"]),
        ]
        if run and not run.refused
        else [],
        "can_run": has_role(request.user, *READERS),
        "past": Calibration.objects.select_related("matrix", "by")[:8],
    }
    return render(request, "feedback/calibration.html", context)


@require_POST
@role_required(*READERS)
def calibration_draft(request: HttpRequest, pk: int) -> HttpResponse:
    """Turn a calibration's suggestion into a draft, which then takes the usual proposal path."""
    run = get_object_or_404(Calibration.objects.select_related("matrix", "draft"), pk=pk)
    try:
        draft = create_draft_from_calibration(calibration=run, by=request.user)
    except GovernanceError as exc:
        messages.error(request, str(exc))
        return redirect(f"{redirect('feedback:calibration').url}?run={run.pk}")
    messages.success(
        request,
        f"Draft v{draft.version} holds the suggested points. Review it, then propose it: it needs "
        "one approval from Marketing and one from a Sales manager like any change.",
    )
    return redirect("scoring:draft", version=draft.version)


# --- the playbook --------------------------------------------------------------------------------

OUTCOME_HELP = {
    Disposition.Outcome.ATTEMPTED: "You tried (call, e-mail) and did not reach the person. The SLA clock keeps running.",
    Disposition.Outcome.CONNECTED: "You spoke with the person. This is the first contact: it stops the SLA clock.",
    Disposition.Outcome.MEETING: "A meeting or demo is booked.",
    Disposition.Outcome.OPPORTUNITY: "There is a real deal: enter its expected amount.",
    Disposition.Outcome.WON: "The deal is signed: enter the amount. The lead leaves the queue.",
    Disposition.Outcome.LOST: "A real deal went to nothing (price, competitor, timing). The lead leaves the queue.",
    Disposition.Outcome.DISQUALIFIED: "Not a buyer (wrong person, no need, bad data). Choose the reason; the lead leaves the queue.",
    Disposition.Outcome.NURTURE: "A buyer, but not now. Choose the reason; marketing keeps warming the lead up.",
}


@login_required
def playbook(request: HttpRequest) -> HttpResponse:
    """How the process works, generated from the active matrix so it is always current."""
    matrix = ScoringMatrix.objects.active()
    bands = list(matrix.bands.order_by("low"))
    buckets = list(matrix.buckets.order_by("-rank"))
    by_pk = {b.pk: b for b in buckets}
    cells = {(c.grade, c.band_id): by_pk[c.bucket_id] for c in matrix.cells.all()}
    grid = [(grade, [cells.get((grade, band.pk)) for band in bands]) for grade in "ABCD"]
    weights = list(
        matrix.weights.select_related("activity_type", "floor_bucket", "ceiling_bucket").order_by("-points")
    )
    context = {
        "matrix": matrix,
        "bands": bands,
        "buckets": buckets,
        "queue_buckets": [b for b in buckets if b.in_queue],
        "grid": grid,
        "criteria": list(matrix.criteria.all()),
        "weights": weights,
        "outcomes": [(value, label, OUTCOME_HELP[value]) for value, label in Disposition.Outcome.choices],
        "reasons": Reason.objects.filter(active=True),
        "queue_settings": QueueSettings.current(),
    }
    return render(request, "feedback/playbook.html", context)
