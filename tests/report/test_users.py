"""usage_by_user, users-YYYYMMDD.tsv and usage_quota end to end (issue 18), against
hand-computed values, on SQLite with the LDIF directory and on MariaDB with slapd.

The directory (fixtures/ldap/test-directory.ldif) names uid 1 alice and uid 2 bob;
uid 777 has no people entry and is shown by number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from humgen_storage.cli import main
from humgen_storage.config.load import load_config
from humgen_storage.db import open_database
from humgen_storage.directory import Group, GroupDirectory
from humgen_storage.mpistat.writer import Record
from humgen_storage.report.aggregate import UserColumns
from humgen_storage.report.users import user_rows
from tests.helpers import base_sections, write_ini, write_mpistat

DAY = "20261120"
DATE = "2026-11-20"
R = 1_800_000_000  # the input file's mtime: the reference for Last Modified
D = 86400
KIB = 1024
DEGRADED = 3  # tol's quota look-up fails on purpose

QUOTAS = {
    # over both hard limits: '*' on kbytes and on files; /lustre/scratch118 wraps
    "hgi": {"used_kb": 6, "limit_kb": 5, "files": 4, "file_limit": 3},
    # an OST that did not answer: every limit in [ ] and the trailer line
    "team113": {"used_kb": 4, "limit_kb": 100, "files": 2, "file_limit": 10, "brackets": True},
    "tol": {"fail": "lfs quota: quotactl failed: Operation not permitted"},
}


def volume_118() -> list[Record]:
    base = b"/lustre/scratch118"
    return [
        Record(base, 4096, 0, 0, mtime=R - 10 * D, type="d", inode=1, nlink=2),
        # alice (1) in hgi (1001): a file, a directory, an nlink-0 file (0 bytes, a file)
        Record(base + b"/hgi/a", 1000, 1, 1001, mtime=R - 2 * D, inode=10),
        Record(base + b"/hgi/d", 4096, 1, 1001, mtime=R - 4 * D, type="d", inode=11, nlink=2),
        Record(base + b"/hgi/gone", 999, 1, 1001, mtime=R - D // 2, inode=12, nlink=0),
        # inode 50, three names: alice/hgi first (its bytes and inode), bob/team113, bob/hgi
        Record(base + b"/hgi/l1", 500, 1, 1001, mtime=R - 3 * D, inode=50, nlink=3),
        Record(base + b"/team113/l2", 500, 2, 1002, mtime=R - 1 * D, inode=50, nlink=3),
        Record(base + b"/hgi/l3", 500, 2, 1001, mtime=R - 3 * D, inode=50, nlink=3),
        # bob in team113: a file, and the first name of inode 80 (alice/hgi the second)
        Record(base + b"/team113/big", 3000, 2, 1002, mtime=R - 5 * D, inode=60),
        Record(base + b"/team113/h1", 300, 2, 1002, mtime=R - 2 * D, inode=80, nlink=2),
        Record(base + b"/hgi/h2", 300, 1, 1001, mtime=R - 2 * D, inode=80, nlink=2),
        # uid 777, unknown to the directory: a future mtime (0 days), and a symlink in 4242
        Record(base + b"/hgi/new", 7, 777, 1001, mtime=R + 100, inode=90),
        Record(base + b"/x/s", 42, 777, 4242, mtime=R - 6 * D, type="l", inode=91),
        # bob in tol, whose quota look-up fails
        Record(base + b"/tol/t", 10, 2, 1004, mtime=R - 1 * D, inode=95),
    ]


USERS_HEADER = "Lustre Volume\tUnix Group\tUser\tUsed (bytes)\tFiles\tLast Modified (days)\n"
# Ordered by volume, group, user as bytes ('7' before 'a').
USERS_TSV = USERS_HEADER + (
    "scratch118\t0\t0\t4096\t0\t10.0\n"
    "scratch118\t4242\t777\t42\t0\t6.0\n"
    "scratch118\thgi\t777\t7\t1\t0.0\n"
    # a 1000 + d 4096 + gone 0 + l1 500 + h2 0; files a, gone, l1, h2; newest gone's
    "scratch118\thgi\talice\t5596\t4\t0.5\n"
    "scratch118\thgi\tbob\t0\t1\t3.0\n"
    # l2 0 + big 3000 + h1 300; newest l2's
    "scratch118\tteam113\tbob\t3300\t3\t1.0\n"
    "scratch118\ttol\tbob\t10\t1\t1.0\n"
)

# (date, volume, group, Files, Quota Used (bytes), Quota Used (files), Inode Quota)
USAGE_QUOTA = [
    (DATE, "scratch118", "0", 1, None, None, None),  # no name: never looked up
    (DATE, "scratch118", "4242", 1, None, None, None),
    # inodes a, d, new, and inode 50 (gone has none; l3 and h2 are other inodes' names)
    (DATE, "scratch118", "hgi", 4, 6 * KIB, 4, 3),
    # big, and inode 80; l2's inode counts in hgi
    (DATE, "scratch118", "team113", 2, 4 * KIB, 2, 10),
    (DATE, "scratch118", "tol", 1, None, None, None),  # the look-up failed
]


@pytest.fixture(params=["sqlite-ldif", "mysql-slapd"])
def site(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    sections = base_sections(tmp_path)
    sections["volumes"]["report"] = "118 115"
    if request.param == "mysql-slapd":
        request.getfixturevalue("mysql_db")  # empties the session database's tables
        sections["database"]["url"] = request.getfixturevalue("mysql_url")
        server = request.getfixturevalue("slapd")
        sections["ldap"] = {
            "url": server.url,
            "group_base": server.group_base,
            "people_base": server.people_base,
        }
    config = write_ini(tmp_path / "site.ini", sections)
    quotas = tmp_path / "quotas.json"
    quotas.write_text(json.dumps(QUOTAS))
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(quotas))
    output = tmp_path / "reports" / "report-output-files"
    return {
        "config": str(config),
        "mpistat": tmp_path / "mpistat",
        "users_tsv": output / f"users-{DAY}.tsv",
        "report_tsv": output / f"report-{DAY}.tsv",
    }


def query(config_path: str, statement: str) -> list[tuple[Any, ...]]:
    config = load_config(config_path)
    with open_database(config.database, config.source.parent) as db:
        return db.query(statement, (DATE,))


def users_in_db(config_path: str) -> list[tuple[Any, ...]]:
    rows = query(
        config_path,
        "SELECT `date`, `Lustre Volume`, `Unix Group`, `User`, `Used (bytes)`, `Files`,"
        " `Last Modified (days)` FROM `usage_by_user` WHERE `date` = %s",
    )
    return sorted((str(d), v, g, u, int(b), int(f), float(m)) for d, v, g, u, b, f, m in rows)


def quota_in_db(config_path: str) -> list[tuple[Any, ...]]:
    rows = query(
        config_path,
        "SELECT `date`, `Lustre Volume`, `Unix Group`, `Files`, `Quota Used (bytes)`,"
        " `Quota Used (files)`, `Inode Quota` FROM `usage_quota` WHERE `date` = %s",
    )
    return sorted((str(row[0]), *row[1:]) for row in rows)


def two_volumes(site: dict[str, Any], records_118: list[Record]) -> list[str]:
    write_mpistat(site["mpistat"], DAY, "118", records_118, mtime=R)
    other = [
        Record(b"/lustre/scratch115", 100, 0, 0, mtime=R - D, type="d", inode=1, nlink=2),
        Record(b"/lustre/scratch115/f", 5, 2, 1002, mtime=R - 2 * D, inode=2),
    ]
    write_mpistat(site["mpistat"], DAY, "115", other, mtime=R)
    return [str(site["mpistat"] / f"{DAY}_{v}.dat.gz") for v in ("118", "115")]


SCRATCH115_USERS = [
    (DATE, "scratch115", "0", "0", 100, 0, 1.0),
    (DATE, "scratch115", "team113", "bob", 5, 1, 2.0),
]


def test_users_and_quota_figures_hand_computed(site: dict[str, Any]) -> None:
    write_mpistat(site["mpistat"], DAY, "118", volume_118(), mtime=R)
    path = str(site["mpistat"] / f"{DAY}_118.dat.gz")
    assert main(["--config", site["config"], "report", "--force", path]) == DEGRADED
    assert site["users_tsv"].read_bytes() == USERS_TSV.encode()
    expected_users = [
        (DATE, "scratch118", *line.split("\t")[1:3], int(used), int(files), float(days))
        for line in USERS_TSV.splitlines()[1:]
        for used, files, days in [line.split("\t")[3:]]
    ]
    assert users_in_db(site["config"]) == sorted(expected_users)
    assert quota_in_db(site["config"]) == USAGE_QUOTA
    # A group's users add up to its lustre_usage row, which is unchanged.
    used = dict(
        query(
            site["config"],
            "SELECT `Unix Group`, `Used (bytes)` FROM `lustre_usage` WHERE `date` = %s",
        )
    )
    assert {group: int(total) for group, total in used.items()} == {
        "0": 4096,
        "4242": 42,
        "hgi": 5603,
        "team113": 3300,
        "tol": 10,
    }
    for group, total in used.items():
        assert sum(row[4] for row in expected_users if row[2] == group) == total


def test_force_replaces_both_tables_rows_of_the_runs_volumes_only(site: dict[str, Any]) -> None:
    files = two_volumes(site, volume_118())
    assert main(["--config", site["config"], "report", *files]) == DEGRADED
    first_users = users_in_db(site["config"])
    assert [row for row in first_users if row[1] == "scratch115"] == SCRATCH115_USERS
    assert len(first_users) == 7 + 2
    assert len(quota_in_db(site["config"])) == 5 + 2

    # Again for 118 alone, with fewer records: its rows are replaced, 115's kept.
    smaller = write_mpistat(site["mpistat"], DAY, "118", volume_118()[:2], mtime=R)
    assert main(["--config", site["config"], "report", "--force", str(smaller)]) == 0
    assert users_in_db(site["config"]) == [
        (DATE, "scratch115", "0", "0", 100, 0, 1.0),
        (DATE, "scratch115", "team113", "bob", 5, 1, 2.0),
        (DATE, "scratch118", "0", "0", 4096, 0, 10.0),
        (DATE, "scratch118", "hgi", "alice", 1000, 1, 2.0),
    ]
    assert quota_in_db(site["config"]) == [
        (DATE, "scratch115", "0", 1, None, None, None),
        (DATE, "scratch115", "team113", 1, 4 * KIB, 2, 10),
        (DATE, "scratch118", "0", 1, None, None, None),
        (DATE, "scratch118", "hgi", 1, 6 * KIB, 4, 3),
    ]
    # The TSV holds every row of the date, as the database does after the commit.
    assert site["users_tsv"].read_text() == USERS_HEADER + (
        "scratch115\t0\t0\t100\t0\t1.0\n"
        "scratch115\tteam113\tbob\t5\t1\t2.0\n"
        "scratch118\t0\t0\t4096\t0\t10.0\n"
        "scratch118\thgi\talice\t1000\t1\t2.0\n"
    )


def test_a_missing_users_tsv_is_rewritten_from_the_database(site: dict[str, Any]) -> None:
    files = two_volumes(site, volume_118())
    assert main(["--config", site["config"], "report", *files]) == DEGRADED
    written = site["users_tsv"].read_bytes()
    site["users_tsv"].unlink()
    assert main(["--config", site["config"], "report", *files]) == 0  # already loaded
    assert site["users_tsv"].read_bytes() == written


def test_two_uids_that_would_show_one_name_are_both_shown_by_number() -> None:
    """Two uidNumbers with one uid, or a name that is another uid's number, would
    break the table's key: those uids are shown by number, the others by name."""
    directory = GroupDirectory(
        {7: Group(7, "hgi", False, None)},
        users={1: "alice", 2: "alice", 3: "9", 4: "dave"},
    )
    columns = UserColumns(
        gid=[7] * 5,
        uid=[1, 2, 3, 4, 9],  # uid 9 has no entry: "9", as uid 3's name
        used=[10, 20, 30, 40, 90],
        files=[1] * 5,
        newest_mtime=np.full(5, R - D, dtype=np.int64),
    )
    rows = user_rows("scratch118", R, directory, columns)
    assert list(zip(rows.groups, rows.users, rows.used, strict=True)) == [
        ("hgi", "1", 10),
        ("hgi", "2", 20),
        ("hgi", "3", 30),
        ("hgi", "dave", 40),
        ("hgi", "9", 90),
    ]
    assert set(rows.last_modified) == {1.0}
    # Another group's uid 2 keeps its name: the key is per group.
    other = UserColumns([8], [2], [1], [1], np.array([R], dtype=np.int64))
    assert user_rows("scratch118", R, directory, other).users == ["alice"]
