"""The import pages: upload, map the columns, preview, follow the import, download rejected rows."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from config.exports import csv_response
from config.roles import MARKETING, role_required
from leads.imports.forms import MappingForm, UploadForm
from leads.imports.mapping import REJECTION_COLUMNS, remember_mapping, suggest_mapping
from leads.imports.models import ImportJob
from leads.imports.reading import DELIMITER_NAMES, FileProblem
from leads.imports.run import (
    create_import,
    earlier_import,
    preview_page,
    purge_stale_uploads,
    sample_rows,
    start_import,
)
from leads.imports.uploads import SizeLimitHandler


@csrf_exempt  # only so the size limit is in place before the body is read; csrf_protect follows
def index(request: HttpRequest) -> HttpResponse:
    """Upload a file (leads, activities or outcomes) and see the recent imports."""
    limit = settings.LEADMATRIX["IMPORT_MAX_MB"] * 1024 * 1024
    request.upload_handlers.insert(0, SizeLimitHandler(request, limit=limit))
    return _index(request)


@role_required(MARKETING, staff=True)
@csrf_protect
def _index(request: HttpRequest) -> HttpResponse:
    """The upload page proper: access first, then the CSRF check, then the form."""
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if getattr(request, "upload_too_large", False):
            form.is_valid()
            form.errors["file"] = form.error_class([UploadForm.too_large_message()])  # not "required"
        elif form.is_valid():
            purge_stale_uploads()
            try:
                job = create_import(
                    upload=form.cleaned_data["file"], kind=form.cleaned_data["kind"], by=request.user
                )
            except FileProblem as exc:
                form.add_error("file", str(exc))
            else:
                return redirect("imports:mapping", job.pk)
        status = 400
    jobs = ImportJob.objects.select_related("created_by")[:20]
    return render(request, "imports/index.html", {"form": form, "jobs": jobs}, status=status)


@role_required(MARKETING, staff=True)
def mapping(request: HttpRequest, pk: int) -> HttpResponse:
    """Match the file's columns to fields, with sample values; remembered for the next file like it."""
    job = get_object_or_404(ImportJob, pk=pk)
    if not job.can_start:
        return redirect(job)
    form = MappingForm(request.POST or None, job=job)
    if request.method == "POST" and form.is_valid():
        job.mapping, job.options = form.cleaned_data["mapping"], form.cleaned_data["options"]
        job.save(update_fields=["mapping", "options"])
        if form.cleaned_data["remember"]:
            remember_mapping(kind=job.kind, headers=job.headers, mapping=job.mapping, options=job.options, by=request.user)  # fmt: skip
        return redirect("imports:preview", job.pk)
    samples = sample_rows(job, limit=3)
    _, saved = suggest_mapping(kind=job.kind, headers=job.headers)
    context = {
        "job": job,
        "form": form,
        "rows": [
            (header, field, [row.values.get(header) for row in samples]) for header, field in form.columns()
        ],
        "saved": saved,
        "delimiter": DELIMITER_NAMES.get(job.delimiter, job.delimiter),
        "earlier": earlier_import(job),
    }
    return render(request, "imports/mapping.html", context, status=400 if form.errors else 200)


@role_required(MARKETING, staff=True)
def preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The first rows as they will be imported and the problems found, before anything is written."""
    job = get_object_or_404(ImportJob, pk=pk)
    if not job.can_start:
        return redirect(job)
    context = {"job": job, **preview_page(job=job)}
    return render(request, "imports/preview.html", context)


@require_POST
@role_required(MARKETING, staff=True)
def start(request: HttpRequest, pk: int) -> HttpResponse:
    """Start the import in the background and follow it."""
    with transaction.atomic():
        job = get_object_or_404(ImportJob.objects.select_for_update(), pk=pk)
        if job.can_start:
            start_import(job=job)
        else:
            messages.info(request, "This import has already started.")
    return redirect(job)


@role_required(MARKETING, staff=True)
def job_page(request: HttpRequest, pk: int) -> HttpResponse:
    """An import's progress, then its result; the htmx request gets just the progress card."""
    job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=pk)
    context = {"job": job, "rejections": job.rejections.all()[:20]}
    template = "imports/job.html#progress" if request.htmx else "imports/job.html"
    return render(request, template, context)


@role_required(MARKETING, staff=True)
def rejected_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The rejected rows with their original columns, the row number and the reason, ready to fix and re-import."""
    job = get_object_or_404(ImportJob, pk=pk)
    rows = (
        [*cells, *[""] * (len(job.headers) - len(cells)), row, reason]
        for row, reason, cells in job.rejections.order_by("row")
        .values_list("row", "reason", "cells")
        .iterator(2000)
    )
    header = [*job.headers, *REJECTION_COLUMNS]
    return csv_response(f"rejected-rows-{job.pk}.csv", header, rows)
