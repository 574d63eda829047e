"""`humgen-storage inspect` end to end: input sets, the pool, PATH queries, output formats.

The trees are those of tests/inspect/trees.py (volume 115, base64, two MDTs) and a
small volume 118 in the wrstat format. Expected lines are worked out by hand: sizes
are multiples of U = 0.25 TiB = 256 GiB.
"""

from __future__ import annotations

import binascii
import datetime as dt
import gzip
import os
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.config.load import load_config
from humgen_storage.db import open_database
from humgen_storage.errors import JobFailed, OutputError
from humgen_storage.inspect import job as inspect
from humgen_storage.inspect.job import done_marker, run_managed
from humgen_storage.mpistat.patterns import Format
from humgen_storage.run.inputs import set_for_date
from tests.helpers import write_mpistat
from tests.inspect.sites import DAY1, iso, truncate, write_config, write_inputs
from tests.inspect.trees import M0, REF, ROOTS_118, TREE_115, TREE_118, U, d, f
from tests.services.tmpfs import small_disk

# Every test runs on the compiled kernel and on the numpy path (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("kernel_path")

HEADER = (
    "Project\tDirectory\tTotal\tBAM\tCRAM\tVCF\tPED/BED\tFiles\tLast Modified (days)\t"
    "PI\tUnix Group\tVolume\tProject Total"
)
ROWS_118 = [
    "projects\t*TOTAL*\t1.25\t0.25\t0.75\t0.25\t0.0\t3\t4.0\tBarrett\thgi\t118\t1.25",
    "projects/gamma\t*TOTAL*\t1.25\t0.25\t0.75\t0.25\t0.0\t3\t4.0\tAdams\tteam113\t118\t1.25",
    "projects/gamma\tsub\t0.25\t0.25\t0.0\t0.0\t0.0\t1\t9.0\t-\t-\t118\t1.25",
]
ROWS_115 = [
    # s2.sam's mtime is in the future: projects, alpha and seq are 0 days old
    "projects\t*TOTAL*\t5.5\t3.25\t0.5\t1.0\t0.5\t12\t0.0\t-\tvr-projects\t115\t5.5",
    "projects/alpha\t*TOTAL*\t4.5\t3.25\t0.5\t0.25\t0.25\t8\t0.0\tBarrett\thgi\t115\t4.5",
    "projects/alpha\tseq\t4.0\t3.25\t0.5\t0.25\t0.0\t6\t0.0\tAdams\tteam113\t115\t4.5",
    "projects/alpha\tusers\t0.25\t0.0\t0.0\t0.0\t0.25\t1\t50.0\tBarrett\thgi\t115\t4.5",
    "projects/alpha\tusers/alice\t0.25\t0.0\t0.0\t0.0\t0.25\t1\t50.0\t-\tusers\t115\t4.5",
    "projects/beta\t*TOTAL*\t0.75\t0.0\t0.0\t0.5\t0.25\t3\t3.0\t-\ttol\t115\t0.75",
    "projects/beta\tUsers\t0.5\t0.0\t0.0\t0.5\t0.0\t1\t60.0\t-\ttol\t115\t0.75",
    "projects/beta\tUsers/bob\t0.5\t0.0\t0.0\t0.5\t0.0\t1\t60.0\t-\tcellgen\t115\t0.75",
    "projects/beta\tcaf\\xe9\\tnew\\nline\t0.25\t0.0\t0.0\t0.0\t0.25\t1\t62.0\t-\tvr-projects\t115\t0.75",
    "teams\t*TOTAL*\t0.25\t0.0\t0.25\t0.0\t0.0\t1\t70.0\tAdams\tteam113\t115\t0.25",
    "teams/t113\t*TOTAL*\t0.25\t0.0\t0.25\t0.0\t0.0\t1\t70.0\tAdams\tteam113\t115\t0.25",
]


def run_cli(
    capsys: pytest.CaptureFixture[str], config: Path, *args: str
) -> tuple[int, list[str], str]:
    status = main(["--config", str(config), "inspect", *args])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def test_every_volume_in_config_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path)
    status, lines, err = run_cli(capsys, config, "--date", iso(DAY1))
    assert status == 0, err
    assert lines == [HEADER, *ROWS_118, *ROWS_115]
    assert "[scratch115]" in err  # log lines go to stderr and name their volume


def test_pool_of_two_workers_gives_the_same_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, workers=2, volumes="115 118")
    write_inputs(tmp_path)
    status, lines, err = run_cli(capsys, config, "--date", iso(DAY1), "--noheader")
    assert status == 0, err
    assert lines == [*ROWS_115, *ROWS_118]


def test_newest_complete_set_is_used_without_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    today = dt.date.today()
    write_inputs(tmp_path, day=(today - dt.timedelta(days=1)).strftime("%Y%m%d"))
    # Today's set is incomplete (no 115): yesterday's is the newest complete one.
    write_mpistat(tmp_path / "mpistat", today.strftime("%Y%m%d"), "118", TREE_118[:2], mtime=REF)
    status, lines, err = run_cli(capsys, config, "--noheader")
    assert status == 0, err
    assert lines == [*ROWS_118, *ROWS_115]


def test_depth_0_and_generic_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, volumes="118")
    write_inputs(tmp_path)
    status, lines, err = run_cli(capsys, config, "--date", iso(DAY1), "--generic", "--depth", "1")
    assert status == 0, err
    assert lines == [
        "Directory\tTotal\tBAM\tCRAM\tVCF\tPED/BED\tFiles\tLast Modified (days)\tTotal (bytes)",
        f"projects\t1.25 TiB\t256.0 GiB\t768.0 GiB\t256.0 GiB\t0\t3\t4.0\t{5 * U}",
        f"projects/gamma\t1.25 TiB\t256.0 GiB\t768.0 GiB\t256.0 GiB\t0\t3\t4.0\t{5 * U}",
    ]
    status, lines, err = run_cli(capsys, config, "--date", iso(DAY1), "--depth", "0", "--noheader")
    assert lines == [ROWS_118[0]]


ALPHA_ROWS = ROWS_115[1:5]


@pytest.mark.parametrize(
    "path",
    [
        "/lustre/scratch115/projects/alpha",
        "/lustre/scratch115/realdata/mdt1/projects/alpha",
        "/lustre/scratch115/./realdata//mdt0/projects/alpha/seq/..",
        "/lustre/scratch115/realdata/projects/alpha/",
    ],
)
def test_path_selects_one_project_over_every_mdt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path, day=dt.date.today().strftime("%Y%m%d"))
    status, lines, err = run_cli(capsys, config, path)
    assert status == 0, err
    assert lines == [HEADER, *ALPHA_ROWS]


def test_path_reads_its_volumes_newest_file_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    # Only 118 has a file: a PATH on 118 does not need the others.
    write_mpistat(
        tmp_path / "mpistat",
        dt.date.today().strftime("%Y%m%d"),
        "118",
        TREE_118,
        Format.WRSTAT,
        mtime=REF,
    )
    status, lines, err = run_cli(
        capsys, config, "--noheader", "/lustre/scratch118/projects/gamma/sub"
    )
    assert status == 0, err
    assert lines == [ROWS_118[2]]
    status, lines, err = run_cli(capsys, config, "--noheader", "/lustre/scratch118")
    assert lines == ROWS_118


def test_path_between_mount_and_roots_and_above_the_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path)
    date = ("--date", iso(DAY1), "--noheader")
    status, lines, err = run_cli(capsys, config, *date, "/lustre/scratch115/realdata/mdt0")
    assert lines == ROWS_115
    status, lines, err = run_cli(
        capsys, config, *date, "/lustre/scratch115/projects/alpha/seq/deep"
    )
    assert (status, lines) == (0, [])
    assert "a deeper --depth" in err
    status, lines, err = run_cli(
        capsys, config, *date, "--depth", "3", "/lustre/scratch115/projects/alpha/seq/deep"
    )
    assert lines == [
        "projects/alpha\tseq/deep\t0.25\t0.0\t0.0\t0.25\t0.0\t1\t2.0\tBarrett\thgi\t115\t4.5"
    ]


# A PATH under no configured root, on volume 118: /lustre/scratch118/humgen/teams is
# itself the root. Sizes in U, (U, days ago); gids 1001 hgi (Barrett), 1002 team113
# (Adams), 1006 users (no PI), 4242 unknown.
TEAMS = b"/lustre/scratch118/humgen/teams"
TREE_TEAMS = (
    d(b"/lustre/scratch118", 0, 100),
    d(b"/lustre/scratch118/humgen", 1003, 90),
    # inode 10's first name in the volume, outside the PATH: its bytes go nowhere
    f(b"/lustre/scratch118/humgen/first.bed", 1, 1, nlink=2, inode=10, dev=3),
    d(TEAMS, 1002, 30),
    f(TEAMS + b"/top.txt", 1, 25),  # directly in the PATH: its own row only
    d(TEAMS + b"/t-1", 1001, 20),
    f(TEAMS + b"/t-1/a.bam", 2, 5),
    f(TEAMS + b"/t-1/link.bam", 4, 6, nlink=2, inode=9, dev=3),  # inode 9's first name
    d(TEAMS + b"/t-1/sub", 1006, 9),
    f(TEAMS + b"/t-1/sub/x.vcf.gz", 1, 12),
    d(TEAMS + b"/t-1/sub/deep", 1001, 3),  # below the cut at depth 2: folds into sub
    f(TEAMS + b"/t-1/sub/deep/y.cram", 1, 40),
    d(TEAMS + b"/t-2", 4242, 50),
    f(TEAMS + b"/t-2/link-again.bam", 4, 6, nlink=2, inode=9, dev=3),  # a file, no bytes
    f(TEAMS + b"/t-2/second.bed", 1, 4, nlink=2, inode=10, dev=3),  # a file, no bytes
    f(TEAMS + b"/t-2/notes.ped", 1, 45),
    d(TEAMS + b"-old", 1001, 1),  # the same text, not the same directory
    f(TEAMS + b"-old/z.bam", 8, 1),
    *TREE_118,  # under the configured root: not the PATH's
)
# teams: top.txt 1 + t-1 8 + t-2 1 = 10 U = 2.5 TiB; 8 files; BAM a.bam 2 + link 4 =
# 6 U; newest: deep/ at 3 days.
# t-1: a.bam 2, link.bam 4, x.vcf.gz 1, y.cram 1 = 8 U; 4 files; newest deep/ (3 days).
# t-1/sub: x.vcf.gz, y.cram = 2 U; 2 files; newest deep/ (3 days); group of sub/ (1006).
# t-2: notes.ped 1 U; link-again and second.bed are files without bytes; newest
# second.bed at 4 days.
TEAMS_ROWS = [
    "teams\t*TOTAL*\t2.5\t1.5\t0.25\t0.25\t0.25\t8\t3.0\tAdams\tteam113\t118\t2.5",
    "teams/t-1\t*TOTAL*\t2.0\t1.5\t0.25\t0.25\t0.0\t4\t3.0\tBarrett\thgi\t118\t2.0",
    "teams/t-1\tsub\t0.5\t0.0\t0.25\t0.25\t0.0\t2\t3.0\t-\tusers\t118\t2.0",
    "teams/t-2\t*TOTAL*\t0.25\t0.0\t0.0\t0.0\t0.25\t3\t4.0\t-\t-\t118\t0.25",
]
GENERIC_HEADER = (
    "Directory\tTotal\tBAM\tCRAM\tVCF\tPED/BED\tFiles\tLast Modified (days)\tTotal (bytes)"
)
TEAMS_GENERIC = [
    "teams\t2.5 TiB\t1.5 TiB\t256.0 GiB\t256.0 GiB\t256.0 GiB\t8\t3.0\t2748779069440",
    "teams/t-1\t2.0 TiB\t1.5 TiB\t256.0 GiB\t256.0 GiB\t0\t4\t3.0\t2199023255552",
    "teams/t-1/sub\t512.0 GiB\t0\t256.0 GiB\t256.0 GiB\t0\t2\t3.0\t549755813888",
    "teams/t-2\t256.0 GiB\t0\t0\t0\t256.0 GiB\t3\t4.0\t274877906944",
]


def test_path_under_no_root_is_the_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path, tree_118=TREE_TEAMS)
    date = ("--date", iso(DAY1))
    status, lines, err = run_cli(capsys, config, *date, TEAMS.decode())
    assert status == 0, err
    assert lines == [HEADER, *TEAMS_ROWS]
    assert "the path is the root" in err
    status, lines, err = run_cli(capsys, config, *date, "--generic", TEAMS.decode() + "/")
    assert status == 0, err
    assert lines == [GENERIC_HEADER, *TEAMS_GENERIC]


def test_path_under_no_root_is_cut_at_depth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path, tree_118=TREE_TEAMS)
    date = ("--date", iso(DAY1), "--noheader")
    status, lines, err = run_cli(capsys, config, *date, "--depth", "0", TEAMS.decode())
    assert (status, lines) == (0, TEAMS_ROWS[:1])
    # depth 1: sub/ folds into t-1 (its group is no longer a row's own directory)
    status, lines, err = run_cli(capsys, config, *date, "--depth", "1", TEAMS.decode())
    assert (status, lines) == (0, [TEAMS_ROWS[0], TEAMS_ROWS[1], TEAMS_ROWS[3]])
    status, lines, err = run_cli(capsys, config, *date, "--generic", "--depth", "1", TEAMS.decode())
    assert (status, lines) == (0, [TEAMS_GENERIC[0], TEAMS_GENERIC[1], TEAMS_GENERIC[3]])


def test_path_deep_in_a_tree_under_no_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path, tree_118=TREE_TEAMS)
    date = ("--date", iso(DAY1), "--noheader")
    # y.cram's parent: 1 U, one file, deep/ itself at 3 days, deep/'s group hgi
    status, lines, err = run_cli(capsys, config, *date, TEAMS.decode() + "/t-1/sub/deep")
    assert (status, lines) == (
        0,
        ["deep\t*TOTAL*\t0.25\t0.0\t0.25\t0.0\t0.0\t1\t3.0\tBarrett\thgi\t118\t0.25"],
    )
    status, lines, err = run_cli(
        capsys, config, *date, "--generic", TEAMS.decode() + "/t-1/sub/deep/"
    )
    assert (status, lines) == (0, ["deep\t256.0 GiB\t0\t256.0 GiB\t0\t0\t1\t3.0\t274877906944"])
    # t-2 alone: both its links' first names lie outside it (t-1, and outside the
    # teams), so only notes.ped has bytes; three files; second.bed at 4 days
    status, lines, err = run_cli(capsys, config, *date, TEAMS.decode() + "/t-2/")
    assert (status, lines) == (
        0,
        ["t-2\t*TOTAL*\t0.25\t0.0\t0.0\t0.0\t0.25\t3\t4.0\t-\t-\t118\t0.25"],
    )
    # no records at or below the PATH: nothing printed, said why
    status, lines, err = run_cli(capsys, config, *date, TEAMS.decode() + "/nothing")
    assert (status, lines) == (0, [])
    assert "no records at or below" in err


def test_path_under_no_root_in_base64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path)
    # M0/other holds q.bam (1 U, 1 day) and has no directory record of its own
    status, lines, err = run_cli(
        capsys, config, "--date", iso(DAY1), "--noheader", str(M0.decode()) + "/other"
    )
    assert (status, lines) == (
        0,
        ["other\t*TOTAL*\t0.25\t0.25\t0.0\t0.0\t0.0\t1\t1.0\t-\t-\t115\t0.25"],
    )


@pytest.mark.parametrize(
    "path", ["/nfs/users/alice", "/lustre/scratch999/projects/x", "/lustre", "/"]
)
def test_path_on_no_configured_volume_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path)
    status, lines, err = run_cli(capsys, config, path)
    assert (status, lines) == (2, [])
    assert "not on any inspector volume" in err


def test_tosql_with_a_path_under_no_root_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path, tree_118=TREE_TEAMS)
    status, lines, err = run_cli(capsys, config, "--tosql", TEAMS.decode())
    assert (status, lines) == (2, [])
    assert "--tosql" in err
    assert not (tmp_path / "spaceman.db").exists()


def test_tosql_with_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path)
    status, lines, err = run_cli(capsys, config, "--tosql", "/lustre/scratch115/projects/alpha")
    assert (status, lines) == (2, [])
    assert "--tosql" in err
    assert not (tmp_path / "spaceman.db").exists()


def test_negative_depth_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(capsys, write_config(tmp_path), "--depth", "-1")
    assert status == 2


def test_missing_set_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    status, lines, err = run_cli(capsys, config)
    assert (status, lines) == (1, [])
    assert "no complete set of inspector volumes" in err


def test_bad_volume_fails_the_run_with_one_line_per_volume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    write_inputs(tmp_path)
    truncate(tmp_path / "mpistat" / f"{DAY1}_115.dat.gz")
    status, lines, err = run_cli(capsys, config, "--date", iso(DAY1))
    assert (status, lines) == (1, [])
    assert "truncated gzip stream" in err
    assert "Traceback" not in err


def test_too_many_undecodable_paths_fail_the_volume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Under a root's prefix, base64 characters of a length no padding can fix: the
    # reader's pattern refuses the line (as in every job), and it counts as malformed.
    config = write_config(tmp_path, volumes="115")
    directory = b"/lustre/scratch115/realdata/mdt0/projects/pp/"  # a multiple of 3 bytes
    good = f(directory + b"a.bam", 1, 1).line(Format.BASE64)
    bad = binascii.b2a_base64(directory, newline=False) + b"QQ" + good[good.index(b"\t") :]
    write_mpistat(tmp_path / "mpistat", DAY1, "115", TREE_115, extra_lines=[bad], mtime=REF)
    status, lines, err = run_cli(capsys, config, "--date", iso(DAY1))
    assert (status, lines) == (1, [])
    assert "line 32: malformed, skipped: undecodable base64 path" in err
    assert "1 of 32 lines are malformed" in err


def test_class_names_outside_the_table_are_ignored_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, volumes="118")
    with config.open("a", encoding="utf-8") as handle:
        handle.write("[file_classes]\nfastq = \\.fastq$\nbam = \\.cram$\n")
    write_inputs(tmp_path)
    status, lines, err = run_cli(capsys, config, "--date", iso(DAY1), "--noheader", "--depth", "0")
    assert status == 0, err
    assert lines == [
        "projects\t*TOTAL*\t1.25\t0.75\t0.0\t0.0\t0.0\t3\t4.0\tBarrett\thgi\t118\t1.25"
    ]
    assert "FASTQ" in err


# ------------------------------------------------------------------------ the manager's entry


def test_run_managed_writes_the_done_marker_after_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(str(write_config(tmp_path)))
    write_inputs(tmp_path)
    input_set = set_for_date(
        config.paths.mpistat_dir, config.volumes.inspector, dt.date(2026, 11, 20)
    )
    assert input_set is not None
    marker = done_marker(config, input_set.date)
    assert marker == tmp_path / "reports" / "report-output-files" / "inspector-20261120.tsv"
    assert run_managed(config, input_set) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines() == [HEADER, *ROWS_118, *ROWS_115]
    assert marker.read_text(encoding="utf-8") == printed
    rows = inspect_database_rows(tmp_path)
    assert len(rows) == len(ROWS_118) + len(ROWS_115)


def test_run_managed_failure_writes_no_marker(tmp_path: Path) -> None:
    config = load_config(str(write_config(tmp_path)))
    write_inputs(tmp_path)
    truncate(tmp_path / "mpistat" / f"{DAY1}_118.dat.gz")
    input_set = set_for_date(
        config.paths.mpistat_dir, config.volumes.inspector, dt.date(2026, 11, 20)
    )
    assert input_set is not None
    with pytest.raises(JobFailed):
        run_managed(config, input_set)
    assert not done_marker(config, input_set.date).exists()
    assert not os.listdir(tmp_path / "reports") if (tmp_path / "reports").exists() else True


SPACEMAN_DUMP = (
    "SELECT `index`, `Project`, `Directory`, `Volume`, `Files`, `Total`, `Status`, `Comment`"
    " FROM `spaceman` ORDER BY `index`"
)


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_full_disk_leaves_spaceman_and_the_tsv_as_they_were(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = "sqlite:///spaceman.db"
    if backend == "mysql":
        request.getfixturevalue("mysql_db")  # empties the session database's tables
        url = request.getfixturevalue("mysql_url")
    config = load_config(str(write_config(tmp_path, database_url=url)))
    with (
        small_disk(tmp_path / "reports" / "report-output-files") as disk,
        open_database(config.database, config.source.parent) as db,
    ):
        write_inputs(tmp_path)
        day1 = set_for_date(config.paths.mpistat_dir, ("118", "115"), dt.date(2026, 11, 20))
        assert day1 is not None and run_managed(config, day1) == 0
        with db.transaction() as cursor:  # a person's note, on a row the next day drops
            cursor.execute(
                "UPDATE `spaceman` SET `Status` = %s WHERE `Project` = %s", ("keep", "teams")
            )
        before = db.query(SPACEMAN_DUMP)
        assert ("keep", "teams") in {(row[6], row[1]) for row in before}

        without_teams = tuple(r for r in TREE_115 if b"/teams" not in r.path)
        write_inputs(tmp_path, "20261121", tree_115=without_teams)
        day2 = set_for_date(config.paths.mpistat_dir, ("118", "115"), dt.date(2026, 11, 21))
        assert day2 is not None
        marker = done_marker(config, day2.date)
        disk.fill()
        with pytest.raises(OutputError) as failure:
            run_managed(config, day2)
        assert str(failure.value) == f"cannot write {marker}: No space left on device (ENOSPC)"
        assert db.query(SPACEMAN_DUMP) == before  # nothing committed
        assert disk.files() == ["inspector-20261120.tsv"]  # no marker, no temporary

        disk.free()
        assert run_managed(config, day2) == 0
        assert marker.exists()
        assert "teams" not in {row[1] for row in db.query(SPACEMAN_DUMP)}


def inspect_database_rows(tmp_path: Path) -> list[tuple[object, ...]]:
    import sqlite3

    with sqlite3.connect(tmp_path / "spaceman.db") as connection:
        return connection.execute(
            "SELECT `Project`, `Directory`, `Volume` FROM `spaceman`"
        ).fetchall()


def test_task_is_picklable() -> None:
    import pickle

    task = inspect.VolumeTask(
        source=inspect.InputFile(Path("/x/20261120_118.dat.gz"), dt.date(2026, 11, 20), "118"),
        roots=ROOTS_118,
        file_classes=(("BAM", r"\.bam$"),),
        depth=2,
        max_bad_fraction=0.001,
        log_bad_lines=5,
    )
    assert pickle.loads(pickle.dumps(task)) == task


def test_gzip_members_concatenated_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The crawler may append members; the reader handles them, and so the job.
    config = write_config(tmp_path, volumes="118")
    path = tmp_path / "mpistat" / f"{DAY1}_118.dat.gz"
    path.parent.mkdir(parents=True)
    with path.open("wb") as handle:
        for part in (TREE_118[:3], TREE_118[3:]):
            handle.write(gzip.compress(b"".join(r.line(Format.WRSTAT) for r in part)))
    os.utime(path, (REF, REF))
    status, lines, err = run_cli(capsys, config, "--date", iso(DAY1), "--noheader")
    assert (status, lines) == (0, ROWS_118)


def test_stage_only_and_finalise_match_a_managed_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    single, split = tmp_path / "single", tmp_path / "split"
    for site in (single, split):
        site.mkdir()
        write_inputs(site)
    config = load_config(str(write_config(single)))
    input_set = set_for_date(
        config.paths.mpistat_dir, config.volumes.inspector, dt.date(2026, 11, 20)
    )
    assert input_set is not None
    assert run_managed(config, input_set) == 0
    capsys.readouterr()

    split_config = write_config(split)
    marker = split / "reports" / "report-output-files" / "inspector-20261120.tsv"
    # one volume staged: the finaliser refuses and writes nothing
    assert (
        run_cli(capsys, split_config, "--stage-only", "--volume", "118", "--date", iso(DAY1))[0]
        == 0
    )
    status, _, err = run_cli(capsys, split_config, "--finalise", "--date", iso(DAY1))
    assert status == 1 and "volume 115: not staged" in err
    assert not marker.exists() and not (split / "spaceman.db").exists()

    assert (
        run_cli(capsys, split_config, "--stage-only", "--volume", "115", "--date", iso(DAY1))[0]
        == 0
    )
    assert run_cli(capsys, split_config, "--finalise", "--date", iso(DAY1))[0] == 0
    expected_marker = single / "reports" / "report-output-files" / "inspector-20261120.tsv"
    assert marker.read_bytes() == expected_marker.read_bytes()
    assert sorted(inspect_database_rows(split)) == sorted(inspect_database_rows(single))
    assert not (split / "reports" / ".staging" / "inspect-20261120").exists()


def test_stage_only_needs_a_volume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert run_cli(capsys, config, "--stage-only")[0] == 2
    assert run_cli(capsys, config, "--finalise")[0] == 2
