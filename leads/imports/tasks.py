"""Background work for imports: a thin task over `leads.imports.run.run_import`."""

from django.tasks import task

from leads.imports.run import run_import


@task
def import_task(job_id: int) -> None:
    """Carry out (or resume) an import."""
    run_import(job_id)
