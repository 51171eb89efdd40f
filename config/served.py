"""The project served by gunicorn with production settings, for the benchmark, load and fault commands.

Each of them measures the app as it runs in production (`DEBUG=0`, hashed static files, gunicorn's
sync workers) on a port of its own, and stops the server when it is done, even after an error.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError


def start(
    *, port: int, workers: int, ready: str = "/api/v1/openapi.json", env: dict | None = None,
    log_level: str = "warning",
) -> subprocess.Popen:  # fmt: skip
    """Start gunicorn in a session of its own (so `stop` ends its workers too); return once `ready` answers."""
    static = {"STATIC_ROOT": tempfile.mkdtemp(prefix="leadmatrix-served-static-")}
    env = production_env(log_level) | static | (env or {})
    # Production settings serve hashed static files, which need collectstatic first.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
        cwd=settings.BASE_DIR, env=env, check=True,
    )  # fmt: skip
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "config.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", log_level],
        cwd=settings.BASE_DIR, env=env, start_new_session=True,
    )  # fmt: skip
    for _ in range(150):  # 30 s
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("GET", ready)
            if conn.getresponse().status < 500:
                return process
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    stop(process)
    raise CommandError("gunicorn did not start; run it by hand to see why.")


def production_env(log_level: str = "warning") -> dict[str, str]:
    """This process's environment with production settings, for a server or worker started beside it."""
    return os.environ | {
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,  # session cookies signed by the caller must hold
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": log_level.upper(),
    }


def stop(process: subprocess.Popen) -> None:
    """Stop gunicorn and its workers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    process.wait(timeout=30)


@contextmanager
def serving(**options):
    """`start` for the length of a `with` block."""
    process = start(**options)
    try:
        yield process
    finally:
        stop(process)


def workers_of(pid: int) -> list[int]:
    """A gunicorn master's worker processes, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def rss_kb(pid: int) -> int:
    """A process's resident memory in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
