"""Benchmark the impact preview of a proposal on PostgreSQL (target: 100,000 leads within 10 s).

It builds (or reuses) a data set with `scoring.bench.generate`, scores it with the active matrix,
starts a draft that changes one weight, and times `scoring.preview.impact` — the same computation
the preview task runs — then prints the figures it produced.
"""

from __future__ import annotations

import time

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from config.roles import MARKETING
from leads.models import Activity, Lead
from scoring import bench
from scoring.governance import edit_item, start_draft
from scoring.models import ActivityWeight, ScoringMatrix
from scoring.preview import impact
from scoring.rescore import rescore_all


class Command(BaseCommand):
    help = "Time the impact preview of a one-weight change over N leads (PostgreSQL bench database only)."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=100_000)
        parser.add_argument("--activities-per-lead", type=int, default=20)

    def handle(self, *args, leads: int, activities_per_lead: int, **options):
        name = connection.settings_dict["NAME"]
        if connection.vendor != "postgresql" or "bench" not in name:
            raise CommandError(
                "bench_preview empties the lead tables: point DATABASE_URL at a PostgreSQL *bench* database."
            )
        if Lead.objects.count() != leads or Activity.objects.count() != leads * activities_per_lead:
            started = time.perf_counter()
            bench.generate(leads=leads, per_lead=activities_per_lead, anchor=timezone.now())
            self.stdout.write(f"Generated {leads:,} leads in {time.perf_counter() - started:.1f} s")
        now = timezone.now()
        report = rescore_all(cause="publish", now=now)
        self.stdout.write(f"Scored {report.leads:,} leads with the active matrix in {report.seconds:.1f} s")

        marketer, _ = User.objects.get_or_create(username="bench-marketer")
        marketer.groups.add(Group.objects.get(name=MARKETING))
        draft = start_draft(
            source=ScoringMatrix.objects.active(), by=marketer, name="Bench: whitepapers count more"
        )
        weight = ActivityWeight.objects.get(matrix=draft, activity_type__key="whitepaper_download")
        edit_item(item=weight, revision=weight.revision, values={"points": weight.points + 10}, by=marketer)

        started = time.perf_counter()
        figures = impact(matrix=draft, now=now)
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Impact preview of a one-weight change over {Lead.objects.count():,} leads: {seconds:.2f} s"
        )
        self.stdout.write(
            f"  leads {figures['leads']:,}, moved {figures['moved']:,}, queue {figures.get('queue')}"
        )
        self.stdout.write(f"Within 10 s: {'PASS' if seconds <= 10 else 'FAIL'}")
