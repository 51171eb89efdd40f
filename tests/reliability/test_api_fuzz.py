"""Property-based fuzzing of the ingest API from its own OpenAPI document (schemathesis, in-process).

Schemathesis reads `/api/v1/openapi.json` from the WSGI app and generates requests for every
operation, valid and invalid; each answer must not be a 5xx and must match the documented status
codes, content type and response schema. The budget is small so it runs in every `./dev test`
(SQLite and PostgreSQL in CI); `FUZZ_EXAMPLES=500 ./dev test tests/reliability` runs a longer one.
"""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from config.wsgi import application
from leads.integrations.api import api
from leads.integrations.models import ApiToken
from leads.integrations.tokens import issue_token

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))

# The scope each operation needs: every generated request carries the token that may make it, so
# the fuzzer reaches the handlers instead of stopping at 403.
# (Schemathesis also sends other methods to each path, which must answer 405.)
SCOPE_OF = {
    "/api/v1/activities": ApiToken.Scope.WRITE_ACTIVITIES,
    "/api/v1/leads": ApiToken.Scope.WRITE_LEADS,
    "/api/v1/leads/{ref}": ApiToken.Scope.READ,
    "/api/v1/queue": ApiToken.Scope.READ,
}

# Two checks judge the API by its schema alone, which is not its whole contract: a batch answers 200
# with the bad items rejected one by one (so "schema-violating request accepted" is the design), and
# requests can be well-formed yet refused by rules the schema cannot state (an activity type that
# does not exist, a time more than a day ahead, an `after` that is no cursor). Every other check
# stays: no 5xx, documented status codes, content types, headers and response bodies.
EXCLUDED = [schemathesis.checks.negative_data_rejection, schemathesis.checks.positive_data_acceptance]


# The document is the one /api/v1/openapi.json serves, taken from ninja directly so that loading it
# needs no request at collection time; requests then go to the WSGI app in-process.
schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = application


@pytest.fixture
def tokens(db) -> dict[str, str]:
    # A high rate so the throttle does not answer 429 to the fuzzer's bursts.
    return {
        scope: issue_token(name=f"fuzz {scope}", scope=scope, rate_per_minute=1_000_000)[1]
        for scope in ApiToken.Scope.values
    }


@pytest.fixture
def connections_kept_open():
    """Keep the test's database connection across requests, as Django's own test client does.

    The WSGI handler closes connections when a request finishes; inside a test that would close the
    connection holding the test transaction (PostgreSQL then answers "the connection is closed").
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.usefixtures("connections_kept_open")
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_every_generated_request_without_5xx_and_as_documented(case, tokens):
    token = tokens[SCOPE_OF[case.operation.full_path]]
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=EXCLUDED)
