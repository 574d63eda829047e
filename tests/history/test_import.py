"""history import: legacy report TSVs (CRLF, `3` for whole days, `-` for NULL) into lustre_usage."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.history.legacy import LegacyFormatError, parse
from tests.helpers import base_sections, write_ini

HEADER = (
    "Lustre Volume\tPI\tUnix Group\tUsed (bytes)\tQuota (bytes)\tConsumption"
    "\tLast Modified (days)\tArchived Directories\tIs Humgen?"
)
# As the legacy wrote them: CRLF, NULL as '-', 3 for three whole days, quotas of a
# column that held a NULL printed as floats, Consumption as it was.
LEGACY = (
    "\r\n".join(
        [
            HEADER,
            "scratch118\tSmith\thgi\t1099511627776\t5497558138880.0\t1.0 TiB of 5.0 TiB (20.0%)"
            "\t3\t-\tTrue",
            "scratch118\t-\tteam113\t2048\t-\t0.0 TiB\t12.5\t/lustre/scratch118/humgen/old/team113"
            "\tFalse",
            "scratch115\t-\t4242\t0\t0\t0.0 TiB (Unlimited)\t0\t-\tFalse",
        ]
    )
    + "\r\n"
)
EXPECTED = [
    ("scratch115", None, "4242", 0, 0, "0.0 TiB (Unlimited)", 0.0, None, "2024-03-05", 0),
    (
        "scratch118",
        "Smith",
        "hgi",
        1099511627776,
        5497558138880,
        "1.0 TiB of 5.0 TiB (20.0%)",
        3.0,
        None,
        "2024-03-05",
        1,
    ),
    (
        "scratch118",
        None,
        "team113",
        2048,
        None,
        "0.0 TiB",
        12.5,
        "/lustre/scratch118/humgen/old/team113",
        "2024-03-05",
        0,
    ),
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_ini(tmp_path / "humgen_storage.ini", base_sections(tmp_path))


def rows(tmp_path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "usage.db") as db:
        return db.execute(
            "SELECT `Lustre Volume`, `PI`, `Unix Group`, `Used (bytes)`, `Quota (bytes)`,"
            " `Consumption`, `Last Modified (days)`, `Archived Directories`, `date`, `IsHumgen`"
            " FROM lustre_usage ORDER BY `date`, `Lustre Volume`, `Unix Group`"
        ).fetchall()


def legacy_file(folder: Path, stamp: str, text: str = LEGACY) -> Path:
    path = folder / f"report-{stamp}.tsv"
    path.write_bytes(text.encode())
    return path


def test_a_legacy_tsv_is_imported_as_written(config: Path, tmp_path: Path) -> None:
    path = legacy_file(tmp_path, "20240305")

    assert main(["--config", str(config), "history", "import", str(path)]) == 0

    assert rows(tmp_path) == EXPECTED


def test_importing_again_changes_nothing_and_loaded_dates_are_left(
    config: Path, tmp_path: Path
) -> None:
    first = legacy_file(tmp_path, "20240305")
    assert main(["--config", str(config), "history", "import", str(first)]) == 0
    # The same date again, with other numbers: the database's rows stay.
    other = tmp_path / "again"
    other.mkdir()
    changed = legacy_file(other, "20240305", LEGACY.replace("2048", "4096"))
    second = legacy_file(tmp_path, "20240306")

    assert main(["--config", str(config), "history", "import", str(changed), str(second)]) == 0

    imported = rows(tmp_path)
    assert imported[:3] == EXPECTED
    assert [row[8] for row in imported[3:]] == ["2024-03-06"] * 3


def test_a_bad_file_is_named_and_the_others_are_imported(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = legacy_file(tmp_path, "20240305")
    bad = legacy_file(tmp_path, "20240306", LEGACY.replace("\tTrue", "\tyes"))

    assert main(["--config", str(config), "history", "import", str(good), str(bad)]) == 3

    assert rows(tmp_path) == EXPECTED  # the bad file's date has nothing: one transaction
    err = capsys.readouterr().err
    assert f"{bad}: line 2: Is Humgen? is neither True nor False: 'yes'" in err
    assert main(["--config", str(config), "history", "import", str(bad)]) == 1


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("report-20240305.tsv", "Volume\tGroup\r\n", "line 1 is not the report's header"),
        ("report-2024035.tsv", LEGACY, "not named report-YYYYMMDD.tsv"),
        ("report-20241305.tsv", LEGACY, "20241305 is not a date"),
        (
            "report-20240305.tsv",
            HEADER + "\r\nscratch118\t-\thgi\t1.5\t-\t-\t3\t-\tTrue\r\n",
            "line 2: Used (bytes) is not a whole number of bytes: '1.5'",
        ),
        (
            "report-20240305.tsv",
            HEADER + "\r\nscratch118\t-\thgi\t1\t-\t-\t3\t-\r\n",
            "line 2: 8 fields, not 9",
        ),
        (
            "report-20240305.tsv",
            LEGACY + "scratch118\t-\thgi\t1\t-\t-\t3\t-\tFalse\r\n",
            "line 5: scratch118 hgi is on an earlier line too",
        ),
    ],
)
def test_what_is_not_a_legacy_tsv(name: str, text: str, message: str) -> None:
    with pytest.raises(LegacyFormatError, match=re.escape(message)):
        parse(Path(name), text.encode())


def test_lines_ending_in_lf_read_the_same() -> None:
    crlf = parse(Path("report-20240305.tsv"), LEGACY.encode())
    lf = parse(Path("report-20240305.tsv"), LEGACY.replace("\r\n", "\n").encode())
    assert crlf == lf and len(crlf) == 3
