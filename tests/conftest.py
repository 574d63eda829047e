"""Shared fixtures. Real services live in tests/services/ as pytest plugins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from humgen_storage.config import DatabaseConfig
from humgen_storage.db import Database, open_database
from humgen_storage.mpistat import kernel
from tests.helpers import on_kernel_path
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


@pytest.fixture(params=[kernel.COMPILED, kernel.NUMPY])
def kernel_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test runs twice: on the compiled kernel, and on the numpy path
    (``HUMGEN_STORAGE_KERNEL=numpy``). An unbuilt kernel fails the first, never
    passing for it on the numpy path."""
    with on_kernel_path(request.param):
        yield request.param


@pytest.fixture(params=["mysql", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The product's database on both back ends: the session's MariaDB (its tables
    emptied first) and a new SQLite file."""
    # Imported here: a plugin module imported by conftest itself escapes pytest's
    # assertion rewriting.
    from tests.services.mysql import _server

    if request.param == "mysql":
        request.getfixturevalue("mysql_db")  # empties the session database's tables
        url = str(request.getfixturevalue("mysql_url"))
    else:
        url = f"sqlite:///{tmp_path / 'usage.db'}"
    with open_database(DatabaseConfig(url=url, password=_server()[3] or None)) as db:
        yield db
