"""Shared fixtures: one named person per role, and small factories for leads and activities."""

import pytest
from django.contrib.auth.models import Group, User

from config.roles import MARKETING, SALES_MANAGER, SALES_REP
from tests.factories import make_user


@pytest.fixture
def marketer(db) -> User:
    return make_user("maria", MARKETING)


@pytest.fixture
def manager(db) -> User:
    return make_user("sam", SALES_MANAGER)


@pytest.fixture
def rep(db) -> User:
    return make_user("riley", SALES_REP)


@pytest.fixture
def rep2(db) -> User:
    return make_user("robin", SALES_REP)


@pytest.fixture
def outsider(db) -> User:
    """Signed in, but in no role."""
    return make_user("olly", None)


@pytest.fixture
def admin_user(db) -> User:
    return make_user("ada", None, staff=True)


@pytest.fixture
def roles_exist(db) -> None:
    assert Group.objects.filter(name__in=[MARKETING, SALES_MANAGER, SALES_REP]).count() == 3


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """Make the serialized migration data reachable from the browser tests' connection.

    Django keeps one connection per thread *and* async context. Playwright's sync API runs an event
    loop in the test thread, so a browser test gets a different connection object from the one the
    database was set up with, and without `_test_serialized_contents` on it, `serialized_rollback`
    would silently restore nothing. A class attribute makes the data visible to every connection.
    """
    from django.db import connections

    contents = getattr(connections["default"], "_test_serialized_contents", None)
    if contents is not None:
        type(connections["default"])._test_serialized_contents = contents
    return django_db_setup


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Pages cache counts for a minute; every test starts without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
