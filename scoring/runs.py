"""Full rescores as tracked runs: start one, carry it out (resumably), refresh decay."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from leads.models import Lead, Transition
from scoring.models import RescoreRun, ScoringMatrix
from scoring.rescore import rescore_all

log = logging.getLogger(__name__)


def start_rescore(*, cause: str, by=None, now: datetime | None = None, enqueue: bool = True) -> RescoreRun:
    """Record a full rescore with the active matrix and (unless told not to) queue it after commit."""
    from scoring.tasks import rescore_task

    run = RescoreRun.objects.create(
        matrix=ScoringMatrix.objects.active(),
        cause=cause,
        scored_at=now or timezone.now(),
        requested_by=by,
        total=Lead.objects.count(),
    )
    if enqueue:
        transaction.on_commit(lambda: rescore_task.enqueue(run.pk))
    return run


def run_rescore(run_id: int) -> RescoreRun:
    """Rescore every lead for a run, saving progress after each batch; a rerun resumes where it stopped."""
    run = RescoreRun.objects.select_related("matrix").get(pk=run_id)
    if run.status == RescoreRun.Status.DONE:
        return run
    if run.matrix.status != ScoringMatrix.Status.ACTIVE:
        run.status, run.error, run.finished_at = (
            RescoreRun.Status.FAILED,
            "A newer version was published first.",
            timezone.now(),
        )
        run.save(update_fields=["status", "error", "finished_at"])
        return run
    run.status = RescoreRun.Status.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.error = ""
    run.save(update_fields=["status", "started_at", "error"])
    already = run.done

    def progress(done: int, total: int, last_id: int) -> None:
        RescoreRun.objects.filter(pk=run.pk).update(done=already + done, last_lead_id=last_id)

    try:
        report = rescore_all(
            cause=run.cause,
            now=run.scored_at,
            matrix=run.matrix,
            start_after=run.last_lead_id,
            progress=progress,
        )
    except Exception as exc:
        log.exception("rescore run %s failed", run.pk)
        RescoreRun.objects.filter(pk=run.pk).update(status=RescoreRun.Status.FAILED, error=str(exc)[:2000])
        raise
    run.refresh_from_db()
    run.status = RescoreRun.Status.DONE
    run.changed += report.changed
    run.transitions += report.transitions
    run.total = max(run.total, run.done)
    run.finished_at = timezone.now()
    run.save()
    return run


def refresh_decay(*, now: datetime | None = None) -> int:
    """Rescore every lead for the passage of time; only leads whose label or bucket moved are written."""
    report = rescore_all(cause=Transition.Cause.DECAY, now=now or timezone.now())
    return report.changed
