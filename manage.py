#!/usr/bin/env python
"""Django's command-line utility for Leadmatrix."""

import os
import sys

if sys.version_info < (3, 12):  # noqa: UP036 - this check is for people who run it with an older python3
    sys.exit(
        f"Leadmatrix needs Python 3.12 or newer (Django 6), but this is Python {sys.version.split()[0]}: "
        "use `make demo` / `make test`, or `.venv/bin/python manage.py ...`."
    )


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - read now so a bad setting fails here, readably
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.exit(f"Leadmatrix cannot start: {exc}")
    except OperationalError as exc:
        from config.env import describe_database

        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        sys.exit(
            f"Leadmatrix cannot reach its database ({describe_database()}): {reason}. Check DATABASE_URL."
        )


if __name__ == "__main__":
    main()
