"""Benchmark: write a messy lead file of N rows, import it, print seconds and peak memory.

Each size runs in a fresh process, so the peak resident memory it reports belongs to that import
alone; the same file is then imported a second time (every row a duplicate).
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand

from leads.imports.models import ImportJob
from leads.imports.run import create_import, run_import, start_import

HEADER = [
    "E-Mail", "First Name", "Last Name", "Company", "Job Title", "Seniority", "Employees",
    "Annual Revenue", "Country", "Lead Source", "Visits", "Time on site", "Last activity", "Notes", "Converted",
]  # fmt: skip
PLACEHOLDERS = ["", "N/A", "Select", "-", "null"]
SENIORITY = ["VP", "Director", "Manager", "Staff", "Student", "C-Level", "Select", ""]
DATES = ["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y %H:%M", "%d %b %Y", "%Y-%m-%dT%H:%M:%SZ"]


def messy_row(rng: random.Random, tag: str, n: int) -> list[str]:
    def maybe(value: str) -> str:
        return rng.choice(PLACEHOLDERS) if rng.random() < 0.15 else value

    email = f"Lead{n}.{tag}@Example.org" if rng.random() > 0.01 else f"broken-{n}"  # 1% bad emails
    employees = rng.choice([5, 40, 250, 1200, 18000])
    revenue = rng.randrange(1000, 2_000_000)
    day = f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d} 10:{rng.randrange(60):02d}"
    when = time.strftime(rng.choice(DATES), time.strptime(day, "%Y-%m-%d %H:%M"))
    note = rng.choice(["", "Met at the fair;\nwants a call", '=HYPERLINK("x")', "Prefers e-mail, not phone"])
    return [
        email,
        maybe(rng.choice(["Ann", "Bo", "Chloé", "Dmitri", "Eve"])),
        maybe(rng.choice(["Lee", "Müller", "O'Brien", "Nakamura"])),
        maybe(rng.choice(["Acme", "Initech", "Globex, Inc.", "Umbrella"])),
        maybe(rng.choice(["CTO", "Head of IT", "Marketing Manager", "Analyst"])),
        rng.choice(SENIORITY),
        maybe(f"{employees:,}".replace(",", rng.choice([",", ".", " "]))),
        maybe(f"{revenue:,}"),
        maybe(rng.choice(["Germany", "France", "United States", "Japan"])),
        maybe(rng.choice(["Webinar", "Trade fair", "Website", "Partner"])),
        str(rng.randrange(0, 40)),
        maybe(f"{rng.randrange(0, 3000) / 10:.1f}".replace(".", ",")),
        maybe(when),
        note,
        rng.choice(["0", "0", "0", "1"]),
    ]


def write_file(path: Path, rows: int, tag: str) -> None:
    """A UTF-8 file with a byte-order mark, `;`-separated, CRLF, quoted newlines, placeholders."""
    import csv

    rng = random.Random(rows)
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        for n in range(rows):
            writer.writerow(messy_row(rng, tag, n))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Import messy lead files of several sizes; print seconds and peak memory for each."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, nargs="+", default=[5000, 50000])
        parser.add_argument("--child", type=int, help="internal: run one size in this process")
        parser.add_argument(
            "--trace",
            action="store_true",
            help="also trace Python allocations (tracemalloc): slower, but shows what Python itself holds",
        )

    def handle(self, *args, rows, child, trace, **options):
        if child:
            if trace:
                tracemalloc.start()
            self.stdout.write(json.dumps(self.one(child)))
            return
        self.stdout.write(
            f"{'rows':>7} {'MB':>5} {'first import':>13} {'CPU':>7} {'rows/s':>7} {'again':>7} "
            f"{'peak RSS':>9} {'before':>7} {'load':>5}"
        )
        for n in rows:
            result = subprocess.run(
                [
                    sys.executable,
                    sys.argv[0],
                    "bench_import",
                    "--child",
                    str(n),
                    *(["--trace"] if trace else []),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(result.stdout.strip().splitlines()[-1])
            self.stdout.write(
                f"{n:>7} {r['file_mb']:>5.1f} {r['seconds']:>12.1f}s {r['cpu']:>6.1f}s {n / r['seconds']:>7.0f} "
                f"{r['again_seconds']:>6.1f}s {r['peak_mb']:>7.0f}MB {r['start_mb']:>5.0f}MB {r['load']:>5.1f}   "
                f"created {r['created']}, rejected {r['rejected']}, again: duplicate {r['again_duplicate']}"
                + (f", Python heap peak {r['python_peak_mb']:.1f}MB" if trace else "")
            )

    def one(self, rows: int) -> dict:
        # As in production: with DEBUG on, Django keeps the last 9,000 queries' SQL in memory.
        settings.DEBUG = False
        tag = f"{int(time.time())}x{rows}"
        with tempfile.TemporaryDirectory(prefix="leadmatrix-bench-") as tmp:
            path = Path(tmp) / f"leads-{rows}.csv"
            write_file(path, rows, tag)
            start_mb = peak_mb()
            started, cpu_started = time.perf_counter(), time.process_time()
            job = self.run(path)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            again_started = time.perf_counter()
            again = self.run(path)
            again_seconds = time.perf_counter() - again_started
            return {
                "file_mb": path.stat().st_size / 1e6,
                "seconds": seconds,
                "cpu": cpu,
                "load": os.getloadavg()[0],
                "again_seconds": again_seconds,
                "start_mb": start_mb,
                "peak_mb": peak_mb(),
                "created": job.created,
                "rejected": job.rejected,
                "again_duplicate": again.duplicate,
                "python_peak_mb": tracemalloc.get_traced_memory()[1] / 1e6 if tracemalloc.is_tracing() else 0,
            }

    def run(self, path: Path) -> ImportJob:
        with open(path, "rb") as handle:
            job = create_import(upload=File(handle, name=path.name), kind=ImportJob.Kind.LEADS, by=None)
        start_import(job=job, enqueue=False)
        return run_import(job.pk)
