"""Shared fixtures. Real services live in tests/services/ as pytest plugins."""

pytest_plugins = [
    "tests.services.mysql",
    "tests.services.slapd",
    "tests.services.s3",
]
