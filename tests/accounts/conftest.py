from tests.console.conftest import no_dispatch, people, world  # noqa: F401 - shared fixtures
