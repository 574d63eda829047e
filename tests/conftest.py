"""Shared fixtures. Real services live in tests/services/ as pytest plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sites import DEMO_QUOTAS, Site, make_site

pytest_plugins = [
    "tests.services.mysql",
    "tests.services.slapd",
    "tests.services.s3",
]


@pytest.fixture
def lfs_quotas(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lfs stand-in answers with the demo quotas."""
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(DEMO_QUOTAS))


@pytest.fixture
def site(tmp_path: Path, lfs_quotas: None) -> Site:
    """The demo installation under tmp_path, its quotas answered by the lfs stand-in."""
    return make_site(tmp_path)
