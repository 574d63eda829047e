"""`inspect --tosql`: merging into spaceman keeps people's decisions, on MariaDB and SQLite.

Every test runs against the real MariaDB server (tests/services/mysql.py) and an
SQLite file, with the same statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.config import DatabaseConfig
from humgen_storage.db import Database, open_database
from humgen_storage.inspect import spaceman
from humgen_storage.inspect.spaceman import MergeCounts, SpacemanRow, merge_into_spaceman
from humgen_storage.mpistat.patterns import Format
from humgen_storage.run import record
from tests.helpers import write_mpistat
from tests.inspect.sites import DAY1, iso, truncate, write_config, write_inputs
from tests.inspect.trees import M0, M1, REF, TREE_115, TREE_118, d, f

COLUMN_NAMES = (
    "index",
    "Project",
    "Directory",
    "Volume",
    "Files",
    "Total",
    "BAM",
    "CRAM",
    "VCF",
    "PEDBED",
    "Last Modified (days)",
    "PI",
    "Project Total",
    "Status",
    "Action",
    "Comment",
    "Unix Group",
)
# COLUMN_NAMES, written out: no SQL text is built from variables.
DUMP = {
    "spaceman": "SELECT `index`, `Project`, `Directory`, `Volume`, `Files`, `Total`, `BAM`, "
    "`CRAM`, `VCF`, `PEDBED`, `Last Modified (days)`, `PI`, `Project Total`, `Status`, "
    "`Action`, `Comment`, `Unix Group` FROM `spaceman` ORDER BY `index`",
    "spaceman_tmp": "SELECT `index`, `Project`, `Directory`, `Volume`, `Files`, `Total`, `BAM`, "
    "`CRAM`, `VCF`, `PEDBED`, `Last Modified (days)`, `PI`, `Project Total`, `Status`, "
    "`Action`, `Comment`, `Unix Group` FROM `spaceman_tmp` ORDER BY `index`",
}


@pytest.fixture(params=["mysql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "mysql":
        request.getfixturevalue("mysql_db")  # empties the session database's tables
        return str(request.getfixturevalue("mysql_url"))
    return "sqlite:///spaceman.db"  # relative to the config file's directory


@pytest.fixture
def database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    with open_database(DatabaseConfig(url=database_url), base_dir=tmp_path) as db:
        yield db


def dump(database: Database, table: str = "spaceman") -> list[tuple[object, ...]]:
    return database.query(DUMP[table])


def by_key(database: Database) -> dict[tuple[str, str, str], dict[str, object]]:
    return {
        (str(row[1]), str(row[2]), str(row[3])): dict(zip(COLUMN_NAMES, row, strict=True))
        for row in dump(database)
    }


def decide(
    database: Database, key: tuple[str, str, str], status: str, action: str, comment: str
) -> None:
    with database.transaction() as cursor:
        changed = cursor.execute(
            "UPDATE `spaceman` SET `Status` = %s, `Action` = %s, `Comment` = %s "
            "WHERE `Project` = %s AND `Directory` = %s AND `Volume` = %s",
            (status, action, comment, *key),
        )
    assert changed == 1


def row(
    project: str, directory: str, volume: str, files: int = 1, total: float = 0.5
) -> SpacemanRow:
    return SpacemanRow(
        project, directory, volume, files, total, 0.25, 0.0, 0.0, 0.0, 3.5, None, 1.0, None
    )


# ------------------------------------------------------------------------ the sink


def test_merge_keeps_decisions_and_touches_only_the_run_volumes(database: Database) -> None:
    first = [
        row("projects", "*TOTAL*", "118"),
        row("projects/a", "x", "118"),
        row("projects", "*TOTAL*", "115"),
    ]
    assert merge_into_spaceman(database, first, ["118", "115"]) == MergeCounts(3, 0, 0)
    before = by_key(database)
    assert before[("projects/a", "x", "118")]["Status"] == "no decision"
    assert before[("projects/a", "x", "118")]["Action"] == "no decision"
    assert before[("projects/a", "x", "118")]["Comment"] == ""
    assert before[("projects/a", "x", "118")]["PI"] == "-"
    assert before[("projects/a", "x", "118")]["Unix Group"] == "-"
    decide(database, ("projects", "*TOTAL*", "118"), "keep", "none", "ok")

    second = [row("projects", "*TOTAL*", "118", files=7, total=2.0), row("projects/b", "y", "118")]
    assert merge_into_spaceman(database, second, ["118"]) == MergeCounts(1, 1, 1)
    after = by_key(database)
    assert set(after) == {
        ("projects", "*TOTAL*", "118"),
        ("projects/b", "y", "118"),
        ("projects", "*TOTAL*", "115"),  # volume 115 was not in the run
    }
    kept = after[("projects", "*TOTAL*", "118")]
    assert kept["index"] == before[("projects", "*TOTAL*", "118")]["index"]
    assert (kept["Status"], kept["Action"], kept["Comment"]) == ("keep", "none", "ok")
    assert (kept["Files"], kept["Total"]) == (7, 2.0)
    assert after[("projects", "*TOTAL*", "115")] == before[("projects", "*TOTAL*", "115")]
    assert dump(database, "spaceman_tmp") == []


def test_merge_is_one_transaction(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    merge_into_spaceman(
        database, [row("projects", "*TOTAL*", "118"), row("projects/a", "x", "118")], ["118"]
    )
    decide(database, ("projects/a", "x", "118"), "keep", "none", "ok")
    before = dump(database)
    # Fail at the last statement but one, after the deletes and the updates.
    monkeypatch.setattr(spaceman, "_INSERT_NEW", "INSERT INTO `no_such_table` VALUES (%s, %s, %s)")
    with pytest.raises(Exception, match="no_such_table"):
        merge_into_spaceman(
            database, [row("projects", "*TOTAL*", "118", files=9), row("p/n", "z", "118")], ["118"]
        )
    assert dump(database) == before
    assert dump(database, "spaceman_tmp") == []


def test_merge_empties_leftovers_in_spaceman_tmp(database: Database) -> None:
    with database.transaction() as cursor:
        cursor.execute(
            "INSERT INTO `spaceman_tmp` (`Project`, `Directory`, `Volume`) VALUES (%s, %s, %s)",
            ("old", "*TOTAL*", "118"),
        )
    merge_into_spaceman(database, [row("projects", "*TOTAL*", "118")], ["118"])
    assert [key for key in by_key(database)] == [("projects", "*TOTAL*", "118")]
    assert dump(database, "spaceman_tmp") == []


def test_merge_refuses_rows_of_other_volumes_and_duplicate_keys(database: Database) -> None:
    with pytest.raises(ValueError, match="not in the run"):
        merge_into_spaceman(database, [row("projects", "*TOTAL*", "115")], ["118"])
    with pytest.raises(ValueError, match="share"):
        merge_into_spaceman(database, [row("p", "x", "118"), row("p", "x", "118")], ["118"])
    assert dump(database) == []


def test_any_utf8_and_escaped_names_round_trip(database: Database) -> None:
    names = [row("projects/caf\\xe9", "na\\tme\\n", "118"), row("projects/日本", "😀", "118")]
    merge_into_spaceman(database, names, ["118"])
    assert set(by_key(database)) == {row.key for row in names}


# ------------------------------------------------------------------------ the job


DAY2, DAY3, DAY4 = "20261121", "20261122", "20261123"
CAF = "caf\\xe9\\tnew\\nline"

# Day 2: the caf... directory has gone; alpha/fresh is new.
TREE_115_DAY2 = (
    *(r for r in TREE_115 if b"caf" not in r.path),
    d(M0 + b"/projects/alpha/fresh", 1002, 0.5),
    f(M0 + b"/projects/alpha/fresh/f.cram", 1, 0.5),
)
# Day 3: gamma/sub has gone from 118.
TREE_118_DAY3 = tuple(r for r in TREE_118 if b"/sub" not in r.path)


def tosql(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: Path, day: str
) -> tuple[int, str]:
    status = main(["--config", str(config), "inspect", "--tosql", "--date", iso(day)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_tosql_runs_keep_decisions_and_other_volumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str, database: Database
) -> None:
    config = write_config(tmp_path, database_url)

    # Run 1: every row is new.
    write_inputs(tmp_path, DAY1)
    status, output = tosql(tmp_path, capsys, config, DAY1)
    assert status == 0, output
    first = by_key(database)
    assert len(first) == 3 + 11
    # the run's manifest says so; every row also goes into the nightly history (changes)
    assert record.current().rows_written == {"spaceman": 3 + 11, "inspector_history": 3 + 11}
    root_115 = first[("projects", "*TOTAL*", "115")]
    assert {k: root_115[k] for k in ("Files", "Total", "BAM", "CRAM", "VCF", "PEDBED")} == {
        "Files": 12,
        "Total": 5.5,
        "BAM": 3.25,
        "CRAM": 0.5,
        "VCF": 1.0,
        "PEDBED": 0.5,
    }
    # s2.sam's mtime is in the future: it counts as the reference, 0 days
    assert (root_115["Last Modified (days)"], root_115["PI"], root_115["Unix Group"]) == (
        0.0,
        "-",
        "vr-projects",
    )
    assert root_115["Project Total"] == 5.5
    sub = first[("projects/gamma", "sub", "118")]
    assert (sub["PI"], sub["Unix Group"], sub["Status"], sub["Action"], sub["Comment"]) == (
        "-",
        "-",
        "no decision",
        "no decision",
        "",
    )
    assert ("projects/beta", CAF, "115") in first
    assert "projects/beta\t" + CAF in output  # the table is printed too

    decisions = {
        ("projects/alpha", "seq", "115"): ("keep", "archive", "ask Jeff"),
        ("projects", "*TOTAL*", "115"): ("done", "none", "root"),
        ("projects/beta", CAF, "115"): ("delete", "delete", "gone tomorrow"),
        ("projects/gamma", "*TOTAL*", "118"): ("review", "move", "c118"),
        ("projects/gamma", "sub", "118"): ("review", "none", "sub118"),
    }
    for key, decision in decisions.items():
        decide(database, key, *decision)

    # Run 2: one directory gone, one new, the rest updated in place.
    write_inputs(tmp_path, DAY2, tree_115=TREE_115_DAY2)
    status, output = tosql(tmp_path, capsys, config, DAY2)
    assert status == 0, output
    second = by_key(database)
    assert set(second) == (set(first) - {("projects/beta", CAF, "115")}) | {
        ("projects/alpha", "fresh", "115")
    }
    for key in set(first) & set(second):
        assert second[key]["index"] == first[key]["index"], key
        expected = decisions.get(key, ("no decision", "no decision", ""))
        assert (second[key]["Status"], second[key]["Action"], second[key]["Comment"]) == expected
    fresh = second[("projects/alpha", "fresh", "115")]
    assert (fresh["Status"], fresh["Action"], fresh["Comment"]) == (
        "no decision",
        "no decision",
        "",
    )
    assert (fresh["Files"], fresh["CRAM"], fresh["Last Modified (days)"]) == (1, 0.25, 0.5)
    assert (fresh["PI"], fresh["Unix Group"], fresh["Project Total"]) == ("Adams", "team113", 4.75)
    alpha = second[("projects/alpha", "*TOTAL*", "115")]
    # s2.sam (in the future, so 0 days) is still under alpha
    assert (alpha["Files"], alpha["Total"], alpha["Last Modified (days)"]) == (9, 4.75, 0.0)
    assert dump(database, "spaceman_tmp") == []

    # Run 3: volume 118 alone; volume 115's rows stay exactly as they were.
    only_118 = write_config(tmp_path, database_url, volumes="118", name="only118.ini")
    write_mpistat(tmp_path / "mpistat", DAY3, "118", TREE_118_DAY3, fmt=Format.WRSTAT, mtime=REF)
    rows_115 = [r for r in dump(database) if r[3] == "115"]
    status, output = tosql(tmp_path, capsys, only_118, DAY3)
    assert status == 0, output
    third = by_key(database)
    assert [r for r in dump(database) if r[3] == "115"] == rows_115
    assert ("projects/gamma", "sub", "118") not in third
    gamma = third[("projects/gamma", "*TOTAL*", "118")]
    assert gamma["index"] == first[("projects/gamma", "*TOTAL*", "118")]["index"]
    assert (gamma["Status"], gamma["Comment"], gamma["Files"], gamma["Total"]) == (
        "review",
        "c118",
        2,
        1.0,
    )

    # Run 4: one bad volume: nothing at all changes.
    before = dump(database)
    write_inputs(tmp_path, DAY4)
    truncate(tmp_path / "mpistat" / f"{DAY4}_115.dat.gz")
    status, output = tosql(tmp_path, capsys, config, DAY4)
    assert status == 1
    assert "truncated gzip stream" in output and "nothing was written" in output
    assert dump(database) == before
    assert dump(database, "spaceman_tmp") == []


def test_tosql_with_path_is_a_usage_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str, database: Database
) -> None:
    config = write_config(tmp_path, database_url)
    write_inputs(tmp_path, DAY1)
    status = main(
        ["--config", str(config), "inspect", "--tosql", "/lustre/scratch115/projects/alpha"]
    )
    assert status == 2
    assert capsys.readouterr().out == ""
    assert dump(database) == []


def test_a_misspelt_root_keeps_the_volumes_rows_and_degrades_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str, database: Database
) -> None:
    """Issue 15: a misspelt inspector root silently wiped a volume's Status/Action/Comment."""
    config = write_config(tmp_path, database_url)
    write_inputs(tmp_path, DAY1)
    assert tosql(tmp_path, capsys, config, DAY1)[0] == 0
    decide(database, ("projects/gamma", "sub", "118"), "review", "keep", "Jeff's")
    before = dump(database)
    rows_115 = [r for r in before if r[3] == "115"]
    misspelt = config.read_text().replace("hgi/projects", "hgi/projetcs")
    config.write_text(misspelt)

    write_inputs(tmp_path, DAY2)
    status, output = tosql(tmp_path, capsys, config, DAY2)

    assert status == 3
    assert "no records under the roots" in output
    assert "volume 118: no spaceman rows deleted" in output
    assert "roots matched nothing" in output and "--force" in output
    assert output.rstrip().splitlines()[-1].endswith("written but degraded (exit status 3)")
    assert [r for r in dump(database) if r[3] == "118"] == [r for r in before if r[3] == "118"]
    # The rest is published: volume 115 was updated as usual (same tree: same rows).
    assert [r for r in dump(database) if r[3] == "115"] == rows_115

    status, output = tosql_force(capsys, config, DAY2)
    assert status == 0, output
    assert [r for r in dump(database) if r[3] == "118"] == []
    assert [r for r in dump(database) if r[3] == "115"] == rows_115


def tosql_force(capsys: pytest.CaptureFixture[str], config: Path, day: str) -> tuple[int, str]:
    status = main(["--config", str(config), "inspect", "--tosql", "--force", "--date", iso(day)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_deleting_more_than_max_delete_fraction_needs_force(database: Database) -> None:
    first = [
        row("projects", "*TOTAL*", "118"),
        *(row("projects/p", f"d{i}", "118") for i in range(3)),
    ]
    merge_into_spaceman(database, first, ["118"])
    decide(database, ("projects/p", "d0", "118"), "review", "keep", "mine")
    before = by_key(database)

    # 2 of 4 rows gone: exactly the default half, allowed.
    second = [row("projects", "*TOTAL*", "118", files=2), row("projects/p", "d2", "118")]
    counts = merge_into_spaceman(database, [*second, row("projects/p", "new", "118")], ["118"])
    assert (counts.deleted, counts.updated, counts.inserted, counts.withheld) == (2, 2, 1, {})

    # Back to the first four (p/new goes: 1 of 3), then 3 of 4 gone (75% > 50%): none
    # deleted; updates and new rows still go in.
    merge_into_spaceman(database, first, ["118"])
    decide(database, ("projects/p", "d0", "118"), "review", "keep", "mine")
    kept = by_key(database)
    counts = merge_into_spaceman(
        database,
        [row("projects", "*TOTAL*", "118", files=9), row("projects/q", "x", "118")],
        ["118"],
    )
    assert (counts.deleted, counts.updated, counts.inserted) == (0, 1, 1)
    assert "would delete 3 of its 4 spaceman rows" in counts.withheld["118"]
    assert "max_delete_fraction = 0.5" in counts.withheld["118"]
    after = by_key(database)
    assert set(after) == set(kept) | {("projects/q", "x", "118")}
    assert after[("projects", "*TOTAL*", "118")]["Files"] == 9
    assert after[("projects/p", "d0", "118")]["Comment"] == "mine"
    assert len(before) == 4

    # A higher share, or force, lets the same deletions through.
    rows_now = [row("projects", "*TOTAL*", "118", files=9)]
    counts = merge_into_spaceman(database, rows_now, ["118"], max_delete_fraction=0.7)
    assert counts.withheld and counts.deleted == 0  # 4 of 5 gone: still above 0.7
    counts = merge_into_spaceman(database, rows_now, ["118"], max_delete_fraction=0.9)
    assert (counts.deleted, counts.withheld) == (4, {})
    merge_into_spaceman(database, first, ["118"])
    counts = merge_into_spaceman(database, [], ["118"])
    assert counts.deleted == 0 and "roots matched nothing" in counts.withheld["118"]
    counts = merge_into_spaceman(database, [], ["118"], force=True)
    assert (counts.deleted, counts.withheld) == (4, {})
    assert dump(database) == []


def test_second_mdt_of_a_project_merges_into_one_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str, database: Database
) -> None:
    config = write_config(tmp_path, database_url, volumes="115")
    records = (
        d(b"/lustre/scratch115", 0, 1),
        f(M0 + b"/projects/p/a.bam", 1, 2),
        f(M1 + b"/projects/p/b.bam", 1, 3),
    )
    write_mpistat(tmp_path / "mpistat", DAY1, "115", records, mtime=REF)
    assert tosql(tmp_path, capsys, config, DAY1)[0] == 0
    rows = by_key(database)
    assert set(rows) == {("projects", "*TOTAL*", "115"), ("projects/p", "*TOTAL*", "115")}
    assert (
        rows[("projects/p", "*TOTAL*", "115")]["Files"],
        rows[("projects/p", "*TOTAL*", "115")]["BAM"],
    ) == (2, 0.5)


def test_mysql_keys_compare_names_exactly(mysql_db: Database) -> None:
    # A trailing space makes another directory, and a 480-character one fits.
    long_name = "d" * 480
    with mysql_db.transaction() as cursor:
        for directory in ("dir", "dir ", long_name):
            cursor.execute(
                "INSERT INTO `spaceman` (`Project`, `Directory`, `Volume`) VALUES (%s, %s, %s)",
                ("projects/x", directory, "118"),
            )
    rows = mysql_db.query("SELECT `Directory` FROM `spaceman` ORDER BY `index`")
    assert [r[0] for r in rows] == ["dir", "dir ", long_name]
