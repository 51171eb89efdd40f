"""Benchmark the queue page against a bare Django template view, served by the same gunicorn.

Run it on PostgreSQL with the data set `bench_scoring` builds (see docs/benchmarks.md). It prints:
- requests per second of a bare template view and of the queue page (first page and deep pages),
  each measured with wrk against gunicorn in the same run, and their ratio (target >= 0.4);
- database time per queue request at each depth, measured in-process (target < 2 ms);
- CPU time per request in-process, bare view and queue pages in turn (context: a ratio that the
  machine's load moves less);
- where the CPU time of a queue request goes (cProfile, top functions by own time).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import re
import shutil
import statistics
import subprocess
import time
import urllib.request
from io import StringIO

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client, override_settings
from django.urls import include, path
from django.views.generic import TemplateView

from config import served
from config.roles import SALES_MANAGER
from leads.models import Lead
from leads.selectors import _cursor

PORT = 8765

# The in-process figures need the bare view too, which config.urls serves only with
# LEADMATRIX_BENCH_ROUTES=1 (as the gunicorn below runs): the same routes, with it added.
urlpatterns = [
    path("bench/bare/", TemplateView.as_view(template_name="bench/bare.html")),
    path("", include("config.urls")),
]


class Command(BaseCommand):
    help = "Queue page speed against a bare template view on the same gunicorn (PostgreSQL, needs wrk)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--seconds", type=int, default=8, help="wrk seconds per URL and round (default 8)."
        )
        parser.add_argument(
            "--rounds",
            type=int,
            default=4,
            help="Rounds over all URLs, in turn (default 4): on a shared machine the load drifts, and "
            "measuring each page in every round spreads the drift over all of them.",
        )
        parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8).")
        parser.add_argument(
            "--workers", type=int, default=2, help="gunicorn workers (default 2, one per core)."
        )

    def handle(self, *args, seconds: int, rounds: int, connections: int, workers: int, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_queue measures PostgreSQL: set DATABASE_URL to the bench database.")
        if not shutil.which("wrk"):
            raise CommandError(
                "bench_queue drives the server with wrk: install it with 'apt-get install -y wrk'."
            )
        in_queue = Lead.objects.in_queue().count()
        if in_queue < 1000:
            raise CommandError(
                f"Only {in_queue} leads are in the queue; build the data set with bench_scoring first."
            )
        self.stdout.write(
            f"Leads: {Lead.objects.count():,}, in the queue: {in_queue:,}; {os.cpu_count()} CPUs, "
            f"load average {_load()} at the start"
        )
        with connection.cursor() as cursor:
            # Statistics for the queue index's expression, as autovacuum would gather after a migration.
            cursor.execute("ANALYZE leads_lead")

        user = self._manager()
        client = Client()
        client.force_login(user)
        cookie = f"sessionid={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        urls = {"bare template view": "/bench/bare/", "queue, first page": "/leads/queue/"}
        for share in (0.5, 0.99):
            urls[f"queue, page at {share:.0%} depth"] = (
                f"/leads/queue/?after={self._cursor_at(in_queue, share)}"
            )

        # In-process figures run as production does in this respect: without the debug cursor that
        # keeps every query's SQL (the settings were read with DEBUG on, for the test client's host).
        with override_settings(DEBUG=False, ROOT_URLCONF=__name__):
            db_ms = {name: self._db_time(client, url) for name, url in urls.items() if "queue" in name}
            cpu_ms = self._cpu_time(client, urls)
        rps = self._serve_and_measure(
            urls, cookie, seconds=seconds, rounds=rounds, connections=connections, workers=workers
        )
        with override_settings(DEBUG=False, ROOT_URLCONF=__name__):
            self._profile(client, urls["queue, first page"])

        bare = rps["bare template view"]
        bare_cpu = cpu_ms["bare template view"]
        self.stdout.write("\nResults")
        self.stdout.write(
            f"  {'page':<30} {'req/s':>7} {'× bare':>7} {'DB ms median':>13} {'DB ms p10':>10} "
            f"{'CPU ms':>7} {'CPU × bare':>11}"
        )
        for name, value in rps.items():
            ratio = value / bare if bare else 0
            median, p10 = (f"{x:.2f}" for x in db_ms[name]) if name in db_ms else ("—", "—")
            self.stdout.write(
                f"  {name:<30} {value:>7.0f} {ratio:>7.2f} {median:>13} {p10:>10} "
                f"{cpu_ms[name]:>7.2f} {bare_cpu / cpu_ms[name]:>11.2f}"
            )
        worst_ratio = min(v / bare for k, v in rps.items() if "queue" in k)
        worst_db = max(median for median, _ in db_ms.values())
        self.stdout.write(
            f"\nQueue at >= 0.4× bare: {'PASS' if worst_ratio >= 0.4 else 'FAIL'} ({worst_ratio:.2f})"
        )
        self.stdout.write(
            f"DB time < 2 ms at every depth: {'PASS' if worst_db < 2 else 'FAIL'} ({worst_db:.2f} ms)"
        )
        self.stdout.write(
            "(DB ms p10 and the CPU columns are context, not the targets: the tenth percentile of a "
            "request's database time is what it costs when no neighbour holds the CPU; CPU ms is the "
            "median process time of a request in-process, without gunicorn and wrk, bare first and the "
            "pages in turn, so its ratio moves less with the machine's load.)"
        )
        self.stdout.write(f"Load average at the end: {_load()}")

    def _manager(self) -> User:
        user, _ = User.objects.get_or_create(username="bench-manager", defaults={"first_name": "Bench"})
        user.groups.add(Group.objects.get(name=SALES_MANAGER))
        return user

    def _cursor_at(self, in_queue: int, share: float) -> str:
        """The keyset cursor just before the lead at that share of the queue (OFFSET once, in setup)."""
        lead = Lead.objects.in_queue().queue_order()[int(in_queue * share)]
        return _cursor(lead)

    def _db_time(self, client: Client, url: str, requests: int = 50) -> tuple[float, float]:
        """Milliseconds spent in SQL per request, measured around every query: median and p10."""
        spent: list[float] = []

        def timer(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                spent[-1] += time.perf_counter() - started

        for _ in range(5):
            client.get(url)
        with connection.execute_wrapper(timer):
            for _ in range(requests):
                spent.append(0.0)
                response = client.get(url)
                if response.status_code != 200:
                    raise CommandError(f"{url} answered {response.status_code}")
        return statistics.median(spent) * 1000, statistics.quantiles(spent, n=10)[0] * 1000

    def _cpu_time(self, client: Client, urls: dict, rounds: int = 200) -> dict[str, float]:
        """Median CPU milliseconds of a request in this process, every page in turn in each round."""
        spent: dict[str, list[float]] = {name: [] for name in urls}
        for url in urls.values():
            for _ in range(10):
                client.get(url)
        for _ in range(rounds):
            for name, url in urls.items():
                started = time.process_time()
                client.get(url)
                spent[name].append(time.process_time() - started)
        return {name: statistics.median(times) * 1000 for name, times in spent.items()}

    def _serve_and_measure(
        self, urls: dict, cookie: str, *, seconds: int, rounds: int, connections: int, workers: int
    ) -> dict:
        server = served.start(
            port=PORT, workers=workers, ready="/bench/bare/", env={"LEADMATRIX_BENCH_ROUTES": "1"}
        )
        try:
            self._check_session(cookie)
            for url in urls.values():  # warm up every page once (caches, connections)
                self._wrk(f"http://127.0.0.1:{PORT}{url}", cookie, seconds=3, connections=connections)
            done = {name: [0, 0.0] for name in urls}  # requests, seconds
            names = list(urls)
            for number in range(1, rounds + 1):
                # Each round starts one page later, so no page is always measured last in a round.
                for name in names[number - 1 :] + names[: number - 1]:
                    url = urls[name]
                    target = f"http://127.0.0.1:{PORT}{url}"
                    count, took = self._wrk(target, cookie, seconds=seconds, connections=connections)
                    done[name][0] += count
                    done[name][1] += took
                    self.stdout.write(f"  round {number}, {name}: {count / took:.0f} req/s (load {_load()})")
            return {name: count / took for name, (count, took) in done.items()}
        finally:
            served.stop(server)

    def _check_session(self, cookie: str) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{PORT}/leads/queue/", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.url.rstrip("/").split(f":{PORT}")[-1] != "/leads/queue":
                raise CommandError(
                    f"The signed-in queue request was sent to {response.url}: the session did not hold."
                )

    def _wrk(self, url: str, cookie: str, *, seconds: int, connections: int) -> tuple[int, float]:
        """Requests wrk completed and the seconds it took (all answered 2xx, or the command stops)."""
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"Cookie: {cookie}", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if "Non-2xx" in out:
            raise CommandError(f"{url} answered errors under load:\n{out}")
        match = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", out)
        if not match:
            raise CommandError(f"Could not read wrk's output:\n{out}")
        scale = {"ms": 0.001, "s": 1, "m": 60}[match.group(3)]
        return int(match.group(1)), float(match.group(2)) * scale

    def _profile(self, client: Client, url: str, requests: int = 100) -> None:
        # CPU time, not wall time: on a shared machine waits for the database say more about the
        # neighbours than about this code.
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(requests):
            client.get(url)
        profiler.disable()
        out = StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
        self.stdout.write(
            f"\nWhere a queue request spends its CPU time ({requests} requests, in-process, by own time):"
        )
        self.stdout.write(out.getvalue().split("\n", 6)[-1][:4000])


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
