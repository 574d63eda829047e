"""The report's numbers at and beyond the 63/64-bit edges (spec section 11, "Numbers"):
Used exact up to the largest BIGINT in the database and the TSV, a larger sum a clear
failure that writes nothing, a size above 2**63 - 1 a malformed line.

Every test runs twice: on SQLite with the LDIF directory, and on the real MariaDB with
the real slapd.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from humgen_storage.cli import main
from humgen_storage.config.load import load_config
from humgen_storage.db import open_database
from humgen_storage.mpistat.writer import Record
from tests.helpers import base_sections, write_ini, write_mpistat

DAY = "20261120"
R = 1_800_000_000  # the input file's mtime
BIGINT_MAX = 2**63 - 1  # the largest `Used (bytes)` (and the largest size a line may hold)
ROOT = Record(b"/lustre/scratch118", 4096, 0, 0, R, R, R, "d", 2, 1)


@pytest.fixture(params=["sqlite-ldif", "mysql-slapd"])
def site(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    sections = base_sections(tmp_path)
    if request.param == "mysql-slapd":
        request.getfixturevalue("mysql_db")  # empty tables
        sections["database"]["url"] = request.getfixturevalue("mysql_url")
        server = request.getfixturevalue("slapd")
        sections["ldap"] = {
            "url": server.url,
            "group_base": server.group_base,
            "people_base": server.people_base,
        }
    # Every group has a quota: a missing one would make the run exit 3 (degraded).
    quotas = {
        name: {"used_kb": 1, "limit_kb": 0} for name in ("hgi", "team113", "vr-projects", "tol")
    }
    (tmp_path / "quotas.json").write_text(json.dumps(quotas))
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(tmp_path / "quotas.json"))
    return {
        "config": str(write_ini(tmp_path / "site.ini", sections)),
        "mpistat": tmp_path / "mpistat",
        "tsv": tmp_path / "reports" / "report-output-files" / f"report-{DAY}.tsv",
    }


def files(*sizes: tuple[int, int], nlink: int = 1) -> list[Record]:
    """One file record per (gid, size), each its own inode."""
    return [
        Record(b"/lustre/scratch118/f%d" % n, size, 1, gid, R, R - 86400, R, "f", 100 + n, nlink)
        for n, (gid, size) in enumerate(sizes)
    ]


def used_in_database(config_path: str) -> dict[str, int]:
    config = load_config(config_path)
    with open_database(config.database, config.source.parent) as db:
        rows = db.query("SELECT `Unix Group`, `Used (bytes)` FROM `lustre_usage`")
    return {group: int(used) for group, used in rows}


def used_in_tsv(path: Path) -> dict[str, int]:
    lines = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    return {cells[2]: int(cells[3]) for cells in lines}


def report(site: Any, records: list[Record]) -> int:
    path = write_mpistat(site["mpistat"], DAY, "118", [ROOT, *records], mtime=R)
    return main(["--config", site["config"], "report", str(path)])


def test_sums_up_to_the_largest_bigint_are_exact(site: Any) -> None:
    records = files(
        # hgi: 2**62 + (2**62 - 1) = 2**63 - 1 exactly
        (1001, 2**62),
        (1001, 2**62 - 1),
        # team113: one file of the largest size
        (1002, BIGINT_MAX),
        # vr-projects: 2**53 + 1, which a floating-point sum would round
        (1003, 2**53),
        (1003, 1),
    )
    # tol: two names of one inode count once: (2**63 - 1) - 7 + 7
    linked = [
        Record(b"/lustre/scratch118/t/a", BIGINT_MAX - 7, 1, 1004, R, R, R, "f", 900, 2),
        Record(b"/lustre/scratch118/t/b", BIGINT_MAX - 7, 1, 1004, R, R, R, "f", 900, 2),
        Record(b"/lustre/scratch118/t/c", 7, 1, 1004, R, R, R, "f", 901, 1),
    ]
    assert report(site, records + linked) == 0
    expected = {
        "0": 4096,
        "hgi": 9223372036854775807,
        "team113": 9223372036854775807,
        "vr-projects": 9007199254740993,
        "tol": 9223372036854775807,
    }
    assert used_in_database(site["config"]) == expected
    assert used_in_tsv(site["tsv"]) == expected


@pytest.mark.parametrize(
    ("sizes", "total"),
    [
        ([2**62, 2**62], 2**63),  # just past BIGINT: once an OverflowError from the driver
        ([BIGINT_MAX, BIGINT_MAX], 2**64 - 2),  # the largest sum 64 bits hold
        ([BIGINT_MAX, BIGINT_MAX, 5], 2**64 + 3),  # once wrapped to 3 and stored
        ([BIGINT_MAX, BIGINT_MAX, 2], 2**64),  # once wrapped to 0 and stored
    ],
)
def test_a_sum_beyond_bigint_fails_naming_volume_and_group(
    site: Any, caplog: pytest.LogCaptureFixture, sizes: list[int], total: int
) -> None:
    assert sum(sizes) == total
    records = files((1002, 10), *((1001, size) for size in sizes))
    caplog.set_level(logging.INFO)
    assert report(site, records) == 1
    failure = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    assert "volume scratch118" in failure and "hgi (gid 1001)" in failure
    assert str(total) in failure and "BIGINT" in failure
    assert "Traceback" not in caplog.text and "OverflowError" not in caplog.text
    assert used_in_database(site["config"]) == {}  # nothing written
    assert not site["tsv"].exists()


def test_sizes_above_off_t_are_malformed_lines(site: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Two records of 2**63 each once gave Used 0, exit 0; they are malformed lines now,
    and two of four lines fail the volume."""
    records = files((1001, 2**63), (1001, 2**63), (1002, 10))
    assert report(site, records) == 1
    assert "size 9223372036854775808 is above 2**63 - 1" in caplog.text
    assert "2 of 4 lines are malformed" in caplog.text
    assert used_in_database(site["config"]) == {}
    assert not site["tsv"].exists()
