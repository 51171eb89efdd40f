"""Pages that show the matrix: the active version, every version, one version in full."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from config.roles import ROLES, role_required
from leads.selectors import grid_counts
from scoring.matrices import engine_matrix
from scoring.models import RescoreRun, ScoringMatrix


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
