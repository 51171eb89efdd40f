"""Real-browser tests: Playwright driving Debian's Chromium against pytest-django's live server."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls in these tests are
# synchronous and safe there. This is set for the test run only, never in the app's settings.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("LEADMATRIX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


# Every browser test needs real commits for the live server, and the serialized rollback to put back
# the rows that migrations created (roles, the first matrix) after its flush. The hook below marks
# each test here before pytest-django sorts and sets up the databases; BROWSER is the same marking
# for modules that want to say it explicitly.
BROWSER = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            for mark in BROWSER:
                item.add_marker(mark)
    result = yield
    # pytest regroups tests by Playwright's session-scoped `browser_name` parameter after
    # pytest-django has put transactional tests last; put them last again, or the flush after a
    # browser test would leave the database tests that follow without the migrations' rows.
    items.sort(key=_database_order)
    return result


def _database_order(item) -> int:
    marker = item.get_closest_marker("django_db")
    transactional = bool(
        marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences"))
    )
    transactional = (
        transactional or "live_server" in item.fixturenames or "transactional_db" in item.fixturenames
    )
    uses_db = bool(marker) or "db" in item.fixturenames
    return 1 if transactional else 0 if uses_db else 2


@pytest.fixture
def sign_in(page, live_server):
    """Sign in through the real form and land on the home page."""

    def _sign_in(username: str, password: str) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/")

    return _sign_in
