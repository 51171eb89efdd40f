"""Measure on PostgreSQL how rescoring keeps up: floors, full rescores, memory, latency, reads."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from scoring import bench

RATIO_TARGET = 2.0
MEMORY_TARGET = 1.2
MEDIAN_TARGET_MS = 5.0
BLOCKED_MS = 100.0
STEPS = ["floors", "rescore", "memory", "incremental", "reads"]


class Command(BaseCommand):
    help = (
        "Benchmark rescoring on PostgreSQL and print the figures. It EMPTIES the leads, activities "
        "and transitions (and tables that reference leads) of the database it runs on, so it runs "
        "only on a dedicated database whose name contains 'bench'."
    )

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=1_000_000, help="Leads to generate.")
        parser.add_argument(
            "--activities-per-lead", type=int, default=20, help="Activities per lead (1-999)."
        )
        parser.add_argument("--small-leads", type=int, default=10_000, help="Leads in the small memory run.")
        parser.add_argument(
            "--reuse",
            action="store_true",
            help="Keep the data when the tables hold exactly that many leads and activities.",
        )
        parser.add_argument(
            "--steps",
            default=",".join(STEPS),
            help=f"Comma-separated steps to run (default all: {','.join(STEPS)}).",
        )
        parser.add_argument("--calls", type=int, default=1000, help="record_activity calls.")
        parser.add_argument(
            "--read-seconds", type=float, default=5.0, help="Seconds of reads with nothing running."
        )
        parser.add_argument("--batch-size", type=int, help="rescore_all batch size.")
        parser.add_argument(
            "--workers", type=int, help="Batches rescored side by side (default: RESCORE_WORKERS)."
        )
        parser.add_argument("--seed", type=int, default=20261123, help="Seed for random picks.")
        parser.add_argument(
            "--pg-set",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A PostgreSQL setting for the rescoring batch SELECT only, as a SET LOCAL in "
            "run_batch would give it, to measure a proposed fix (repeatable, e.g. --pg-set "
            "jit=off). Without it the code is measured as it is.",
        )
        # Internal: one timed rescore_all in this (fresh) process, reported as a JSON line.
        parser.add_argument("--rescore-only", action="store_true", help="(internal)")
        parser.add_argument("--now", help="(internal) ISO time for --rescore-only.")
        parser.add_argument("--cause", default="publish", help="(internal)")
        parser.add_argument("--start-after", type=int, default=0, help="(internal)")

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench_scoring measures PostgreSQL only; set DATABASE_URL to a dedicated "
                "postgres:// database."
            )
        name = str(connection.settings_dict["NAME"])
        if "bench" not in name:
            raise CommandError(
                f"bench_scoring empties the lead tables, so it runs only on a database whose name "
                f"contains 'bench' (this one is {name!r})."
            )
        # Production runs with DEBUG off; with it on, Django keeps the SQL of every query in
        # memory, which grows with the number of batches and would distort the memory figures.
        settings.DEBUG = False
        pairs = [item.partition("=") for item in opts["pg_set"]]
        if any(not name or not value for name, _, value in pairs):
            raise CommandError("--pg-set takes NAME=VALUE, e.g. --pg-set jit=off.")
        opts["pg_settings"] = [(name.strip(), value.strip()) for name, _, value in pairs]
        if opts["pg_settings"]:
            # The settings wrap this process's one connection; side-by-side batches use others.
            opts["workers"] = 1
        if opts["rescore_only"]:
            return self.rescore_only(opts)
        steps = [s.strip() for s in opts["steps"].split(",") if s.strip()]
        unknown = sorted(set(steps) - set(STEPS))
        if unknown:
            raise CommandError(f"Unknown step {unknown[0]!r}; choose from {', '.join(STEPS)}.")
        if not 1 <= opts["activities_per_lead"] <= 999:
            raise CommandError("--activities-per-lead must be between 1 and 999.")
        if not 0 < opts["small_leads"] < opts["leads"]:
            raise CommandError("--small-leads must be more than 0 and fewer than --leads.")
        Run(self, opts, steps).go()

    def rescore_only(self, opts) -> None:
        """Time one rescore_all in this process and print what it cost as a JSON line."""
        from scoring.models import ScoringMatrix
        from scoring.rescore import rescore_all

        matrix = ScoringMatrix.objects.active()
        rss_before = bench.current_rss_kb()
        self.stdout.write(bench.STARTED_LINE)
        self.stdout.flush()
        with connection.execute_wrapper(bench.batch_select_settings(opts["pg_settings"])):
            report = rescore_all(
                cause=opts["cause"],
                now=datetime.fromisoformat(opts["now"]),
                matrix=matrix,
                batch_size=opts["batch_size"],
                workers=opts["workers"],
                start_after=opts["start_after"],
            )
        result = {
            "seconds": report.seconds,
            "leads": report.leads,
            "changed": report.changed,
            "transitions": report.transitions,
            "batches": report.batches,
            "maxrss_kb": bench.peak_rss_kb(),
            "rss_before_kb": rss_before,
        }
        self.stdout.write(bench.RESULT_PREFIX + json.dumps(result))


class Run:
    """One benchmark run: the steps in order, then the summary table."""

    def __init__(self, command: Command, opts: dict, steps: list[str]):
        self.command = command
        self.opts = opts
        self.steps = steps
        self.n = opts["leads"]
        self.m = opts["activities_per_lead"]
        self.batch_size = opts["batch_size"] or settings.LEADMATRIX["RESCORE_BATCH_SIZE"]
        self.workers = opts["workers"] or settings.LEADMATRIX["RESCORE_WORKERS"]
        self.pg_settings = opts["pg_settings"]
        self.rows: list[tuple[str, str, str]] = []  # (figure, value, target and verdict)
        self.floor_seconds: tuple[float, float] | None = None
        self.full: bench.ChildResult | None = None
        self.unscored = False  # every lead as before a first publication

    def say(self, text: str) -> None:
        self.command.stdout.write(text)
        self.command.stdout.flush()

    def row(self, figure: str, value: str, note: str = "") -> None:
        self.rows.append((figure, value, note))

    def go(self) -> None:
        facts = bench.server_facts()
        self.say(
            f"PostgreSQL {facts['server_version']} (shared_buffers {facts['shared_buffers']}, "
            f"work_mem {facts['work_mem']}, jit {facts['jit']}); {os.cpu_count()} CPUs, load "
            f"average {load()}; code {bench.code_fingerprint()}; {self.n:,} leads x {self.m} "
            f"activities; batch size {self.batch_size:,}, {self.workers} worker(s); steps {','.join(self.steps)}."
        )
        if self.pg_settings:
            self.say(
                f"WHAT-IF: the rescoring batch SELECT runs with "
                f"{bench.describe_settings(self.pg_settings)}, set just before it and restored just "
                f"after it."
            )
        self.data()
        self.now = bench.anchor_time()
        self.later = self.now + timedelta(days=1)
        for step in STEPS:
            if step in self.steps:
                getattr(self, step)()
        self.say(f"\nLoad average at the end: {load()}.")
        if self.pg_settings:
            self.say(f"What-if for the batch SELECT: {bench.describe_settings(self.pg_settings)}.")
        width = max(len(r[0]) for r in self.rows)
        for figure, value, note in self.rows:
            self.say(f"{figure:<{width}}  {value:>18}  {note}")

    def data(self) -> None:
        """Generate the data set, or reuse it and make every lead unscored again."""
        n, m = self.n, self.m
        bench.delete_incremental_activities()
        if self.opts["reuse"] and bench.table_counts() == (n, n * m) and bench.anchor_time():
            self.say("Reusing the existing data; every lead unscored again.")
            bench.reset_scores()
            # Compact the table as freshly generated data is: with the free space the reset left,
            # the no-op UPDATE floor could stay on its pages (HOT) and look cheaper than it is.
            bench.execute("VACUUM FULL leads_lead")
            bench.vacuum("leads_lead", "leads_transition", analyze=True)
            self.row("data generation", "reused")
            self.unscored = True
            return
        self.say(f"Generating {n:,} leads and {n * m:,} activities ...")

        def progress(done: int) -> None:
            if done % 200_000 == 0:
                self.say(f"  {done:,} leads")

        anchor = timezone.now().replace(microsecond=0)
        seconds = bench.timed(lambda: bench.generate(leads=n, per_lead=m, anchor=anchor, progress=progress))
        vacuum = bench.vacuum("leads_lead", "leads_activity", "leads_transition", analyze=True)
        self.say(f"Generated in {seconds:.1f} s; VACUUM ANALYZE {vacuum:.1f} s.")
        self.row("data generation (INSERT ... SELECT)", f"{seconds:.1f} s")
        self.row("VACUUM ANALYZE after generation", f"{vacuum:.1f} s")
        self.unscored = True

    def floors(self) -> None:
        """What the database needs at least: read every activity once, write every lead once."""
        group_by = bench.time_group_by()
        self.say(f"Floor: GROUP BY lead_id over all activities {group_by:.2f} s.")
        update = bench.time_noop_update()
        vacuum = bench.vacuum("leads_lead")
        self.say(f"Floor: no-op UPDATE of every lead {update:.2f} s (VACUUM after: {vacuum:.1f} s).")
        self.row("floor: GROUP BY lead_id", f"{group_by:.2f} s")
        self.row("floor: no-op UPDATE of all leads", f"{update:.2f} s")
        self.floor_seconds = (group_by, update)

    def full_rescore(self) -> bench.ChildResult:
        """rescore_all over every (unscored) lead in a fresh process, as a first publication."""
        if self.full is None:
            if not self.unscored:
                bench.reset_scores()
                bench.vacuum("leads_lead", "leads_transition", analyze=True)
            bench.checkpoint()
            self.full = bench.rescore_in_child(
                now=self.now,
                cause="publish",
                batch_size=self.batch_size,
                workers=self.workers,
                pg_settings=self.pg_settings,
            )
            full = self.full
            self.unscored = False
            self.say(
                f"Full rescore (publish, every lead unscored before): {full.seconds:.2f} s, "
                f"{full.leads:,} leads, {full.changed:,} written, {full.transitions:,} "
                f"transitions, {full.batches} batches."
            )
            self.row("full rescore, publish (every lead written)", f"{full.seconds:.2f} s")
            if self.floor_seconds:
                ratio = full.seconds / sum(self.floor_seconds)
                self.say(f"Ratio full rescore / (GROUP BY + UPDATE): {ratio:.2f}.")
                ok = verdict(ratio <= RATIO_TARGET, f"<= {RATIO_TARGET}")
                self.row("ratio rescore / (GROUP BY + UPDATE)", f"{ratio:.2f}", ok)
            bench.vacuum("leads_lead", "leads_transition", analyze=True)
        return self.full

    def rescore(self) -> None:
        from scoring.rescore import rescore_all

        self.full_rescore()
        bench.checkpoint()
        with connection.execute_wrapper(bench.batch_select_settings(self.pg_settings)):
            same = rescore_all(
                cause="publish", now=self.now, batch_size=self.batch_size, workers=self.workers
            )
        self.say(f"Rescore again at the same now: {same.seconds:.2f} s, {same.changed:,} written.")
        self.row("rescore again, same now", f"{same.seconds:.2f} s", f"{same.changed:,} written")

        bench.checkpoint()
        with connection.execute_wrapper(bench.batch_select_settings(self.pg_settings)):
            decay = rescore_all(
                cause="decay", now=self.later, batch_size=self.batch_size, workers=self.workers
            )
        self.say(
            f"Decay refresh at now + 1 day: {decay.seconds:.2f} s, {decay.changed:,} written, "
            f"{decay.transitions:,} transitions."
        )
        self.row("decay refresh, now + 1 day", f"{decay.seconds:.2f} s", f"{decay.changed:,} written")
        bench.vacuum("leads_lead", "leads_transition")

    def memory(self) -> None:
        """Peak RSS of the full rescore against the same rescore of the last small-leads leads."""
        full = self.full_rescore()
        start_after = bench.lead_id_range()[1] - self.opts["small_leads"]
        bench.reset_scores(start_after=start_after)
        bench.vacuum("leads_lead")
        small = bench.rescore_in_child(
            now=self.later,
            cause="publish",
            start_after=start_after,
            batch_size=self.batch_size,
            workers=self.workers,
            pg_settings=self.pg_settings,
        )
        ratio = full.maxrss_kb / small.maxrss_kb
        self.say(
            f"Peak RSS (ru_maxrss of a fresh process): {full.leads:,} leads {mib(full.maxrss_kb)}, "
            f"{small.leads:,} leads {mib(small.maxrss_kb)} ({small.seconds:.2f} s); ratio "
            f"{ratio:.2f}. RSS just before rescore_all: {mib(full.rss_before_kb)} and "
            f"{mib(small.rss_before_kb)}."
        )
        self.row(f"peak RSS, rescore of {full.leads:,} leads", mib(full.maxrss_kb))
        self.row(f"peak RSS, rescore of {small.leads:,} leads", mib(small.maxrss_kb))
        target = f"<= {MEMORY_TARGET}"
        self.row("ratio of peak RSS", f"{ratio:.2f}", verdict(ratio <= MEMORY_TARGET, target))

    def incremental(self) -> None:
        """record_activity for random existing leads, one transaction each."""
        bench.delete_incremental_activities()
        ms = bench.incremental_latencies(calls=self.opts["calls"], now=self.later, seed=self.opts["seed"])
        med, p95, p99 = bench.median(ms), bench.percentile(ms, 95), bench.percentile(ms, 99)
        self.say(
            f"record_activity x {len(ms)}: median {med:.2f} ms, p95 {p95:.2f} ms, "
            f"p99 {p99:.2f} ms, max {max(ms):.2f} ms."
        )
        target = f"< {MEDIAN_TARGET_MS:g} ms"
        self.row("record_activity median", f"{med:.2f} ms", verdict(med < MEDIAN_TARGET_MS, target))
        self.row("record_activity p95 / p99", f"{p95:.2f} / {p99:.2f} ms")

    def reads(self) -> None:
        """Queue and grade reads with nothing running, then during a rescore writing every lead."""
        idle = bench.idle_reads(seconds=self.opts["read_seconds"])
        bench.reset_scores()
        bench.vacuum("leads_lead", "leads_transition", analyze=True)
        bench.checkpoint()
        busy = bench.Reads()
        loaded = bench.rescore_in_child(
            now=self.later,
            cause="publish",
            batch_size=self.batch_size,
            workers=self.workers,
            pg_settings=self.pg_settings,
            while_running=lambda done: bench.read_loop(busy, done),
        )
        slow = sum(1 for ms in busy.all() if ms > BLOCKED_MS)
        for label, reads in (("idle", idle), ("during rescore", busy)):
            self.say(
                f"Reads {label}: {len(reads.all())} reads; queue p95 {p95(reads.queue_ms)} "
                f"max {top(reads.queue_ms)}; grade/bucket/score p95 {p95(reads.grade_ms)} "
                f"max {top(reads.grade_ms)}."
            )
        self.say(
            f"Full rescore with the reader running: {loaded.seconds:.2f} s; {slow} reads took over "
            f"{BLOCKED_MS:g} ms; {busy.lock_waits} waited over {BLOCKED_MS:g} ms for a lock."
        )
        self.row("queue read idle, p95 / max", f"{p95(idle.queue_ms)} / {top(idle.queue_ms)}")
        self.row("queue read in rescore, p95 / max", f"{p95(busy.queue_ms)} / {top(busy.queue_ms)}")
        self.row("grade read in rescore, p95 / max", f"{p95(busy.grade_ms)} / {top(busy.grade_ms)}")
        self.row(f"reads over {BLOCKED_MS:g} ms in rescore", f"{slow} of {len(busy.all())}")
        self.row(
            f"reads blocked by a lock > {BLOCKED_MS:g} ms",
            str(busy.lock_waits),
            verdict(busy.lock_waits == 0, "none"),
        )
        self.row("full rescore while reading", f"{loaded.seconds:.2f} s")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def verdict(passed: bool, target: str) -> str:
    return f"target {target}: {'PASS' if passed else 'FAIL'}"


def mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MiB"


def p95(values: list[float]) -> str:
    return f"{bench.percentile(values, 95):.2f} ms"


def top(values: list[float]) -> str:
    return f"{max(values):.2f} ms" if values else "-"
