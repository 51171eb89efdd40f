"""Import a lead file with a converted flag through the import pages, then calibrate from the page.

A check of the whole path a marketer takes, with Django's test client against the running code: upload
the file as leads (the suggested mapping as it is), again as historical outcomes (the converted flag, and
the date column named), then run the calibration from `/calibration/` and print its held-out figures.
"""

from pathlib import Path

from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.test import Client

from config.roles import MARKETING
from feedback.models import Calibration
from leads.imports.models import ImportJob


class Command(BaseCommand):
    help = "Import a CSV as leads and as outcomes through the import pages, calibrate, print the AUCs."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--date-column", default="last_activity_date", help="the outcome date column")
        parser.add_argument("--user", default="calibration-check", help="a Marketing user (made if missing)")

    def handle(self, *args, path: Path, date_column: str, user: str, **options):
        person, created = User.objects.get_or_create(username=user)
        if created:
            person.groups.add(Group.objects.get(name=MARKETING))
        client = Client(HTTP_HOST="localhost")
        client.force_login(person)
        data = path.read_bytes()
        for kind, choices in ((ImportJob.Kind.LEADS, {}), (ImportJob.Kind.OUTCOMES, {date_column: "at"})):
            job = self._import(client, kind=kind, name=path.name, data=data, choices=choices)
            self.stdout.write(
                f"{kind}: {job.status}, created {job.created}, updated {job.updated}, "
                f"duplicate {job.duplicate}, rejected {job.rejected}; mapping {job.mapping}"
            )
        response = client.post("/calibration/")
        if response.status_code != 302:
            raise CommandError(f"/calibration/ answered {response.status_code}")
        run = Calibration.objects.latest("pk")
        if run.refused:
            raise CommandError(run.refused)
        r = run.result
        self.stdout.write(
            f"Calibration #{run.pk}: {r['outcomes']} leads with an outcome ({r['converted']} converted), "
            f"fitted on {r['train']}, measured on {r['test']} held out."
        )
        for name in ("current", "suggested"):
            e = r[name]
            self.stdout.write(
                f"  {name:<9} matrix: ROC AUC {e['auc']}, top-decile conversion {e['top_decile']} %"
            )
        self.stdout.write(f"  logistic model itself: ROC AUC {r['model_auc']}")
        for f in r["features"]:
            if f["suggested"] != f["current"] and (f["current"] is not None or f["suggested"]):
                self.stdout.write(f"    {f['label']}: {f['current']} -> {f['suggested']}")

    def _import(self, client: Client, *, kind: str, name: str, data: bytes, choices: dict) -> ImportJob:
        upload = SimpleUploadedFile(name, data, content_type="text/csv")
        response = client.post("/imports/", {"kind": kind, "file": upload})
        if response.status_code != 302:
            raise CommandError(f"upload answered {response.status_code}")
        job = ImportJob.objects.latest("pk")
        form = {f"col_{i}": choices.get(h, job.mapping.get(h, "")) for i, h in enumerate(job.headers)}
        form |= {"day_first": "1" if job.options.get("day_first", True) else "0", "remember": "on"}
        response = client.post(f"/imports/{job.pk}/mapping/", form)
        if response.status_code != 302:
            raise CommandError(f"mapping answered {response.status_code}: {response.content[:2000]!r}")
        client.get(f"/imports/{job.pk}/preview/")
        client.post(f"/imports/{job.pk}/start/")
        job.refresh_from_db()
        return job
