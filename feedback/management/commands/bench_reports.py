"""Time every report page at a million leads on PostgreSQL, and the streamed export of every lead."""

from __future__ import annotations

import os
import statistics
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from config.roles import SALES_MANAGER, SALES_REP
from scoring import bench
from scoring.bench import _h, _pick, execute, scalar

REPS = ["bench-rep-1", "bench-rep-2", "bench-rep-3", "bench-rep-4"]
PAGES = [
    ("Matrix in numbers (90 days)", "/reports/matrix/"),
    ("Matrix in numbers, source + grade", "/reports/matrix/?source=website&grade=B&start={start}&end={end}"),
    ("Funnel per week (90 days)", "/reports/funnel/"),
    ("Funnel per month (a year)", "/reports/funnel/?period=month&start={year}&end={end}"),
    ("Speed of follow-up (90 days)", "/reports/speed/"),
    ("Why leads are rejected (90 days)", "/reports/rejections/"),
    ("Before / after (14 days)", "/reports/before-after/"),
    ("Playbook", "/playbook/"),
]


class Command(BaseCommand):
    help = (
        "Add queue state, outcomes, snapshots and a publication to a bench database built by "
        "bench_scoring, then time each report page (runs only on a PostgreSQL database named *bench*)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=5, help="Requests per page (median and max shown).")
        parser.add_argument(
            "--skip-export", action="store_true", help="Do not time the export of every lead."
        )

    def handle(self, *args, repeat: int, skip_export: bool, **options):
        if connection.vendor != "postgresql" or "bench" not in str(connection.settings_dict["NAME"]):
            raise CommandError(
                "bench_reports runs only on a PostgreSQL database whose name contains 'bench'."
            )
        settings.DEBUG = False  # no query log growing in memory, as in production
        leads = scalar("SELECT count(*) FROM leads_lead")
        if not leads:
            raise CommandError("No leads: build them first with `manage.py bench_scoring --steps rescore`.")
        facts = bench.server_facts()
        self.stdout.write(
            f"PostgreSQL {facts['server_version']} (shared_buffers {facts['shared_buffers']}, work_mem "
            f"{facts['work_mem']}, jit {facts['jit']}); load average {os.getloadavg()}; {leads:,} leads."
        )
        anchor = bench.anchor_time() or timezone.now()
        if not scalar("SELECT count(*) FROM feedback_disposition WHERE note = 'bench'"):
            self.stdout.write("Adding queue state and outcomes ...")
            started = time.perf_counter()
            self._prepare(anchor)
            self.stdout.write(f"  done in {time.perf_counter() - started:.1f} s")
        if scalar("SELECT count(*) FROM feedback_dailysnapshot") < 300:
            self.stdout.write("Adding a year of daily snapshots and a publication ...")
            self._prepare_history(anchor)
        counts = scalar(
            "SELECT ARRAY[(SELECT count(*) FROM feedback_disposition), (SELECT count(*) FROM leads_transition),"
            " (SELECT count(*) FROM leads_lead WHERE queue_entered_at IS NOT NULL)]"
        )
        self.stdout.write(
            f"{counts[0]:,} outcomes, {counts[1]:,} transitions, {counts[2]:,} leads that entered the queue."
        )
        client = Client()
        client.force_login(User.objects.get(username="bench-manager"))
        end = timezone.localdate()
        fill = {
            "start": (end - timedelta(days=89)).isoformat(),
            "end": end.isoformat(),
            "year": (end - timedelta(days=364)).isoformat(),
        }
        rows = []
        with override_settings(ALLOWED_HOSTS=["testserver"]):
            client.get("/reports/matrix/")  # warm up: imports, templates, first connection
            for name, url in PAGES:
                seconds = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    response = client.get(url.format(**fill))
                    seconds.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise CommandError(f"{url} answered {response.status_code}")
                rows.append((name, statistics.median(seconds), max(seconds)))
                self.stdout.write(
                    f"  {name:<40} median {statistics.median(seconds) * 1000:7.0f} ms   max {max(seconds) * 1000:7.0f} ms"
                )
            if not skip_export:
                self._export(client, fill)
        self.stdout.write(f"Load average after: {os.getloadavg()}")

    def _export(self, client: Client, fill: dict) -> None:
        """Stream the CSV of every lead; the process's memory must not grow with the rows."""
        url = f"/reports/matrix/?export=leads&start=2000-01-01&end={fill['end']}"
        rss_before = bench.current_rss_kb()
        started = time.perf_counter()
        response = client.get(url)
        size = lines = 0
        peak = rss_before
        for n, chunk in enumerate(response.streaming_content):
            size += len(chunk)
            lines += chunk.count(b"\n")
            if n % 50_000 == 0:
                peak = max(peak, bench.current_rss_kb())
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"  Export of every lead (CSV, streamed)        {lines - 1:,} rows, {size / 1e6:.0f} MB in {seconds:.1f} s; "
            f"resident memory {rss_before / 1024:.0f} MB before, at most {peak / 1024:.0f} MB while streaming"
        )

    def _prepare(self, anchor) -> None:
        """Bench data for the reports, deterministic from the lead ids (like bench_scoring's)."""
        manager, _ = User.objects.get_or_create(username="bench-manager")
        manager.groups.add(Group.objects.get(name=SALES_MANAGER))
        reps = []
        for username in REPS:
            user, _ = User.objects.get_or_create(username=username)
            user.groups.add(Group.objects.get(name=SALES_REP))
            reps.append(user.pk)
        rep_array = "ARRAY[" + ",".join(str(pk) for pk in reps) + "]"
        # Leads created over the year before the anchor; queue leads entered over the last 90 days.
        execute(
            f"UPDATE leads_lead SET created_at = %s - make_interval(secs => {_h('id', 31, 365 * 86400)}), "
            f"source = {_pick('id', 37, ['website', 'webinar', 'trade show', 'paid search', 'partner referral'])}",
            [anchor],
        )
        execute(
            f"""UPDATE leads_lead SET
                 queue_entered_at = %s - make_interval(secs => {_h("id", 41, 90 * 86400)}),
                 owner_id = ({rep_array})[1 + {_h("id", 43, len(reps))}::int]
               WHERE in_queue""",
            [anchor],
        )
        execute(
            f"""UPDATE leads_lead SET
                 first_contact_at = queue_entered_at + make_interval(secs => {_h("id", 47, 96 * 3600)}),
                 sla_met = {_h("id", 47, 96 * 3600)} < 48 * 3600
               WHERE in_queue AND {_h("id", 53, 100)} < 70"""
        )
        reasons = list(scalar("SELECT array_agg(id ORDER BY id) FROM feedback_reason") or [])
        reason_array = "ARRAY[" + ",".join(str(r) for r in reasons) + "]::bigint[]"
        # One decisive outcome per contacted lead; a connected call before it.
        execute(
            """INSERT INTO feedback_disposition (lead_id, outcome, note, at, imported, by_id)
               SELECT id, 'connected', 'bench', first_contact_at, false, owner_id
               FROM leads_lead WHERE first_contact_at IS NOT NULL"""
        )
        outcome = _pick(
            "id", 59, ["opportunity", "won", "lost", "disqualified", "disqualified", "nurture", "meeting"]
        )
        execute(
            f"""INSERT INTO feedback_disposition (lead_id, outcome, reason_id, amount, note, at, imported, by_id)
               SELECT id, o, CASE WHEN o IN ('disqualified', 'nurture')
                                  THEN ({reason_array})[1 + {_h("id", 61, max(len(reasons), 1))}::int] END,
                      CASE WHEN o IN ('opportunity', 'won') THEN 10000 + {_h("id", 67, 90000)} END,
                      'bench', first_contact_at + make_interval(secs => {_h("id", 71, 30 * 86400)}), false, owner_id
               FROM (SELECT id, first_contact_at, owner_id, {outcome} AS o
                     FROM leads_lead WHERE first_contact_at IS NOT NULL) AS contacted"""
        )
        execute("ANALYZE leads_lead; ANALYZE feedback_disposition")

    def _prepare_history(self, anchor) -> None:
        """A year of snapshots (today's computed for real) and a publication a week ago."""
        # Snapshots: today's computed for real, a year before it from the data as it stands.
        from feedback.snapshots import take_snapshot

        started = time.perf_counter()
        today = take_snapshot()
        self.stdout.write(f"  take_snapshot() for today at this size: {time.perf_counter() - started:.1f} s")
        execute(
            """INSERT INTO feedback_dailysnapshot (day, matrix_id, queue_size, mqls, accepted, opportunities,
                 pipeline_value, won, won_value, days_to_close, grade_counts, bucket_counts, taken_at)
               SELECT %s::date - n, %s, %s + mod(n, 37), 150 + mod(n, 23), 100 + mod(n, 17), 20 + mod(n, 7), 2500000, 5 + mod(n, 3),
                      50000, 12.5, %s, %s, now()
               FROM generate_series(1, 365) AS n""",
            [
                today.day,
                today.matrix_id,
                today.queue_size,
                _json(today.grade_counts),
                _json(today.bucket_counts),
            ],
        )
        from scoring.models import Proposal, Publication, ScoringMatrix

        matrix = ScoringMatrix.objects.active()
        if not Publication.objects.filter(matrix=matrix).exists():
            proposal = Proposal.objects.create(
                matrix=matrix,
                summary="Bench publication",
                fingerprint="bench",
                proposed_at=anchor,
                status="published",
            )
            Publication.objects.create(
                matrix=matrix, proposal=proposal, at=timezone.now() - timedelta(days=7), baseline={}
            )


def _json(value) -> str:
    import json

    return json.dumps(value)
