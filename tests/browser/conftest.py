from tests.dashboard.conftest import browser  # noqa: F401  (the dashboard's Chromium, shared)
