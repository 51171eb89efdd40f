"""Fault runs on PostgreSQL: break things under load, then check that nothing was lost or invented.

Each scenario is repeated (`--repeat`) and ends with the same two checks (see docs/reliability.md):
1. the activities that got a success answer are exactly the ones stored (none lost, none extra,
   none twice), because senders resend what got no answer, as a real sender must;
2. every lead's stored grade, score and bucket equal what the engine computes from scratch from
   its facts and activities at the time it was scored (`scored_at`).

Scenarios:
- `resend`: every activity is sent three times, in shuffled order, by concurrent senders;
- `worker-kill`: gunicorn workers are SIGKILLed while senders post batches;
- `pg-restart`: PostgreSQL is restarted (`--restart-command`) while senders post batches; the
  app must answer again by itself within seconds;
- `rescore-kill`: a full rescore is SIGKILLed at 10 %, 50 % and 90 % of its leads, then rerun.

It empties the lead tables, so it runs only on a PostgreSQL database whose name contains 'bench'.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from config import served
from leads.integrations.models import ApiToken
from leads.integrations.tokens import issue_token
from leads.models import Activity, Lead
from scoring import bench, engine
from scoring.matrices import engine_matrix
from scoring.models import RescoreRun, ScoringMatrix
from scoring.rescore import lead_activities, rescore_all
from scoring.runs import run_rescore, start_rescore

PORT = 8791
SOURCE = "faults"
SCENARIOS = ["resend", "worker-kill", "pg-restart", "rescore-kill"]
TYPES = ["web_visit", "email_open", "email_click", "whitepaper_download", "pricing_visit", "demo_request"]


class Sender:
    """Posts activity batches until each gets a success answer, noting which events were acknowledged."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.acknowledged: set[str] = set()
        self.failures = 0  # answers that were not a success (connection refused/reset, 5xx), then resent
        self.longest_outage = 0.0
        self.lock = threading.Lock()

    def post(self, items: list[dict]) -> None:
        body = json.dumps(items)
        first_failure = None
        for _ in range(600):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                conn.request(
                    "POST",
                    "/api/v1/activities",
                    body,
                    {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
                )
                response = conn.getresponse()
                data = response.read()
                conn.close()
                if response.status == 200:
                    results = json.loads(data)["results"]
                    with self.lock:
                        for item, result in zip(items, results, strict=True):
                            if result["status"] in {"created", "duplicate"}:
                                self.acknowledged.add(item["event_id"])
                        if first_failure is not None:
                            self.longest_outage = max(self.longest_outage, time.monotonic() - first_failure)
                    return
            except (OSError, http.client.HTTPException):
                pass
            with self.lock:
                self.failures += 1
            first_failure = first_failure or time.monotonic()
            time.sleep(0.1)
        raise CommandError("a batch got no success answer in a minute of resending")


class Command(BaseCommand):
    help = "Fault runs: kill workers, restart PostgreSQL, kill a full rescore, resend; then check the data."

    def add_arguments(self, parser):
        parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
        parser.add_argument("--repeat", type=int, default=3, help="Runs per scenario (default 3).")
        parser.add_argument("--leads", type=int, default=5_000, help="Leads to start with (default 5,000).")
        parser.add_argument(
            "--events", type=int, default=6_000, help="Activities sent per run (default 6,000)."
        )
        parser.add_argument("--batch", type=int, default=100, help="Activities per batch (default 100).")
        parser.add_argument("--senders", type=int, default=4, help="Concurrent senders (default 4).")
        parser.add_argument(
            "--restart-command",
            default="pg_ctlcluster --skip-systemctl-redirect 15 main restart",
            help="How to restart PostgreSQL for pg-restart.",
        )

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError("faults runs on PostgreSQL: set DATABASE_URL to a bench database.")
        name = str(connection.settings_dict["NAME"])
        if "bench" not in name:
            raise CommandError(
                f"faults empties the lead tables; use a database named *bench* (not {name!r})."
            )
        self.opts = opts
        # A SIGTERM (e.g. from `timeout`) unwinds normally, so the gunicorn we started is stopped too.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        scenarios = SCENARIOS if opts["scenario"] == "all" else [opts["scenario"]]
        bench.generate(leads=opts["leads"], per_lead=5, anchor=timezone.now())
        rescore_all(cause="publish")
        ApiToken.objects.filter(name="faults").delete()
        _, self.token = issue_token(
            name="faults", scope=ApiToken.Scope.WRITE_ACTIVITIES, rate_per_minute=10**9
        )
        failed = False
        for scenario in scenarios:
            for n in range(1, opts["repeat"] + 1):
                started = time.monotonic()
                note = getattr(self, "_" + scenario.replace("-", "_"))(f"{scenario}-{n}-{int(time.time())}")
                ok, checked = self._check(note.pop("run"), at=note.pop("at", None))
                failed |= not ok
                figures = ", ".join(f"{k} {v}" for k, v in note.items())
                self.stdout.write(
                    f"{scenario} #{n}: {'PASS' if ok else 'FAIL'} in {time.monotonic() - started:.0f} s; "
                    f"{figures}; {checked}"
                )
        if failed:
            raise CommandError("a fault run failed its check (see above)")

    # --- the server and the senders -----------------------------------------------------------

    def _server(self):
        return served.start(port=PORT, workers=2, log_level="critical")

    def _send(self, run: str, *, copies: int = 1, during: Callable[[threading.Event], dict] | None = None):
        """Send `--events` activities (each `copies` times, shuffled) from `--senders` threads, with
        `during` running alongside until they finish; returns the sender and what `during` noted."""
        opts = self.opts
        now = timezone.now()
        items = [
            {
                "email": f"lead{random.randint(1, opts['leads'])}@bench.example",
                "type": random.choice(TYPES),
                "occurred_at": (now - timedelta(minutes=random.randint(1, 600))).isoformat(),
                "source": SOURCE,
                "event_id": f"{run}-{n}",
            }
            for n in range(opts["events"])
        ]
        sent = [item for item in items for _ in range(copies)]
        random.shuffle(sent)
        batches = [sent[i : i + opts["batch"]] for i in range(0, len(sent), opts["batch"])]
        sender = Sender(self.token)
        work = iter(batches)
        lock = threading.Lock()

        def send() -> None:
            while True:
                with lock:
                    batch = next(work, None)
                if batch is None:
                    return
                sender.post(batch)

        process = self._server()
        stop = threading.Event()
        noted: dict = {}
        try:
            threads = [threading.Thread(target=send) for _ in range(opts["senders"])]
            if during:
                side = threading.Thread(target=lambda: noted.update(during(stop, process)))
                side.start()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stop.set()
            if during:
                side.join()
        finally:
            served.stop(process)
        self._last_acknowledged = sender.acknowledged
        return sender, noted

    # --- scenarios ------------------------------------------------------------------------------

    def _resend(self, run: str) -> dict:
        sender, _ = self._send(run, copies=3)
        return {"run": run, "resent answers": sender.failures}

    def _worker_kill(self, run: str) -> dict:
        def kill_workers(stop: threading.Event, process) -> dict:
            kills = 0
            while not stop.wait(0.7):  # the senders run for seconds: several kills land mid-batch
                workers = served.workers_of(process.pid)
                if workers:
                    os.kill(random.choice(workers), signal.SIGKILL)
                    kills += 1
            return {"workers killed": kills}

        sender, noted = self._send(run, during=kill_workers)
        return {"run": run, **noted, "failed requests resent": sender.failures}

    def _pg_restart(self, run: str) -> dict:
        command = shlex.split(self.opts["restart_command"])

        def restart(stop: threading.Event, process) -> dict:
            time.sleep(2)
            started = time.monotonic()
            # Output to /dev/null: the restarted server inherits the pipes, so capturing would wait forever.
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return {
                "restart took": f"{time.monotonic() - started:.1f} s",
                "senders still sending when it was back": not stop.is_set(),
            }

        sender, noted = self._send(run, during=restart)
        # This process's own connections died with the server: drop them and the pool holding them.
        try:
            connection.close()
        except Exception:
            connection.connection = None
        if hasattr(connection, "close_pool"):
            connection.close_pool()
        return {
            "run": run,
            **noted,
            "failed requests resent": sender.failures,
            "longest outage seen by a sender": f"{sender.longest_outage:.1f} s",
        }

    def _rescore_kill(self, run: str) -> dict:
        killed_at = []
        for share in (0.10, 0.50, 0.90):
            # A rescore 30 days on: decay moves most scores, so a half-done run is visible.
            when = timezone.now() + timedelta(days=30)
            active = ScoringMatrix.objects.active()
            rescore = start_rescore(cause="decay", now=when, enqueue=False)
            env = os.environ | {"RESCORE_BATCH_SIZE": "250", "RESCORE_WORKERS": "1"}
            child = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "shell",
                    "-c",
                    f"from scoring.runs import run_rescore; run_rescore({rescore.pk})",
                ],
                cwd=settings.BASE_DIR,
                env=env,
                start_new_session=True,
            )
            total = max(rescore.total, 1)
            while child.poll() is None:
                done = RescoreRun.objects.values_list("done", flat=True).get(pk=rescore.pk)
                if done >= share * total:
                    os.killpg(child.pid, signal.SIGKILL)
                    break
                time.sleep(0.01)
            child.wait()
            rescore.refresh_from_db()
            if ScoringMatrix.objects.active() != active or rescore.status == RescoreRun.Status.DONE:
                raise CommandError(f"the rescore was not cut at {share:.0%}")
            killed_at.append(
                f"{rescore.done / total:.0%} (left {rescore.status}, resumed after lead {rescore.last_lead_id})"
            )
            run_rescore(rescore.pk)
            rescore.refresh_from_db()
            if rescore.status != RescoreRun.Status.DONE:
                raise CommandError("the rerun did not complete")
        # Unchanged leads keep their scored_at, so the check scores every lead at the run's time.
        return {"run": run, "at": when, "killed at": "; ".join(killed_at), "reruns": "completed"}

    # --- the checks -----------------------------------------------------------------------------

    def _check(self, run: str, *, at=None) -> tuple[bool, str]:
        """Stored events against acknowledged ones, and every lead's score against the engine's
        (at the time it was scored, or at `at` when a full rescore at that time has just run)."""
        problems = []
        acknowledged = getattr(self, "_last_acknowledged", None)
        stored = list(
            Activity.objects.filter(source=SOURCE, source_event_id__startswith=f"{run}-").values_list(
                "source_event_id", flat=True
            )
        )
        if acknowledged is not None:
            if len(stored) != len(set(stored)):
                problems.append(f"{len(stored) - len(set(stored))} events stored twice")
            lost, extra = acknowledged - set(stored), set(stored) - acknowledged
            if lost or extra:
                problems.append(
                    f"{len(lost)} acknowledged events missing, {len(extra)} stored unacknowledged"
                )
        matrix = engine_matrix(ScoringMatrix.objects.active())
        wrong, leads = 0, 0
        ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), 2000):
            chunk = ids[start : start + 2000]
            activities = lead_activities(chunk)
            for lead in Lead.objects.filter(pk__in=chunk):
                leads += 1
                result = engine.score_lead(
                    matrix, lead.facts(), activities.get(lead.pk, []), at or lead.scored_at
                )
                if (result.grade, result.score, matrix.bucket(result.bucket).key) != (
                    lead.grade,
                    lead.score,
                    lead.bucket,
                ):
                    wrong += 1
        if wrong:
            problems.append(f"{wrong:,} of {leads:,} leads differ from a rescore from scratch")
        summary = (
            f"{len(stored):,} events stored = acknowledged, {leads:,} leads equal a rescore from scratch"
            if acknowledged is not None
            else f"{leads:,} leads equal a rescore from scratch"
        )
        self._last_acknowledged = None
        return not problems, "; ".join(problems) or summary
