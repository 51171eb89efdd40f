"""An import from upload to result: store and inspect the file, preview, run in batches, clean up."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from feedback.history import HistoryError, record_historical_outcomes
from leads.imports.mapping import (
    ATTRIBUTE,
    SKIP,
    Lookups,
    RowError,
    attribute_key,
    convert_row,
    guess_options,
    suggest_mapping,
    targets_for,
)
from leads.imports.models import ImportJob, Rejection
from leads.imports.reading import FileFormat, FileProblem, Row, inspect_file, read_rows
from leads.ingest import ActivityIn, IngestError, LeadIn, record_activities, upsert_leads
from leads.models import Lead

log = logging.getLogger(__name__)

BATCH = 1000  # rows per transaction: progress moves every second or so, and locks stay short
PREVIEW_CHECKED = 1000  # rows checked before anything is written
PREVIEW_SHOWN = 10


def create_import(*, upload, kind: str, by) -> ImportJob:
    """Store an uploaded file under IMPORTS_DIR, read its shape and suggest a mapping; FileProblem if unreadable."""
    directory = Path(settings.IMPORTS_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    stored_name = f"{uuid.uuid4().hex}.csv"
    path = directory / stored_name
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            digest.update(chunk)
            out.write(chunk)
    try:
        fmt = inspect_file(path)
    except (FileProblem, UnicodeError) as exc:
        path.unlink(missing_ok=True)
        raise FileProblem(
            str(exc) if isinstance(exc, FileProblem) else "The file cannot be decoded."
        ) from None
    job = ImportJob(
        kind=kind,
        created_by=by,
        original_name=Path(upload.name or "upload.csv").name[:255],
        stored_name=stored_name,
        size=path.stat().st_size,
        sha256=digest.hexdigest(),
        encoding=fmt.encoding,
        delimiter=fmt.delimiter,
        headers=list(fmt.headers),
        total=fmt.rows,
    )
    job.mapping, _ = suggest_mapping(kind=kind, headers=job.headers)
    job.options = guess_options(kind=kind, mapping=job.mapping, samples=sample_rows(job))
    job.save()
    return job


def file_format(job: ImportJob) -> FileFormat:
    return FileFormat(job.encoding, job.delimiter, tuple(job.headers), job.total)


def sample_rows(job: ImportJob, limit: int = 5) -> list[Row]:
    """The first rows of the file, for the mapping page's sample values."""
    return list(islice(read_rows(job.path, file_format(job)), limit))


def earlier_import(job: ImportJob) -> ImportJob | None:
    """The last finished import of the same file content, if any (re-importing it changes nothing)."""
    return (
        ImportJob.objects.filter(sha256=job.sha256, kind=job.kind, status=ImportJob.Status.DONE)
        .exclude(pk=job.pk)
        .order_by("-finished_at")
        .first()
    )


@dataclass
class Preview:
    rows: list[tuple[int, object]]  # (row number, converted item)
    errors: list[tuple[int, str]]
    checked: int
    error_count: int

    @property
    def ready(self) -> int:
        return self.checked - self.error_count


def shown_fields(item) -> tuple[dict[str, object], dict[str, str]]:
    """An item's fields by mapping key, and its kept columns, as the preview shows them."""
    if isinstance(item, LeadIn):
        profile = dict(item.profile)
        if "seniority" in profile:
            profile["seniority"] = Lead.Seniority(profile["seniority"]).label
        return {"email": item.email, **profile}, item.attributes
    if isinstance(item, ActivityIn):
        fields = {"email": item.email, "activity_type": item.activity_type, "occurred_at": item.occurred_at}
        return fields | {"source": item.source, "event_id": item.source_event_id}, item.properties
    fields = {"email": item.email, "outcome": item.outcome, "at": item.at, "reason": item.reason_id}
    return fields | {"amount": item.amount, "note": item.note}, {}


def preview_import(*, job: ImportJob, now: datetime | None = None) -> Preview:
    """Convert the first rows with the job's mapping, writing nothing: a sample and the row errors."""
    now = now or timezone.now()
    lookups = Lookups.load(job.kind)
    preview = Preview(rows=[], errors=[], checked=0, error_count=0)
    for row in islice(read_rows(job.path, file_format(job)), PREVIEW_CHECKED):
        preview.checked += 1
        try:
            item = convert_row(
                kind=job.kind, row=row, mapping=job.mapping, options=job.options, lookups=lookups, now=now
            )
        except RowError as exc:
            preview.error_count += 1
            if len(preview.errors) < 50:
                preview.errors.append((row.number, str(exc)))
            continue
        if len(preview.rows) < PREVIEW_SHOWN:
            preview.rows.append((row.number, item))
    return preview


def preview_page(*, job: ImportJob) -> dict:
    """What the preview page shows: the mapped fields as columns, the first rows in them, the problems."""
    from feedback.models import Reason

    labels = {t.key: t.label for t in targets_for(job.kind)}
    used = {key for key in job.mapping.values() if key not in (SKIP, ATTRIBUTE)}
    columns = [(key, label) for key, label in labels.items() if key in used]
    result = preview_import(job=job)
    reasons = dict(Reason.objects.values_list("pk", "label"))
    rows = []
    for number, item in result.rows:
        fields, extras = shown_fields(item)
        if "reason" in fields:
            fields["reason"] = reasons.get(fields["reason"])
        rows.append((number, [fields.get(key) for key, _ in columns], extras))
    return {
        "preview": result,
        "rows": rows,
        "columns": columns,
        "kept": [attribute_key(h) for h, key in job.mapping.items() if key == ATTRIBUTE],
        "skipped": [h for h, key in job.mapping.items() if key == SKIP],
    }


def start_import(*, job: ImportJob, enqueue: bool = True) -> ImportJob:
    """Queue the import to run in the background (after this transaction commits)."""
    from leads.imports.tasks import import_task

    if not job.can_start:
        raise FileProblem("This import has already run.")
    job.status = ImportJob.Status.QUEUED
    job.error = ""
    job.save(update_fields=["status", "error"])
    if enqueue:
        transaction.on_commit(lambda: import_task.enqueue(job.pk))
    return job


def run_import(job_id: int, *, now: datetime | None = None) -> ImportJob:
    """Import a job's rows in batches, counting each row once; a rerun resumes after the last batch.

    Each batch's writes, rejected rows and counts commit together, so the counts always describe
    what is stored and a stopped import picks up exactly where it stopped.
    """
    job = ImportJob.objects.get(pk=job_id)
    if job.status == ImportJob.Status.DONE:
        return job
    if job.path is None or not job.path.exists():
        return _fail(job, "The uploaded file is no longer there; upload it again.")
    job.status = ImportJob.Status.RUNNING
    job.started_at = job.started_at or timezone.now()
    job.save(update_fields=["status", "started_at"])
    lookups = Lookups.load(job.kind)
    try:
        rows = islice(read_rows(job.path, file_format(job)), job.done, None)
        for batch in _batches(rows, BATCH):
            with transaction.atomic():
                counts, rejections = _import_batch(job, batch, lookups=lookups, now=now or timezone.now())
                Rejection.objects.bulk_create(rejections)
                ImportJob.objects.filter(pk=job.pk).update(
                    done=F("done") + len(batch),
                    rejected=F("rejected") + len(rejections),
                    **{name: F(name) + n for name, n in counts.items()},
                )
    except Exception as exc:
        log.exception("import %s failed", job.pk)
        return _fail(job, f"The import stopped: {exc}")
    job.refresh_from_db()
    job.status = ImportJob.Status.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at"])
    remove_file(job)
    return job


def _fail(job: ImportJob, message: str) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, error=message[:2000], finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def _batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while batch := list(islice(rows, size)):
        yield batch


def _import_batch(job: ImportJob, batch: list[Row], *, lookups: Lookups, now: datetime):
    """Convert and store one batch; returns the counts by result and the rejected rows."""
    rejections: list[Rejection] = []
    ready: list[tuple[Row, object]] = []
    for row in batch:
        try:
            item = convert_row(
                kind=job.kind, row=row, mapping=job.mapping, options=job.options, lookups=lookups, now=now
            )
            ready.append((row, item))
        except RowError as exc:
            rejections.append(_rejection(job, row, str(exc)))
    counts = {"created": 0, "updated": 0, "duplicate": 0}
    store = STORE[job.kind]
    try:
        results = _store_retrying(store, [item for _, item in ready], by=job.created_by, now=now)
        outcomes = list(zip(ready, results, strict=True))
    except (IngestError, HistoryError):
        # One item spoils the batch's transaction: store the rows one by one to find it.
        outcomes = []
        for row, item in ready:
            try:
                outcomes.append(((row, item), store([item], by=job.created_by, now=now)[0]))
            except (IngestError, HistoryError) as exc:
                rejections.append(_rejection(job, row, str(exc)))
    seen: set[str] = set()
    for (row, item), result in outcomes:
        if result == "no lead":
            rejections.append(_rejection(job, row, "email: no lead has this email; import the leads first"))
            continue
        key = item.email if job.kind == ImportJob.Kind.LEADS else ""
        if key and key in seen:
            result = "duplicate"  # the same email earlier in this batch: merged into one lead
        seen.add(key)
        counts[result] += 1
    return counts, rejections


def _store_retrying(store, items, *, by, now) -> list[str]:
    """Store a batch; once more if another import or the API created one of its leads meanwhile.

    The services insert new leads in one statement inside their own savepoint, so a lead created
    concurrently fails that statement and nothing of it stays; the second try finds the lead and
    updates it instead.
    """
    try:
        return store(items, by=by, now=now)
    except IntegrityError:
        return store(items, by=by, now=now)


def _store_leads(items, *, by, now) -> list[str]:
    names = {"created": "created", "updated": "updated", "unchanged": "duplicate"}
    return [names[r.status] for r in upsert_leads(items, now=now)] if items else []


def _store_activities(items, *, by, now) -> list[str]:
    return (
        ["created" if r.created else "duplicate" for r in record_activities(items, now=now)] if items else []
    )


def _store_outcomes(items, *, by, now) -> list[str]:
    return record_historical_outcomes(items, by=by, now=now) if items else []


STORE = {
    ImportJob.Kind.LEADS: _store_leads,
    ImportJob.Kind.ACTIVITIES: _store_activities,
    ImportJob.Kind.OUTCOMES: _store_outcomes,
}


def _rejection(job: ImportJob, row: Row, reason: str) -> Rejection:
    return Rejection(job=job, row=row.number, reason=reason[:300], cells=row.cells)


def remove_file(job: ImportJob) -> None:
    """Delete the uploaded file; the rows that matter (rejections, counts) stay in the database."""
    if job.path is not None:
        job.path.unlink(missing_ok=True)
        ImportJob.objects.filter(pk=job.pk).update(stored_name="")
        job.stored_name = ""


def purge_stale_uploads(*, now: datetime | None = None) -> int:
    """Remove files of imports not run (or failed) within the retention time; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.LEADMATRIX["IMPORT_RETENTION_HOURS"])
    stale = (
        ImportJob.objects.filter(created_at__lt=cutoff)
        .exclude(stored_name="")
        .exclude(status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING])
    )
    count = 0
    for job in stale:
        remove_file(job)
        count += 1
    return count
