"""Shared fixtures. Real services live in tests/services/ as pytest plugins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sites import DEMO_QUOTAS, Site, make_site

pytest_plugins = [
    "tests.services.mysql",
    "tests.services.slapd",
    "tests.services.s3",
]


@pytest.fixture
def lfs_quotas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lfs stand-in answers with the demo quotas, and with a quota for the groups
    whose look-up the demo lets fail (a failed look-up makes a run exit 3)."""
    quotas = json.loads(DEMO_QUOTAS.read_text())
    quotas.update({group: {"limit_kb": 0} for group in ("cellgen", "users")})
    path = tmp_path / "lfs-quotas.json"
    path.write_text(json.dumps(quotas))
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(path))


@pytest.fixture
def site(tmp_path: Path, lfs_quotas: None) -> Site:
    """The demo installation under tmp_path, its quotas answered by the lfs stand-in."""
    return make_site(tmp_path)
