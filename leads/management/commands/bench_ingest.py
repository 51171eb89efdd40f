"""Benchmark the ingest API on PostgreSQL, served by gunicorn, against two baselines in the same run.

It prints (see docs/benchmarks.md, "Ingest API"):
1. single-activity POSTs per second (wrk, a new event per request) against a bare Django template
   view on the same gunicorn: target ratio >= 0.6;
2. activities per second with 8 concurrent senders posting overlapping 1,000-item batches: target
   >= 50,000/s and >= 0.75x the rate of COPY of the same rows into the same table by as many
   concurrent connections; every batch must be answered 200 with 1,000 created, and PostgreSQL's
   deadlock counter must not move.

It empties the lead tables first, so it runs only on a PostgreSQL database whose name contains
'bench'.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Max, Min
from django.utils import timezone

from config import served
from leads.integrations.models import ApiToken
from leads.integrations.tokens import issue_token
from leads.models import Activity, Lead
from scoring import bench
from scoring.models import ActivityType
from scoring.rescore import rescore_all

PORT = 8766
SINGLE_TARGET = 0.6
BATCH_TARGET = 50_000
COPY_TARGET = 0.75

WRK_SCRIPT = """
local counter = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  token = args[1]
  run = args[2]
  leads = tonumber(args[3])
  types = {"web_visit", "email_open", "email_click", "whitepaper_download", "video_view", "pricing_visit"}
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"lead%d@bench.example","type":"%s","occurred_at":"%s","source":"wrk","event_id":"%s-%d-%d"}',
    (counter * 7919 + tid * 104729) % leads + 1, types[counter % #types + 1], os.date("!%Y-%m-%dT%H:%M:%SZ"),
    run, tid, counter)
  return wrk.format("POST", "/api/v1/activities",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
"""


class Command(BaseCommand):
    help = "Ingest API speed: single activities vs a bare view, batches vs COPY, 8 concurrent senders."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=20_000, help="Leads to start with (default 20,000).")
        parser.add_argument(
            "--activities-per-lead", type=int, default=20, help="Their activities (default 20)."
        )
        parser.add_argument("--seconds", type=int, default=15, help="wrk duration per URL (default 15).")
        parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8).")
        parser.add_argument(
            "--workers", type=int, default=2, help="gunicorn workers (default 2, one per core)."
        )
        parser.add_argument("--senders", type=int, default=8, help="Concurrent batch senders (default 8).")
        parser.add_argument("--batches", type=int, default=6, help="Batches per sender (default 6).")
        parser.add_argument(
            "--in-process",
            type=int,
            default=300,
            help="Single-activity requests timed in this process first: CPU, wall, statements (0: skip).",
        )
        parser.add_argument("--skip-single", action="store_true", help="Only the batch measurements.")

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError("bench_ingest measures PostgreSQL: set DATABASE_URL to a bench database.")
        name = str(connection.settings_dict["NAME"])
        if "bench" not in name:
            raise CommandError(
                f"bench_ingest empties the lead tables; use a database named *bench* (not {name!r})."
            )
        if not shutil.which("wrk"):
            raise CommandError("bench_ingest drives the server with wrk: apt-get install -y wrk.")
        settings.DEBUG = False
        self._prepare(opts["leads"], opts["activities_per_lead"])
        ApiToken.objects.filter(name="bench_ingest").delete()
        _, token = issue_token(
            name="bench_ingest", scope=ApiToken.Scope.WRITE_ACTIVITIES, rate_per_minute=10**9
        )
        run = f"r{int(time.time())}"
        if opts["in_process"]:
            self._in_process(token, run, opts)
        with self._server(opts["workers"]):
            single = None if opts["skip_single"] else self._single(token, run, opts)
            batch = self._batches(token, run, opts)
        self.stdout.write("  (gunicorn stopped)")
        copy_rate = self._copy_rate(run, opts, scores=False)
        floors = {"copy+scores": self._copy_rate(run, opts, scores=True)}
        floors["single"] = None if opts["skip_single"] else self._single_floor(opts)
        self._report(single, batch, copy_rate, floors, opts)

    # --- data ---------------------------------------------------------------------------------

    def _prepare(self, leads: int, per_lead: int) -> None:
        started = time.perf_counter()
        bench.generate(leads=leads, per_lead=per_lead, anchor=timezone.now())
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE leads_lead")
            cursor.execute("VACUUM ANALYZE leads_activity")
        report = rescore_all(cause="publish")
        self.stdout.write(
            f"Data: {leads:,} leads x {per_lead} activities, scored ({report.transitions:,} transitions) "
            f"in {time.perf_counter() - started:.1f} s"
        )

    # --- the server ---------------------------------------------------------------------------

    def _server(self, workers: int):
        env = {"LEADMATRIX_BENCH_ROUTES": "1", "TASKS_BACKEND": "database"}
        return served.serving(port=PORT, workers=workers, ready="/bench/bare/", env=env)

    # --- single activities --------------------------------------------------------------------

    def _single(self, token: str, run: str, opts) -> dict:
        script = Path(tempfile.mkdtemp(prefix="leadmatrix-bench-wrk-")) / "post.lua"
        script.write_text(WRK_SCRIPT)
        before = Activity.objects.filter(source="wrk").count()
        bare_url = f"http://127.0.0.1:{PORT}/bench/bare/"
        api_url = f"http://127.0.0.1:{PORT}/api/v1/activities"
        self._wrk(bare_url, seconds=3, connections=opts["connections"])
        bare = self._wrk(bare_url, seconds=opts["seconds"], connections=opts["connections"])
        self.stdout.write(f"  bare template view: {bare:.0f} req/s")
        warm = [token, run + "w", str(opts["leads"])]
        self._wrk(api_url, seconds=3, connections=opts["connections"], script=script, args=warm)
        args = [token, run, str(opts["leads"])]
        api = self._wrk(
            api_url, seconds=opts["seconds"], connections=opts["connections"], script=script, args=args
        )
        stored = Activity.objects.filter(source="wrk").count() - before
        self.stdout.write(f"  POST /api/v1/activities, one activity: {api:.0f} req/s ({stored:,} stored)")
        return {"bare": bare, "api": api, "stored": stored}

    def _wrk(self, url: str, *, seconds: int, connections: int, script=None, args=()) -> float:
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
        if script:
            command += ["-s", str(script)]
        command += [url, *(["--", *args] if args else [])]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        if "Non-2xx" in out:
            raise CommandError(f"{url} answered errors under load:\n{out}")
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if not match:
            raise CommandError(f"Could not read wrk's output:\n{out}")
        return float(match.group(1))

    # --- batches ------------------------------------------------------------------------------

    def _bodies(self, run: str, opts, *, source: str) -> list[list[list[dict]]]:
        """Per sender, its batches; every batch draws from all leads, so concurrent batches overlap."""
        rng = random.Random(42)
        keys = [k for k in ActivityType.objects.values_list("key", flat=True) if k != "unsubscribe"]
        now = timezone.now()
        senders = []
        for s in range(opts["senders"]):
            batches = []
            for b in range(opts["batches"]):
                batches.append(
                    [
                        {
                            "email": f"lead{rng.randint(1, opts['leads'])}@bench.example",
                            "type": rng.choice(keys),
                            "occurred_at": (now - timedelta(seconds=rng.randrange(30 * 86400))).isoformat(),
                            "source": source,
                            "event_id": f"{run}-{s}-{b}-{i}",
                            "properties": {"page": f"/p/{i % 40}"},
                        }
                        for i in range(1000)
                    ]
                )
            senders.append(batches)
        return senders

    def _batches(self, token: str, run: str, opts) -> dict:
        senders = self._bodies(run, opts, source="batch")
        encoded = [[json.dumps(batch).encode() for batch in batches] for batches in senders]
        # Warm up each worker once with a small batch.
        self._post(token, json.dumps(senders[0][0][:10]).replace(run, run + "w").encode())
        deadlocks_before = self._deadlocks()
        latencies: list[float] = []
        failures: list[str] = []
        created = 0
        lock = threading.Lock()

        def send(bodies: list[bytes]) -> None:
            nonlocal created
            for body in bodies:
                started = time.perf_counter()
                status, answer = self._post(token, body)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed * 1000)
                    if status != 200:
                        failures.append(f"{status}: {answer[:300]!r}")
                    else:
                        created += json.loads(answer)["counts"]["created"]

        threads = [threading.Thread(target=send, args=(bodies,)) for bodies in encoded]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        total = opts["senders"] * opts["batches"] * 1000
        result = {
            "seconds": seconds,
            "created": created,
            "total": total,
            "rate": created / seconds,
            "failures": failures,
            "deadlocks": self._deadlocks() - deadlocks_before,
            "p50": statistics.median(latencies),
            "p95": statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else latencies[0],
        }
        self.stdout.write(
            f"  {opts['senders']} senders x {opts['batches']} batches of 1,000: {result['rate']:,.0f} activities/s "
            f"({created:,} of {total:,} created in {seconds:.2f} s; batch p50 {result['p50']:.0f} ms, "
            f"p95 {result['p95']:.0f} ms; {len(failures)} failed; deadlocks {result['deadlocks']})"
        )
        for failure in failures[:3]:
            self.stdout.write(f"    {failure}")
        return result

    def _post(self, token: str, body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=300)
        try:
            conn.request(
                "POST",
                "/api/v1/activities",
                body,
                {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _deadlocks(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            return cursor.fetchone()[0]

    # --- COPY ---------------------------------------------------------------------------------

    def _copy_rate(self, run: str, opts, *, scores: bool) -> float:
        """Rows/s of concurrent 1,000-row COPYs (each committed) into leads_activity, as many as sent.

        With `scores`, each transaction also gives the batch's leads a new score (one UPDATE, in id
        order): the least any ingest must write to answer with updated scores. Its rate over COPY's
        is the ceiling of the ratio the API can reach, whatever the HTTP, JSON and scoring cost.
        """
        import psycopg

        source = "copy+scores" if scores else "copy"
        senders = self._bodies(f"{run}-{source}", opts, source=source)
        ids = dict(Lead.objects.values_list("email", "id"))
        types = dict(ActivityType.objects.values_list("key", "id"))
        now = timezone.now()
        rows = [
            [
                [
                    (ids[a["email"]], types[a["type"]], a["occurred_at"], a["source"], a["event_id"],
                     json.dumps(a["properties"]), now)
                    for a in batch
                ]
                for batch in batches
            ]
            for batches in senders
        ]  # fmt: skip
        params = connection.get_connection_params()
        for name in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(name, None)
        columns = "lead_id, activity_type_id, occurred_at, source, source_event_id, properties, recorded_at"

        def copy(batches) -> None:
            with psycopg.connect(**params) as conn:
                for batch in batches:
                    with conn.transaction(), conn.cursor() as cursor:
                        with cursor.copy(f"COPY leads_activity ({columns}) FROM STDIN") as copy:
                            for row in batch:
                                copy.write_row(row)
                        if scores:
                            leads = sorted({row[0] for row in batch})
                            cursor.execute(
                                "UPDATE leads_lead SET score = score + 1 WHERE id = ANY(%s)", [leads]
                            )

        threads = [threading.Thread(target=copy, args=(batches,)) for batches in rows]
        before = Activity.objects.filter(source=source).count()
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        copied = Activity.objects.filter(source=source).count() - before
        rate = copied / seconds
        self.stdout.write(
            f"  COPY{' + score UPDATE' if scores else ''}, {opts['senders']} connections x {opts['batches']} "
            f"x 1,000 rows: {rate:,.0f} rows/s ({copied:,} rows in {seconds:.2f} s)"
        )
        return rate

    def _single_floor(self, opts) -> float | None:
        """Transactions/s of the least a single-activity request must write: one INSERT, one UPDATE.

        pgbench (a C client, so the client costs next to nothing) from as many connections as wrk
        uses; None without pgbench.
        """
        if not shutil.which("pgbench"):
            self.stdout.write("  (no pgbench: the single-activity floor is not measured)")
            return None
        low, high = Lead.objects.aggregate(low=Min("id"), high=Max("id")).values()
        kind = ActivityType.objects.get(key="web_visit").pk
        script = Path(tempfile.mkdtemp(prefix="leadmatrix-bench-floor-")) / "floor.sql"
        script.write_text(
            f"\\set lead random({low}, {high})\n"
            "BEGIN;\n"
            "INSERT INTO leads_activity (lead_id, activity_type_id, occurred_at, source, source_event_id,"
            f" properties, recorded_at) VALUES (:lead, {kind}, now(), 'floor', md5(random()::text), '{{}}', now());\n"
            "UPDATE leads_lead SET score = score + 1 WHERE id = :lead;\n"
            "END;\n"
        )
        settings_dict = connection.settings_dict
        command = [
            "pgbench", "-n", "-f", str(script), "-c", str(opts["connections"]), "-j", "2",
            "-T", str(opts["seconds"]), "-h", settings_dict["HOST"] or "localhost",
            "-p", str(settings_dict["PORT"] or 5432), "-U", settings_dict["USER"], settings_dict["NAME"],
        ]  # fmt: skip
        env = os.environ | ({"PGPASSWORD": settings_dict["PASSWORD"]} if settings_dict["PASSWORD"] else {})
        output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        tps = float(re.search(r"tps = ([\d.]+)", output).group(1))
        self.stdout.write(
            f"  INSERT one activity + UPDATE its lead's score, pgbench, {opts['connections']} connections: "
            f"{tps:,.0f} transactions/s"
        )
        return tps

    # --- one request in this process -----------------------------------------------------------

    def _in_process(self, token: str, run: str, opts) -> None:
        """Per single-activity request, in this process: CPU time, wall time and database statements.

        Django's test client calls the whole stack (middleware, auth, rate limit, the view, JSON)
        without a server; CPU time is this process's own, the rest of the wall time is waiting for
        PostgreSQL. Statements are counted as Django runs them (BEGIN and COMMIT not included).
        """
        from django.db import reset_queries
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
        leads, count = opts["leads"], opts["in_process"]
        cpu, wall, statements = [], [], []
        for n in range(count + 20):  # the first 20 warm the caches and are not counted
            body = json.dumps(
                {
                    "email": f"lead{(n * 7919) % leads + 1}@bench.example",
                    "type": "web_visit",
                    "occurred_at": timezone.now().isoformat(),
                    "source": "inproc",
                    "event_id": f"{run}-{n}",
                }
            )
            reset_queries()
            with CaptureQueriesContext(connection) as queries:
                c0, w0 = time.process_time(), time.perf_counter()
                response = client.post("/api/v1/activities", body, content_type="application/json")
                c1, w1 = time.process_time(), time.perf_counter()
            if response.status_code != 201:
                raise CommandError(
                    f"in-process request answered {response.status_code}: {response.content[:200]!r}"
                )
            if n >= 20:
                cpu.append((c1 - c0) * 1000)
                wall.append((w1 - w0) * 1000)
                statements.append(len(queries))
        self.stdout.write(
            f"In process, {count} single-activity requests: CPU median {statistics.median(cpu):.2f} ms, "
            f"wall median {statistics.median(wall):.2f} ms (p95 {statistics.quantiles(wall, n=20)[-1]:.2f}), "
            f"statements per request {statistics.median(statements):.0f} (max {max(statements)})"
        )
        self.in_process = {"cpu": statistics.median(cpu), "wall": statistics.median(wall)}

    # --- the table ------------------------------------------------------------------------------

    def _report(self, single, batch, copy_rate, floors, opts) -> None:
        def verdict(ok: bool) -> str:
            return "PASS" if ok else "FAIL"

        self.stdout.write("\nResults")
        if single:
            ratio = single["api"] / single["bare"]
            self.stdout.write(
                f"  single activity: {single['api']:,.0f} req/s vs bare view {single['bare']:,.0f} req/s = "
                f"{ratio:.2f}x  (>= {SINGLE_TARGET}: {verdict(ratio >= SINGLE_TARGET)})"
            )
        self.stdout.write(
            f"  batches of 1,000: {batch['rate']:,.0f} activities/s  (>= {BATCH_TARGET:,}: "
            f"{verdict(batch['rate'] >= BATCH_TARGET)})"
        )
        copy_ratio = batch["rate"] / copy_rate
        self.stdout.write(
            f"  vs COPY {copy_rate:,.0f} rows/s = {copy_ratio:.2f}x  (>= {COPY_TARGET}: {verdict(copy_ratio >= COPY_TARGET)})"
        )
        clean = not batch["failures"] and batch["deadlocks"] == 0 and batch["created"] == batch["total"]
        self.stdout.write(
            f"  {opts['senders']} concurrent overlapping senders: {len(batch['failures'])} failed batches, "
            f"{batch['deadlocks']} deadlocks, {batch['created']:,}/{batch['total']:,} created  ({verdict(clean)})"
        )
        self.stdout.write("\nCeilings: the writes no ingest can skip, alone on the same machine")
        if single and floors["single"]:
            # Both rates use the whole machine, so their costs per request add up.
            ceiling = floors["single"] / (floors["single"] + single["bare"])
            self.stdout.write(
                f"  single activity: bare view + INSERT/UPDATE transaction = at most {ceiling:.2f}x the bare "
                f"view (target {SINGLE_TARGET})"
            )
        ceiling = floors["copy+scores"] / copy_rate
        self.stdout.write(
            f"  batches: COPY + score UPDATE {floors['copy+scores']:,.0f} rows/s = at most {ceiling:.2f}x COPY "
            f"(target {COPY_TARGET}), at most {floors['copy+scores']:,.0f}/s (target {BATCH_TARGET:,})"
        )
