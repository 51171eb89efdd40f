"""The API clients of the integration tests, shared rather than written twice."""

from tests.integrations.conftest import lead_writer, reader, tokens, writer  # noqa: F401
