"""Small strict readers for settings from the environment.

Each reader fails with `SettingsError`, whose message is one sentence that says what to set; the
entry points (manage.py, wsgi) print that sentence instead of a traceback.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ImproperlyConfigured):
    """A setting is missing or malformed; the message says which and how to fix it."""


def env_str(name: str, default: str | None = None) -> str | None:
    """Return NAME, or the contents of the file named by NAME_FILE (for secrets), or default."""
    if path := os.environ.get(f"{name}_FILE"):
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise SettingsError(
                f"{name}_FILE points at {path!r}, which cannot be read ({exc.strerror})."
            ) from None
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """Return NAME as a boolean; anything but 1/0, true/false, yes/no, on/off is refused."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SettingsError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """Return NAME as an integer (at least `minimum` when given)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number; got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}; got {value}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Return NAME split on commas, blanks dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str, *, pool: bool) -> dict:
    """Turn DATABASE_URL into a DATABASES entry; only sqlite and postgres URLs are accepted."""
    import dj_database_url

    scheme = url.split(":", 1)[0].lower()
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise SettingsError(
            f"DATABASE_URL must start with sqlite:/// or postgres:// (got {scheme or 'nothing'!r}); "
            "for example postgres://postgres@127.0.0.1:5432/leadmatrix."
        )
    try:
        config = dj_database_url.parse(url)
    except ValueError as exc:
        raise SettingsError(f"DATABASE_URL cannot be read: {exc}.") from None
    if config["ENGINE"] == "django.db.backends.postgresql":
        if not config.get("NAME"):
            raise SettingsError(
                "DATABASE_URL names no database; add one after the host, e.g. .../leadmatrix."
            )
        options = config.setdefault("OPTIONS", {})
        if pool:
            # Django 6 keeps a psycopg pool per process; it replaces CONN_MAX_AGE.
            options["pool"] = {"min_size": 1, "max_size": 8, "timeout": 10}
            config["CONN_MAX_AGE"] = 0
            # Django then hands the pool psycopg's check_connection: a connection that died (e.g. in
            # a PostgreSQL restart) is replaced when taken from the pool instead of failing a
            # request; it costs an empty round trip per checkout (docs/reliability.md has figures).
            config["CONN_HEALTH_CHECKS"] = True
    else:
        config.setdefault("OPTIONS", {})
        # WAL and a busy timeout let the web process and an inline task share the file.
        config["OPTIONS"].update(
            {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
        )
    config["ATOMIC_REQUESTS"] = False
    return config


def describe_database() -> str:
    """Name the configured database without its password, for error messages."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"SQLite file {db['NAME']}"
    return f"PostgreSQL {db.get('USER') or ''}@{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"
