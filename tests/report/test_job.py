"""The report job end to end, against hand-computed values (spec section 4).

Every test runs twice: on SQLite with the LDIF directory, and on the real MariaDB
with the real slapd, both holding the same directory data.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from humgen_storage.cli import main
from humgen_storage.config.load import load_config
from humgen_storage.db import open_database
from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record
from humgen_storage.report.job import _note_quota_failures
from humgen_storage.run import record
from humgen_storage.run.staging import StagedVolume
from tests.helpers import LFS_STANDIN, base_sections, write_ini, write_mpistat
from tests.services.tmpfs import small_disk

DAY = "20261120"
R = 1_800_000_000  # the input file's mtime: the reference for Last Modified
D = 86400
GIB = 2**30
TIB = 2**40
HEADER = (
    "Lustre Volume\tPI\tUnix Group\tUsed (bytes)\tQuota (bytes)\tConsumption\t"
    "Last Modified (days)\tArchived Directories\tIs Humgen?"
)


def volume_118() -> list[Record]:
    base = b"/lustre/scratch118"
    return [
        Record(base, 4096, 0, 0, R, R - 10 * D, R, "d", 2, 1),
        # hgi (1001): 1000 + 500 (a hard link seen twice counts once) + 0 (nlink 0)
        # + 7 (future mtime: counts as the reference, 0 days) + 3 (non-UTF-8 name) = 1510
        Record(base + b"/hgi/a.bam", 1000, 1, 1001, R, R - 2 * D, R, "f", 10, 1),
        Record(base + b"/hgi/b", 500, 1, 1001, R, R - 3 * D, R, "f", 50, 2),
        Record(base + b"/hgi/c", 500, 1, 1001, R, R - 3 * D, R, "f", 50, 2),
        Record(base + b"/hgi/gone", 999, 1, 1001, R, R - D // 2, R, "f", 51, 0),
        Record(base + b"/hgi/future", 7, 1, 1001, R, R + 1000, R, "f", 52, 1),
        Record(base + b"/hgi/\xff\xfe odd\tname\n", 3, 1, 1001, R, R - 5 * D, R, "f", 53, 1),
        # team113 (1002): 3 TiB, newest 1.26 days
        Record(base + b"/team113/big.cram", 3 * TIB, 2, 1002, R, R - 108864, R, "f", 60, 1),
        # vr-projects (1003): a directory and a symlink count too
        Record(base + b"/vr", 2000, 3, 1003, R, R - 4 * D, R, "d", 70, 1),
        Record(base + b"/vr/l", 48, 3, 1003, R, R - 4 * D, R, "l", 71, 1),
        # tol (1004): small, archived in the second configured directory; its newest
        # mtime is an nlink-0 record's (0 bytes, but the mtime counts): 0.5 days
        Record(base + b"/tol/x", 10, 4, 1004, R, R - 1 * D, R, "f", 80, 1),
        Record(base + b"/tol/gone", 77, 4, 1004, R, R - D // 2, R, "f", 81, 0),
        # cellgen (1005): above the 100 MiB threshold: never looked up in the archive
        Record(base + b"/cellgen/y", 200 * 2**20, 5, 1005, R, R - 7 * D, R, "f", 90, 1),
        # gid 4242: unknown to the directory; only future mtimes: 0 days, never NULL
        Record(base + b"/old/z", 42, 6, 4242, R, R + 5 * D, R, "f", 100, 1),
    ]


# The site's quotas fail for two groups (tol, cellgen): a run publishes, degraded.
DEGRADED = 3

QUOTAS = {
    "hgi": {"used_kb": 2, "limit_kb": 1},  # over quota: a '*' on the used figure
    "team113": {"used_kb": 3 * 2**30, "limit_kb": 4 * 2**30},
    "vr-projects": {"used_kb": 2, "limit_kb": 0},  # unlimited
    "tol": {"fail": "lfs quota: quotactl failed: Operation not permitted"},
    "cellgen": {"hang": True},
}

EXPECTED = [
    ["scratch118", "-", "0", "4096", "-", "0.0 TiB", "10.0", "-", "False"],
    ["scratch118", "-", "4242", "42", "-", "0.0 TiB", "0.0", "-", "False"],
    ["scratch118", "-", "cellgen", str(200 * 2**20), "-", "0.0 TiB", "7.0", "-", "True"],
    ["scratch118", "-", "tol", "10", "-", "0.0 TiB", "0.5", "{archive2}/tol", "True"],
    ["scratch118", "-", "vr-projects", "2048", "0", "0.0 TiB (Unlimited)", "4.0", "-", "False"],
    [
        "scratch118",
        "Adams",
        "team113",
        str(3 * TIB),
        str(4 * TIB),
        "3.0 TiB of 4.0 TiB (75.0%)",
        "1.3",
        "-",
        "True",
    ],
    [
        "scratch118",
        "Barrett",
        "hgi",
        "1510",
        "1024",
        "0.0 TiB of 0.0 TiB (147.5%)",
        "0.0",
        "-",
        "True",
    ],
]


@pytest.fixture(params=["sqlite-ldif", "mysql-slapd"])
def site(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A configured site: config file, archive dirs, lfs stand-in quotas and call log."""
    sections = base_sections(tmp_path)
    if request.param == "mysql-slapd":
        sections["database"]["url"] = request.getfixturevalue(
            "mysql_db"
        ) and request.getfixturevalue("mysql_url")
        server = request.getfixturevalue("slapd")
        sections["ldap"] = {
            "url": server.url,
            "group_base": server.group_base,
            "people_base": server.people_base,
        }
    archive1, archive2 = tmp_path / "archive1", tmp_path / "archive2"
    (archive1 / "cellgen").mkdir(parents=True)
    (archive1 / "cellgen" / ".imirrored").touch()
    (archive2 / "tol").mkdir(parents=True)
    (archive2 / "tol" / ".imirrored").touch()
    (archive1 / "hgi").mkdir()  # no .imirrored: not archived
    sections["archive"] = {"threshold_bytes": 100 * 2**20, "118": f"{archive1} {archive2}"}
    sections["quota"]["timeout"] = 1
    config_path = write_ini(tmp_path / "site.ini", sections)
    quotas = tmp_path / "quotas.json"
    quotas.write_text(json.dumps(QUOTAS))
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(quotas))
    monkeypatch.setenv("FAKE_LFS_LOG", str(tmp_path / "lfs.log"))
    return {
        "config": str(config_path),
        "tmp": tmp_path,
        "mpistat": tmp_path / "mpistat",
        "tsv": tmp_path / "reports" / "report-output-files" / f"report-{DAY}.tsv",
        "archive2": str(archive2),
    }


def expected_rows(site: dict[str, Any]) -> list[list[str]]:
    return [[cell.format(archive2=site["archive2"]) for cell in row] for row in EXPECTED]


def tsv_rows(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER
    return [line.split("\t") for line in lines[1:]]


def db_rows(config_path: str, day: str = "2026-11-20") -> list[tuple[Any, ...]]:
    config = load_config(config_path)
    with open_database(config.database, config.source.parent) as db:
        rows = db.query(
            "SELECT `Lustre Volume`, `PI`, `Unix Group`, `Used (bytes)`, `Quota (bytes)`, `Consumption`,"
            " `Last Modified (days)`, `Archived Directories`, `date`, `IsHumgen` FROM `lustre_usage`"
            " WHERE `date` = %s ORDER BY `Unix Group`",
            (day,),
        )
    return [
        (*row[:6], None if row[6] is None else float(row[6]), row[7], str(row[8]), int(row[9]))
        for row in rows
    ]


def test_every_column_hand_computed(site: dict[str, Any]) -> None:
    path = write_mpistat(site["mpistat"], DAY, "118", volume_118(), mtime=R)
    assert main(["--config", site["config"], "report", str(path)]) == DEGRADED
    assert tsv_rows(site["tsv"]) == expected_rows(site)

    rows = {row[2]: row for row in db_rows(site["config"])}
    assert rows["hgi"] == (
        "scratch118",
        "Barrett",
        "hgi",
        1510,
        1024,
        "0.0 TiB of 0.0 TiB (147.5%)",
        0.0,
        None,
        "2026-11-20",
        1,
    )
    assert rows["4242"][1] is None and rows["4242"][4] is None
    # only future mtimes: they count as the reference, 0 days (Weaver needs a number)
    assert rows["4242"][6] == 0.0
    assert all(row[6] is not None for row in rows.values())
    assert rows["cellgen"][1] is None  # humgen, but its PI has no entry

    # lfs ran for named groups only, never for the unknown gids 0 and 4242
    calls = [
        json.loads(line)["argv"] for line in (site["tmp"] / "lfs.log").read_text().splitlines()
    ]
    asked = sorted(argv[argv.index("-g") + 1] for argv in calls)
    assert asked == ["cellgen", "hgi", "team113", "tol", "vr-projects"]
    assert all(argv[-1] == "/lustre/scratch118" and "-q" in argv for argv in calls)


def test_wrstat_format_gives_the_same_rows(site: dict[str, Any]) -> None:
    path = write_mpistat(site["mpistat"], DAY, "118", volume_118(), fmt=Format.WRSTAT, mtime=R)
    assert main(["--config", site["config"], "report", str(path)]) == DEGRADED
    assert tsv_rows(site["tsv"]) == expected_rows(site)


def test_warnings_name_unknown_group_and_failing_quota(
    site: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_mpistat(site["mpistat"], DAY, "118", volume_118(), mtime=R)
    assert main(["--config", site["config"], "report", str(path)]) == DEGRADED
    text = caplog.text
    assert "gid 4242 has no posixGroup" in text
    assert "'tol'" in text and "'cellgen'" in text  # failed and timed-out quota calls


def two_volumes(site: dict[str, Any], day: str = DAY) -> list[str]:
    write_mpistat(site["mpistat"], day, "118", volume_118(), mtime=R)
    other = [Record(b"/lustre/scratch115", 100, 0, 1001, R, R - D, R, "d", 1, 1)]
    write_mpistat(site["mpistat"], day, "115", other, mtime=R)
    return [str(site["mpistat"] / f"{day}_{v}.dat.gz") for v in ("118", "115")]


def test_truncated_volume_writes_nothing_and_keeps_yesterday(site: dict[str, Any]) -> None:
    yesterday = two_volumes(site, "20261119")
    assert main(["--config", site["config"], "report", *yesterday]) == DEGRADED
    before = db_rows(site["config"], "2026-11-19")
    assert before

    files = two_volumes(site)
    data = Path(files[0]).read_bytes()
    Path(files[0]).write_bytes(data[: len(data) // 2])
    assert main(["--config", site["config"], "report", *files]) == 1
    assert db_rows(site["config"]) == []
    assert not site["tsv"].exists()
    assert db_rows(site["config"], "2026-11-19") == before


def test_bad_lines_over_the_threshold_fail_the_run(
    site: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_mpistat(
        site["mpistat"], DAY, "118", volume_118(), extra_lines=[b"not\ta\trecord\n"], mtime=R
    )
    assert main(["--config", site["config"], "report", str(path)]) == 1
    assert f"{path}: 1 of 15 lines are malformed" in caplog.text
    assert f"{path} line 15: malformed" in caplog.text
    assert not site["tsv"].exists()


def test_date_already_loaded_changes_nothing(
    site: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    files = two_volumes(site)
    assert main(["--config", site["config"], "report", *files]) == DEGRADED
    before = db_rows(site["config"])
    tsv_before = site["tsv"].read_bytes()
    site["tsv"].unlink()

    # a different input for the same date is not loaded: the date is done
    write_mpistat(site["mpistat"], DAY, "118", volume_118()[:3], mtime=R)
    assert main(["--config", site["config"], "report", *files]) == 0
    assert "already loaded" in caplog.text
    assert db_rows(site["config"]) == before
    assert site["tsv"].read_bytes() == tsv_before  # rewritten from the database


def test_force_replaces_only_that_dates_rows_of_the_given_volumes(site: dict[str, Any]) -> None:
    files = two_volumes(site)
    assert main(["--config", site["config"], "report", *files]) == DEGRADED
    yesterday = two_volumes(site, "20261119")
    assert main(["--config", site["config"], "report", *yesterday]) == DEGRADED
    before_115 = [r for r in db_rows(site["config"]) if r[0] == "scratch115"]
    before_yesterday = db_rows(site["config"], "2026-11-19")

    smaller = write_mpistat(site["mpistat"], DAY, "118", volume_118()[:2], mtime=R)
    assert main(["--config", site["config"], "report", "--force", str(smaller)]) == 0
    rows = db_rows(site["config"])
    assert sorted(r[2] for r in rows if r[0] == "scratch118") == ["0", "hgi"]
    assert [r for r in rows if r[0] == "scratch115"] == before_115
    assert db_rows(site["config"], "2026-11-19") == before_yesterday
    # the TSV holds every row of the date: both volumes
    assert {row[0] for row in tsv_rows(site["tsv"])} == {"scratch115", "scratch118"}


def test_full_disk_leaves_the_table_and_the_tsv_as_they_were(
    site: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    tsv = site["tsv"]
    with small_disk(tsv.parent) as disk:
        files = two_volumes(site)
        assert (
            main(["--config", site["config"], "report", *files]) == DEGRADED
        )  # the site fails two quotas on purpose
        rows_before = db_rows(site["config"])
        tsv_before = tsv.read_bytes()
        smaller = write_mpistat(site["mpistat"], DAY, "118", volume_118()[:2], mtime=R)

        disk.fill()
        caplog.clear()
        assert main(["--config", site["config"], "report", "--force", str(smaller)]) == 1
        # the TSV could not be written in full: nothing was committed, nothing renamed
        assert db_rows(site["config"]) == rows_before
        assert tsv.read_bytes() == tsv_before
        assert disk.files() == [tsv.name]  # no temporary left behind
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert errors == [
            f"report: cannot write {tsv}: No space left on device (ENOSPC); nothing was written"
        ]

        disk.free()
        assert main(["--config", site["config"], "report", "--force", str(smaller)]) == 0
        rows = db_rows(site["config"])
        assert sorted(r[2] for r in rows if r[0] == "scratch118") == ["0", "hgi"]
        assert sorted(row[2] for row in tsv_rows(tsv) if row[0] == "scratch118") == ["0", "hgi"]


def _crash_before_finalising(config: str, files: list[str]) -> None:
    from humgen_storage.report import job as report

    def crash(*args: object, **kwargs: object) -> None:
        os._exit(9)  # as if killed: no cleanup, no exception handling

    report.finalise = crash  # type: ignore[assignment]
    main(["--config", config, "report", *files])


def test_crash_between_staging_and_finalising(site: dict[str, Any]) -> None:
    files = two_volumes(site)
    child = multiprocessing.get_context("fork").Process(
        target=_crash_before_finalising, args=(site["config"], files)
    )
    child.start()
    child.join(60)
    assert child.exitcode == 9
    staged = site["tmp"] / "reports" / ".staging" / DAY
    assert sorted(p.name for p in staged.glob("volume-*.db")) == ["volume-115.db", "volume-118.db"]
    assert db_rows(site["config"]) == []
    assert not site["tsv"].exists()

    assert main(["--config", site["config"], "report", *files]) == DEGRADED
    rows = db_rows(site["config"])
    assert len(rows) == len(EXPECTED) + 1  # loaded once: 7 groups of 118, 1 of 115
    assert not staged.exists()


def test_files_with_different_dates_need_date(
    site: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_mpistat(site["mpistat"], "20261119", "118", volume_118()[:1], mtime=R)
    b = write_mpistat(
        site["mpistat"], "20261120", "115", [Record(b"/lustre/scratch115", type="d")], mtime=R
    )
    assert main(["--config", site["config"], "report", str(a), str(b)]) == 2
    assert "different dates" in capsys.readouterr().err
    assert main(["--config", site["config"], "report", "--date", "2026-11-20", str(a), str(b)]) == 0
    assert {r[0] for r in db_rows(site["config"])} == {"scratch115", "scratch118"}


def test_volume_mismatch_is_a_one_line_error(
    site: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_mpistat(
        site["mpistat"], DAY, "118", [Record(b"/lustre/scratch119", type="d")], mtime=R
    )
    assert main(["--config", site["config"], "report", str(path)]) == 1
    assert "is volume 'scratch119', but the file name says volume 118" in caplog.text
    assert "Traceback" not in caplog.text


def test_empty_and_missing_files(site: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    site["mpistat"].mkdir(parents=True, exist_ok=True)
    empty = site["mpistat"] / f"{DAY}_118.dat.gz"
    empty.write_bytes(b"")
    assert main(["--config", site["config"], "report", str(empty)]) == 1
    assert f"{empty}: empty file" in caplog.text
    with gzip.open(empty, "wb"):
        pass
    assert main(["--config", site["config"], "report", str(empty)]) == 1
    assert "no records" in caplog.text
    missing = site["mpistat"] / f"{DAY}_115.dat.gz"
    assert main(["--config", site["config"], "report", str(missing)]) == 1
    assert f"{missing}: file not found" in caplog.text


def test_newest_complete_set_without_files(site: dict[str, Any]) -> None:
    today = dt.date.today()
    stamp = (today - dt.timedelta(days=1)).strftime("%Y%m%d")
    write_mpistat(site["mpistat"], stamp, "118", volume_118(), mtime=R)
    assert main(["--config", site["config"], "report"]) == DEGRADED
    tsv = site["tmp"] / "reports" / "report-output-files" / f"report-{stamp}.tsv"
    assert tsv_rows(tsv) == expected_rows(site)


@pytest.mark.parametrize("group", ["", ".hidden", "a/b", "../etc", "x\0y"])
def test_unsafe_group_names_are_never_looked_up_in_the_archive(tmp_path: Path, group: str) -> None:
    from humgen_storage.report.rows import find_archived

    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / ".imirrored").touch()
    assert find_archived((str(tmp_path),), group) is None


def test_missing_file_is_an_error_even_when_the_date_is_loaded(
    site: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15: `report FILE` for a file that is not there exited 0, "nothing to do"."""
    files = two_volumes(site)
    assert main(["--config", site["config"], "report", *files]) == DEGRADED  # two quotas fail
    before = db_rows(site["config"])
    missing = site["mpistat"] / "20261120_119.dat.gz"
    assert main(["--config", site["config"], "report", str(missing)]) == 1
    assert f"{missing}: file not found" in caplog.text
    assert "nothing to do" not in caplog.text
    assert db_rows(site["config"]) == before


def test_a_volume_added_after_the_date_was_loaded_is_named_with_force(
    site: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15: a volume added to [volumes] after its date was loaded exited 0,
    "nothing to do"; it must be named, with the way out (--force)."""
    files = two_volumes(site)
    assert main(["--config", site["config"], "report", files[0]]) == DEGRADED  # 118 alone
    assert {r[0] for r in db_rows(site["config"])} == {"scratch118"}
    text = Path(site["config"]).read_text().replace("report = 118", "report = 118 115")
    Path(site["config"]).write_text(text)
    caplog.clear()

    assert main(["--config", site["config"], "report", "--date", "2026-11-20"]) == 1
    assert "not for volume 115" in caplog.text and "--force" in caplog.text
    assert "nothing to do" not in caplog.text
    assert {r[0] for r in db_rows(site["config"])} == {"scratch118"}
    # An explicit FILE of the missing volume is the same problem.
    assert main(["--config", site["config"], "report", files[1]]) == 1

    assert (
        main(["--config", site["config"], "report", "--force", "--date", "2026-11-20"]) == DEGRADED
    )
    assert {r[0] for r in db_rows(site["config"])} == {"scratch118", "scratch115"}
    assert {row[0] for row in tsv_rows(site["tsv"])} == {"scratch115", "scratch118"}


@pytest.mark.parametrize("outage", ["every group fails", "misspelt command"])
def test_a_quota_outage_publishes_and_exits_3_with_the_notes_last(
    site: dict[str, Any], caplog: pytest.LogCaptureFixture, outage: str
) -> None:
    """Issue 15: lfs failing for every group gave NULL quotas and exit 0."""
    if outage == "every group fails":
        failing = {name: {"fail": "lfs: cannot connect"} for name in QUOTAS}
        (site["tmp"] / "quotas.json").write_text(json.dumps(failing))
    else:
        text = Path(site["config"]).read_text()
        Path(site["config"]).write_text(text.replace(str(LFS_STANDIN), "lfs-no-such-command"))
    path = write_mpistat(site["mpistat"], DAY, "118", volume_118(), mtime=R)
    with caplog.at_level(logging.INFO):
        assert main(["--config", site["config"], "report", str(path)]) == DEGRADED
    rows = db_rows(site["config"])
    assert len(rows) == len(EXPECTED)  # published: every row written
    assert all(row[4] is None for row in rows)  # with NULL quotas
    assert len(tsv_rows(site["tsv"])) == len(EXPECTED)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[-2:] == [
        "needs a person: volume scratch118: quota look-ups failed for 5 of 5 groups"
        " (cellgen, hgi, team113, tol, vr-projects); their Quota is NULL (or what an earlier"
        " run of the date stored), and `report --force` on a later run looks them up again",
        "report: written but degraded (exit status 3)",
    ]


def test_force_after_a_quota_outage_keeps_the_quotas_the_date_already_had(
    site: dict[str, Any],
) -> None:
    """Issue 15: with --force, a quota outage replaced the day's stored quotas by NULL."""
    path = write_mpistat(site["mpistat"], DAY, "118", volume_118(), mtime=R)
    assert main(["--config", site["config"], "report", str(path)]) == DEGRADED  # tol, cellgen
    before = {row[2]: (row[4], row[5]) for row in db_rows(site["config"])}
    assert before["team113"] == (4 * TIB, "3.0 TiB of 4.0 TiB (75.0%)")
    failing = {name: {"fail": "lfs: cannot connect"} for name in QUOTAS}
    (site["tmp"] / "quotas.json").write_text(json.dumps(failing))

    assert main(["--config", site["config"], "report", "--force", str(path)]) == DEGRADED
    after = {row[2]: (row[4], row[5]) for row in db_rows(site["config"])}
    assert after == before  # hgi, team113 and vr-projects (0: unlimited) kept; others NULL
    assert after["vr-projects"] == (0, "0.0 TiB (Unlimited)")
    assert after["tol"] == (None, "0.0 TiB")


def test_a_quota_note_names_the_first_ten_groups() -> None:
    failed = tuple(f"g{n:02d}" for n in range(12))
    run = record.begin("report", "report")
    _note_quota_failures([StagedVolume("118", "scratch118", "x", 1, 0, (), failed)])
    assert run.needs_a_person == [
        "volume scratch118: quota look-ups failed for 12 of 12 groups (g00, g01, g02, g03,"
        " g04, g05, g06, g07, g08, g09 and 2 more); their Quota is NULL (or what an earlier"
        " run of the date stored), and `report --force` on a later run looks them up again"
    ]
    assert run.quota_failures == [f"scratch118:{group}" for group in failed]
