"""The API's token clients, shared with tests/webapp/api (the dataset endpoints live there)."""

from tests.webapp.api.conftest import api_for  # noqa: F401  (a fixture)
