"""Measure the audit chain: the cost of appending an entry, and how fast `verify_audit` walks the chain.

Entries are committed one transaction each, as requests write them, so run it against a scratch
database (on PostgreSQL they can never be removed again): it refuses a chain that holds real entries.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from config.audit.chain import record, verify_chain
from config.audit.models import AuditEntry


class Command(BaseCommand):
    help = "Time appending audit entries and verifying the chain (scratch databases only)."

    def add_arguments(self, parser):
        parser.add_argument("--entries", type=int, default=5000)

    def handle(self, *args, entries: int, **options):
        if AuditEntry.objects.exclude(action__startswith="bench.").exists():
            raise CommandError(
                "This database's audit chain holds real entries; run the benchmark against a scratch "
                "database, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadmatrix_bench."
            )
        out = self.stdout.write
        out(f"database: {connection.vendor} {connection.settings_dict['NAME']}, "
            f"{AuditEntry.objects.count()} entries already")  # fmt: skip
        timings = []
        for i in range(entries):
            started = time.perf_counter()
            with transaction.atomic():
                record(actor="bench", action="bench.change", object_type="bench.row", object_id=str(i),
                       before={"points": 15, "revision": 3}, after={"points": i, "revision": 4},
                       reason="benchmark")  # fmt: skip
            timings.append(time.perf_counter() - started)
        timings.sort()
        total = sum(timings)
        out(f"append: {entries} entries, one transaction each, in {total:.2f} s: "
            f"mean {total / entries * 1000:.2f} ms, p50 {timings[len(timings) // 2] * 1000:.2f} ms, "
            f"p95 {timings[int(len(timings) * 0.95)] * 1000:.2f} ms")  # fmt: skip
        started = time.perf_counter()
        report = verify_chain()
        walked = time.perf_counter() - started
        out(f"verify: {report.checked} entries in {walked:.2f} s = {report.checked / walked:,.0f} entries/s "
            f"({'intact' if report.intact else 'BROKEN at #' + str(report.broken.seq)})")  # fmt: skip
