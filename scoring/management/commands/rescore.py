"""Rescore every lead with the active matrix (or resume a run that stopped)."""

from django.core.management.base import BaseCommand, CommandError

from scoring.models import RescoreRun
from scoring.runs import run_rescore, start_rescore


class Command(BaseCommand):
    help = (
        "Rescore every lead with the active matrix, printing progress; --resume RUN continues a stopped run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--resume", type=int, metavar="RUN", help="Id of a run to continue.")

    def handle(self, *args, resume: int | None, **options):
        if resume is not None:
            if not RescoreRun.objects.filter(pk=resume).exists():
                raise CommandError(f"There is no rescore run {resume}.")
            run = run_rescore(resume)
        else:
            run = run_rescore(start_rescore(cause="publish", enqueue=False).pk)
        run.refresh_from_db()
        self.stdout.write(
            f"Run {run.pk}: {run.get_status_display()}, {run.done} leads, {run.changed} changed, "
            f"{run.transitions} bucket changes."
        )
