"""A mixed load against gunicorn and PostgreSQL, with a full rescore in the middle (docs/reliability.md).

Threads play reps (open the queue, now and then log an outcome through the outcome form) and
senders (single activities and 100-item batches through the API); halfway through, a sales manager
publishes an approved matrix change through the page, and a `db_worker` rescores every lead with it,
as in production. It prints the error rate, the queue page's p95 during and outside the rescore,
PostgreSQL's deadlock counter before and after, and each worker's memory (RSS) over time. Pass:
under 0.1 % errors, queue p95 <= 150 ms during the rescore and <= 100 ms otherwise, no deadlocks,
memory flat, and the publication's rescore done.

It changes leads, so it runs only on a PostgreSQL database whose name contains 'bench'; build the
data first with `manage.py bench_scoring` or let `--leads` generate it.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config import served
from config.roles import MARKETING, SALES_MANAGER, SALES_REP
from leads.integrations.models import ApiToken
from leads.integrations.tokens import issue_token
from leads.models import Lead
from scoring import bench, governance
from scoring.models import Proposal, Publication, RescoreRun, ScoringMatrix
from scoring.rescore import rescore_all

PORT = 8792
TYPES = ["web_visit", "email_open", "email_click", "whitepaper_download", "pricing_visit"]


class Recorder:
    """Latencies by kind and phase, and errors, from many threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[tuple[str, str], list[float]] = {}
        self.requests = 0
        self.errors: dict[str, int] = {}
        self.phase = "before"

    def add(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.requests += 1
            if error:
                self.errors[error] = self.errors.get(error, 0) + 1
            else:
                self.samples.setdefault((kind, self.phase), []).append(seconds)


def _request(method: str, path: str, body: str | None, headers: dict) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    try:
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] * 1000 if len(values) >= 20 else float("nan")


class Command(BaseCommand):
    help = "Mixed load (reps, activity senders, a full rescore in the middle) with pass/fail figures."

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=float, default=30, help="Duration (default 30).")
        parser.add_argument(
            "--leads", type=int, default=0, help="Generate this many leads first (default: keep)."
        )
        parser.add_argument("--reps", type=int, default=6, help="Rep threads (default 6).")
        parser.add_argument("--senders", type=int, default=2, help="Activity sender threads (default 2).")
        parser.add_argument("--think", type=float, default=0.5, help="Seconds a rep pauses (default 0.5).")
        parser.add_argument(
            "--workers",
            type=int,
            default=5,
            help="gunicorn workers (default 5: 2 x cores + 1, as in production).",
        )

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql" or "bench" not in str(connection.settings_dict["NAME"]):
            raise CommandError("loadtest changes leads: point DATABASE_URL at a PostgreSQL *bench* database.")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        if opts["leads"]:
            bench.generate(leads=opts["leads"], per_lead=10, anchor=timezone.now())
            rescore_all(cause="publish")
        leads = Lead.objects.count()
        reps = [self._signed_in(f"load-rep-{n}", SALES_REP) for n in range(opts["reps"])]
        self._share_queue(reps)
        proposal, manager = self._approved_change()
        # The set-up wrote or moved most rows: plan with fresh statistics, as autovacuum would soon
        # after (the development machine's cluster runs with autovacuum off, so nothing else would).
        bench.vacuum("leads_lead", "leads_activity", analyze=True)
        ApiToken.objects.filter(name="loadtest").delete()
        _, token = issue_token(name="loadtest", scope=ApiToken.Scope.WRITE_ACTIVITIES, rate_per_minute=10**9)
        deadlocks_before = self._deadlocks()
        record, stop = Recorder(), threading.Event()
        env = {"TASKS_BACKEND": "database"}
        process = served.start(port=PORT, workers=opts["workers"], env=env, log_level="error")
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.5", "-v0"],
            cwd=settings.BASE_DIR,
            env=served.production_env("error") | env,
            start_new_session=True,
        )
        memory: list[tuple[float, list[int]]] = []
        started = time.monotonic()
        try:
            threads = [
                threading.Thread(target=self._rep, args=(rep, record, stop, opts["think"])) for rep in reps
            ]
            threads += [
                threading.Thread(target=self._sender, args=(token, leads, record, stop))
                for _ in range(opts["senders"])
            ]
            for thread in threads:
                thread.start()
            duration = opts["minutes"] * 60
            publisher = threading.Thread(
                target=self._publish, args=(proposal, manager, record, duration / 2, worker)
            )
            publisher.start()
            while time.monotonic() - started < duration:
                pids = served.workers_of(process.pid)
                memory.append((time.monotonic() - started, [served.rss_kb(pid) for pid in pids]))
                time.sleep(min(10, duration / 30))
            stop.set()
            for thread in threads:
                thread.join()
            publisher.join()
        finally:
            served.stop(process)
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        self._report(record, memory, deadlocks_before, time.monotonic() - started, leads, opts)

    # --- setup ----------------------------------------------------------------------------------

    def _signed_in(self, username: str, role: str) -> dict:
        """A person in a role, signed in: a session cookie and a CSRF token for the requests."""
        user, _ = User.objects.get_or_create(username=username)
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        csrf = secrets.token_hex(16)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        return {
            "user": user,
            "cookie": f"{settings.SESSION_COOKIE_NAME}={session}; csrftoken={csrf}",
            "csrf": csrf,
        }

    def _share_queue(self, reps: list[dict]) -> None:
        """Each rep owns a slice of the queue."""
        queue = list(Lead.objects.in_queue().order_by("pk").values_list("pk", flat=True))
        if len(queue) < len(reps) * 20:
            raise CommandError(f"only {len(queue)} leads in the queue; generate more with --leads")
        for n, rep in enumerate(reps):
            rep["leads"] = queue[n :: len(reps)]
            Lead.objects.filter(pk__in=rep["leads"]).update(owner=rep["user"])

    def _approved_change(self) -> tuple[Proposal, dict]:
        """A draft that counts web visits and whitepapers more, proposed and approved by both sides.

        Both are common activities, so the publication moves many scores: a full rescore that writes.
        """
        marketer = self._signed_in("load-marketer", MARKETING)
        manager = self._signed_in("load-manager", SALES_MANAGER)
        draft = governance.start_draft(source=ScoringMatrix.objects.active(), by=marketer["user"])
        for weight in draft.weights.filter(activity_type__key__in=["web_visit", "whitepaper_download"]):
            governance.edit_item(
                item=weight, revision=weight.revision, values={"points": weight.points + 4},
                by=marketer["user"], reason="loadtest: count visits and whitepapers more",
            )  # fmt: skip
        proposal = governance.propose_draft(matrix=draft, by=marketer["user"], summary="loadtest change")
        governance.approve_proposal(proposal=proposal, by=marketer["user"])
        governance.approve_proposal(proposal=proposal, by=manager["user"])
        return proposal, manager

    def _deadlocks(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            return cursor.fetchone()[0]

    # --- the actors -----------------------------------------------------------------------------

    def _timed(self, record: Recorder, kind: str, method: str, path: str, body, headers, ok: set[int]):
        begun = time.perf_counter()
        try:
            status, _ = _request(method, path, body, headers)
            error = None if status in ok else f"{kind} {status}"
        except (OSError, http.client.HTTPException) as exc:
            error = f"{kind} {type(exc).__name__}"
        record.add(kind, time.perf_counter() - begun, error)

    def _rep(self, rep: dict, record: Recorder, stop: threading.Event, think: float) -> None:
        headers = {"Cookie": rep["cookie"]}
        post = headers | {
            "X-CSRFToken": rep["csrf"],
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"http://127.0.0.1:{PORT}/",
        }
        n = 0
        while not stop.is_set():
            self._timed(record, "queue", "GET", "/leads/queue/", None, headers, {200})
            n += 1
            if n % 5 == 0:  # every fifth look at the queue, an outcome for one of the rep's leads
                lead = random.choice(rep["leads"])
                body = f"outcome=connected&expected_owner={rep['user'].pk}&note=load"
                self._timed(record, "outcome", "POST", f"/leads/{lead}/outcome/", body, post, {302})
            stop.wait(think * random.uniform(0.5, 1.5))

    def _sender(self, token: str, leads: int, record: Recorder, stop: threading.Event) -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        n = 0
        while not stop.is_set():
            n += 1
            items = [
                {
                    "email": f"lead{random.randint(1, leads)}@bench.example",
                    "type": random.choice(TYPES),
                    "occurred_at": (timezone.now() - timedelta(minutes=random.randint(1, 300))).isoformat(),
                    "source": "loadtest",
                    "event_id": secrets.token_hex(8),
                }
                for _ in range(100 if n % 10 == 0 else 1)
            ]
            body = json.dumps(items if len(items) > 1 else items[0])
            kind = "batch" if len(items) > 1 else "single"
            self._timed(record, kind, "POST", "/api/v1/activities", body, headers, {200, 201})
            stop.wait(0.05)

    def _publish(self, proposal: Proposal, manager: dict, record: Recorder, after: float, worker) -> None:
        """Halfway, the manager presses Publish; the rescore phase lasts until the worker has finished."""
        time.sleep(after)
        headers = {
            "Cookie": manager["cookie"],
            "X-CSRFToken": manager["csrf"],
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"http://127.0.0.1:{PORT}/",
        }
        with record.lock:
            record.phase = "rescore"
        begun = time.monotonic()
        path = reverse("scoring:publish", args=[proposal.pk])
        status, _ = _request("POST", path, "", headers)
        run = None
        if status == 302:
            run_id = Publication.objects.filter(proposal=proposal).values_list("rescore", flat=True).get()
            while run is None or not run.finished:
                if worker.poll() is not None:
                    raise CommandError(f"db_worker exited ({worker.returncode}) before the rescore finished")
                time.sleep(0.2)
                run = RescoreRun.objects.select_related("matrix").get(pk=run_id)
        record.rescore_seconds = time.monotonic() - begun
        record.rescore = run
        with record.lock:
            record.phase = "after"
        connection.close()

    # --- the report -----------------------------------------------------------------------------

    def _report(
        self, record: Recorder, memory, deadlocks_before: int, seconds: float, leads: int, opts
    ) -> None:
        deadlocks = self._deadlocks() - deadlocks_before
        errors = sum(record.errors.values())
        rate = errors / max(record.requests, 1)
        out = self.stdout.write
        out(
            f"Load: {seconds / 60:.1f} min, {leads:,} leads, {opts['reps']} reps (think {opts['think']} s), "
            f"{opts['senders']} senders, {opts['workers']} gunicorn workers, 1 db_worker"
        )
        out(
            f"Requests: {record.requests:,} ({record.requests / seconds:.0f}/s), errors {errors} ({rate:.3%}) {record.errors or ''}"
        )
        for kind in ("queue", "outcome", "single", "batch"):
            parts = []
            for phase in ("before", "rescore", "after"):
                values = record.samples.get((kind, phase), [])
                if values:
                    parts.append(
                        f"{phase} n={len(values):,} p50 {statistics.median(values) * 1000:.0f} ms p95 {p95(values):.0f} ms"
                    )
            out(f"  {kind:8}: " + "; ".join(parts))
        run = getattr(record, "rescore", None)
        if run is None:
            out("Publication in the middle: FAILED (the publish request was not answered with a redirect)")
        else:
            out(
                f"Publication in the middle: v{run.matrix.version}, full rescore {run.status.lower()}: "
                f"{run.done:,} leads, {run.changed:,} changed, {record.rescore_seconds:.1f} s from the click "
                f"to the end of the rescore"
            )
        out(f"Deadlocks (pg_stat_database): {deadlocks}")
        for at, rss in memory[:: max(1, len(memory) // 8)] + memory[-1:]:
            out(f"  RSS at {at / 60:4.1f} min: " + ", ".join(f"{kb / 1024:.0f} MB" for kb in rss))
        outside = record.samples.get(("queue", "before"), []) + record.samples.get(("queue", "after"), [])
        during = record.samples.get(("queue", "rescore"), [])
        checks = {
            "errors < 0.1 %": rate < 0.001,
            "queue p95 <= 100 ms outside the rescore": p95(outside) <= 100,
            "queue p95 <= 150 ms during the rescore": p95(during) <= 150,
            "no deadlocks": deadlocks == 0,
            "the publication's rescore completed": run is not None and run.status == RescoreRun.Status.DONE,
        }
        for name, ok in checks.items():
            out(f"  {'PASS' if ok else 'FAIL'}: {name}")
