"""Background work for scoring: thin task wrappers around `scoring.runs` and `scoring.preview` services."""

from django.tasks import task

from scoring.runs import run_rescore


@task
def rescore_task(run_id: int) -> None:
    """Carry out (or resume) a full rescore run."""
    run_rescore(run_id)


@task
def preview_task(preview_id: int) -> None:
    """Compute a draft's impact preview and backtest."""
    from scoring.preview import run_preview

    run_preview(preview_id)
