"""Background work for scoring: thin task wrappers around `scoring.runs` services."""

from django.tasks import task

from scoring.runs import run_rescore


@task
def rescore_task(run_id: int) -> None:
    """Carry out (or resume) a full rescore run."""
    run_rescore(run_id)
