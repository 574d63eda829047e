"""The tables as the downstream programs see them (CLIENTS.md), on the real MariaDB and SQLite.

Weaver reads `lustre_usage` through dbplyr, which matches column names case-sensitively;
Spaceman compares the rows in the browser with the table, so its numbers must survive
the round trip (DOUBLE). Names and types are read back the way a client sees them:
information_schema.COLUMNS on MySQL, the result's own column names, pragma_table_info
on SQLite. Older tables (the legacy's `isHumgen`, FLOAT numbers, a TEXT comment) are
brought to this shape in place by `humgen-storage schema`, keeping rows and `index`.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pymysql
import pytest

from humgen_storage.cli import main
from humgen_storage.config import DatabaseConfig
from humgen_storage.db import COMMENT_CHARACTERS, Database, open_database
from humgen_storage.inspect.spaceman import SpacemanRow, merge_into_spaceman
from humgen_storage.mpistat.patterns import Format
from tests.helpers import write_mpistat
from tests.inspect.sites import write_config
from tests.inspect.trees import REF, d, f
from tests.services.mysql import _server, session_server

# SPEC section 9, in table order: (exact name, information_schema DATA_TYPE).
LUSTRE_USAGE = [
    ("id", "int"),
    ("Lustre Volume", "varchar"),
    ("PI", "varchar"),
    ("Unix Group", "varchar"),
    ("Used (bytes)", "bigint"),
    ("Quota (bytes)", "bigint"),
    ("Consumption", "varchar"),
    ("Last Modified (days)", "decimal"),
    ("Archived Directories", "varchar"),
    ("date", "date"),
    ("IsHumgen", "tinyint"),
]
SPACEMAN = [
    ("index", "int"),
    ("Project", "varchar"),
    ("Directory", "varchar"),
    ("Volume", "varchar"),
    ("Files", "bigint"),
    ("Total", "double"),
    ("BAM", "double"),
    ("CRAM", "double"),
    ("VCF", "double"),
    ("PEDBED", "double"),
    ("Last Modified (days)", "double"),
    ("PI", "varchar"),
    ("Project Total", "double"),
    ("Status", "varchar"),
    ("Action", "varchar"),
    ("Comment", "varchar"),
    ("Unix Group", "varchar"),
]
# What Weaver selects, spelled as its dbplyr code spells it.
WEAVER_SELECTS = (
    "Lustre Volume",
    "PI",
    "Unix Group",
    "Used (bytes)",
    "Quota (bytes)",
    "Consumption",
    "Last Modified (days)",
    "Archived Directories",
    "IsHumgen",
    "date",
)

COLUMNS = (
    "SELECT `COLUMN_NAME`, `DATA_TYPE`, `CHARACTER_MAXIMUM_LENGTH`, `NUMERIC_PRECISION`,"
    " `NUMERIC_SCALE` FROM information_schema.`COLUMNS`"
    " WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` = %s ORDER BY `ORDINAL_POSITION`"
)


def mysql_columns(db: Database, table: str) -> list[tuple[str, str]]:
    return [(str(name), str(kind)) for name, kind, *_ in db.query(COLUMNS, (table,))]


def mysql_column(db: Database, table: str, name: str) -> tuple[object, ...]:
    (found,) = [row for row in db.query(COLUMNS, (table,)) if row[0] == name]
    return found


def result_names(db: Database, statement: str) -> list[str]:
    """Column names as a client gets them from a result set (what dbplyr matches)."""
    cursor = db.connection.cursor()
    try:
        cursor.execute(statement)
        cursor.fetchall()
        return [column[0] for column in cursor.description]
    finally:
        cursor.close()


def sqlite_columns(path: Path, table: str) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as connection:
        return [
            (str(name), str(declared))
            for name, declared in connection.execute(
                "SELECT name, type FROM pragma_table_info(?)", (table,)
            )
        ]


@pytest.fixture
def fresh_mysql() -> Iterator[tuple[str, pymysql.connections.Connection]]:
    """A database of its own (for legacy-shaped tables): its URL and an admin connection."""
    host, port, user, password = _server()
    name = f"humgen_test_{uuid.uuid4().hex[:12]}"
    admin = pymysql.connect(
        host=host, port=port, user=user, password=password, autocommit=True, connect_timeout=5
    )
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    admin.select_db(name)
    try:
        # The URL carries the password: the config written from it needs nothing else.
        yield session_server().url(name), admin
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def schema_config(tmp_path: Path, url: str) -> str:
    return str(write_config(tmp_path, url, volumes="118", name="schema.ini"))


# ------------------------------------------------------------ names and types


def test_mysql_names_and_types_as_weaver_and_spaceman_see_them(mysql_db: Database) -> None:
    assert mysql_columns(mysql_db, "lustre_usage") == LUSTRE_USAGE
    assert mysql_columns(mysql_db, "spaceman") == SPACEMAN
    assert mysql_columns(mysql_db, "spaceman_tmp") == SPACEMAN
    # DECIMAL(12,1), and the comment limit the README names
    assert mysql_column(mysql_db, "lustre_usage", "Last Modified (days)")[3:] == (12, 1)
    assert mysql_column(mysql_db, "spaceman", "Comment")[2] == COMMENT_CHARACTERS
    # dbplyr takes the names from the result set and compares them exactly
    names = result_names(mysql_db, "SELECT * FROM `lustre_usage`")
    assert set(WEAVER_SELECTS) <= set(names)
    assert "isHumgen" not in names


def test_sqlite_names_and_types(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    open_database(DatabaseConfig(url=f"sqlite:///{path}")).close()
    assert sqlite_columns(path, "lustre_usage") == [
        ("id", "INTEGER"),
        ("Lustre Volume", "TEXT"),
        ("PI", "TEXT"),
        ("Unix Group", "TEXT"),
        ("Used (bytes)", "BIGINT"),
        ("Quota (bytes)", "BIGINT"),
        ("Consumption", "TEXT"),
        ("Last Modified (days)", "DECIMAL(12,1)"),
        ("Archived Directories", "TEXT"),
        ("date", "DATE"),
        ("IsHumgen", "TINYINT"),
    ]
    spaceman_types = {"index": "INTEGER", "Files": "BIGINT", "Comment": "VARCHAR(4096)"}
    expected = [
        (name, spaceman_types.get(name, "DOUBLE" if kind == "double" else "TEXT"))
        for name, kind in SPACEMAN
    ]
    assert sqlite_columns(path, "spaceman") == expected
    assert sqlite_columns(path, "spaceman_tmp") == expected


# ------------------------------------------------------------ comments


def spaceman_row(total: float) -> SpacemanRow:
    return SpacemanRow(
        "projects/a", "*TOTAL*", "118", 1, total, 0.0, 0.0, 0.0, 0.0, 2.5, None, total, None
    )


def set_comment(db: Database, comment: str) -> None:
    with db.transaction() as cursor:
        cursor.execute("UPDATE `spaceman` SET `Comment` = %s WHERE `Volume` = %s", (comment, "118"))


def test_a_comment_up_to_the_limit_is_kept_whole_and_a_longer_one_refused(
    database: Database,
) -> None:
    merge_into_spaceman(database, [spaceman_row(0.5)], ["118"])
    longest = "🙂é" * (COMMENT_CHARACTERS // 2)  # characters, not bytes (utf8mb4)
    set_comment(database, longest)
    with pytest.raises((pymysql.err.DataError, sqlite3.IntegrityError)):
        set_comment(database, longest + "x")
    assert database.query("SELECT `Comment` FROM `spaceman`") == [(longest,)]


def test_the_products_mysql_session_is_strict(mysql_db: Database) -> None:
    ((mode,),) = mysql_db.query("SELECT @@SESSION.sql_mode")
    assert "STRICT_ALL_TABLES" in str(mode).split(",")


def test_spaceman_numbers_survive_the_round_trip(database: Database) -> None:
    # Spaceman's save compares the values it shows with the table's: a FLOAT column holds
    # 0.10000000149011612 for 0.1, compares unequal, and every row in view is rewritten.
    merge_into_spaceman(database, [spaceman_row(0.1)], ["118"])
    assert database.query("SELECT `Total`, `Project Total` FROM `spaceman`") == [(0.1, 0.1)]
    same = database.query(
        "SELECT COUNT(*) FROM `spaceman` WHERE `Total` = %s AND `Project Total` = %s", (0.1, 0.1)
    )
    assert same == [(1,)]


# ------------------------------------------------------------ future mtimes


def test_inspect_tosql_future_only_directory_is_0_days_in_spaceman(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mysql_db: Database, mysql_url: str
) -> None:
    top = b"/lustre/scratch118/humgen/hgi/projects"
    tree = (
        d(b"/lustre/scratch118", 0, 100),
        d(top, 1001, 10),
        d(top + b"/fut", 1002, -3),  # the directory and its file both later than the crawl
        f(top + b"/fut/x.bam", 2, -1),
        d(top + b"/old", 1001, 7),
        f(top + b"/old/a.vcf", 1, 8),
    )
    write_mpistat(tmp_path / "mpistat", "20261120", "118", tree, fmt=Format.WRSTAT, mtime=REF)
    config = write_config(tmp_path, mysql_url, volumes="118")
    assert main(["--config", str(config), "inspect", "--tosql", "--date", "2026-11-20"]) == 0
    printed = capsys.readouterr().out.splitlines()
    # Sizes in units of 0.25 TiB; Last Modified by hand: future -> the reference, 0.0
    assert printed[1:] == [
        "projects\t*TOTAL*\t0.75\t0.5\t0.0\t0.25\t0.0\t2\t0.0\tBarrett\thgi\t118\t0.75",
        "projects/fut\t*TOTAL*\t0.5\t0.5\t0.0\t0.0\t0.0\t1\t0.0\tAdams\tteam113\t118\t0.5",
        "projects/old\t*TOTAL*\t0.25\t0.0\t0.0\t0.25\t0.0\t1\t7.0\tBarrett\thgi\t118\t0.25",
    ]
    stored = mysql_db.query(
        "SELECT `Project`, `Last Modified (days)` FROM `spaceman` ORDER BY `Project`"
    )
    assert stored == [("projects", 0.0), ("projects/fut", 0.0), ("projects/old", 7.0)]


# ------------------------------------------------------------ older tables


LEGACY_USAGE = (
    "CREATE TABLE `lustre_usage` (`id` INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " `Lustre Volume` VARCHAR(255) NOT NULL, `PI` VARCHAR(255), `Unix Group` VARCHAR(255) NOT NULL,"
    " `Used (bytes)` BIGINT NOT NULL, `Quota (bytes)` BIGINT, `Consumption` VARCHAR(255),"
    " `Last Modified (days)` DECIMAL(12,1), `Archived Directories` VARCHAR(255),"
    " `date` DATE NOT NULL, `isHumgen` TINYINT(1) NOT NULL,"
    " UNIQUE KEY `volume_group_date` (`Lustre Volume`, `Unix Group`, `date`))"
)
LEGACY_USAGE_ROWS = (
    "INSERT INTO `lustre_usage` (`id`, `Lustre Volume`, `PI`, `Unix Group`, `Used (bytes)`,"
    " `Quota (bytes)`, `Consumption`, `Last Modified (days)`, `Archived Directories`, `date`,"
    " `isHumgen`) VALUES (3, 'scratch118', 'Barrett', 'hgi', 1510, 1024, 'c', 0.5, NULL,"
    " '2026-11-19', 1), (8, 'scratch118', NULL, 'tol', 10, NULL, 'c', 2.0, NULL, '2026-11-19', 0)"
)
# spaceman as the legacy made it (FLOAT, VARCHAR comment); spaceman_tmp as this product
# made it before (FLOAT, TEXT comment).
LEGACY_SPACEMAN = (
    "CREATE TABLE `{table}` (`index` INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " `Project` VARCHAR(255) NOT NULL, `Directory` VARCHAR(480) NOT NULL,"
    " `Volume` VARCHAR(32) NOT NULL, `Files` BIGINT, `Total` FLOAT, `BAM` FLOAT, `CRAM` FLOAT,"
    " `VCF` FLOAT, `PEDBED` FLOAT, `Last Modified (days)` FLOAT, `PI` VARCHAR(255),"
    " `Project Total` FLOAT, `Status` VARCHAR(255), `Action` VARCHAR(255), `Comment` {comment},"
    " `Unix Group` VARCHAR(255){unique})"
)
LEGACY_SPACEMAN_ROWS = (
    "INSERT INTO `spaceman` (`index`, `Project`, `Directory`, `Volume`, `Files`, `Total`, `BAM`,"
    " `CRAM`, `VCF`, `PEDBED`, `Last Modified (days)`, `PI`, `Project Total`, `Status`, `Action`,"
    " `Comment`, `Unix Group`) VALUES"
    " (5, 'projects/a', '*TOTAL*', '118', 3, 4.75, 0.25, 0, 0, 0, 2.5, '-', 4.75, 'done', 'keep',"
    " 'ask Jeff', 'hgi'),"
    " (9, 'projects/b', '*TOTAL*', '118', 1, 0.1, 0, 0, 0, 0, 1, '-', 0.1, 'no decision',"
    " 'archive', '', 'tol')"
)
SPACEMAN_DUMP = (
    "SELECT `index`, `Project`, `Files`, `Total`, `BAM`, `Last Modified (days)`, `Project Total`,"
    " `Status`, `Action`, `Comment` FROM `spaceman` ORDER BY `index`"
)
USAGE_DUMP = "SELECT `id`, `Unix Group`, `IsHumgen` FROM `lustre_usage` ORDER BY `id`"
FLOAT_0_1 = float(np.float32(0.1))  # what a FLOAT column held for 0.1


def test_schema_brings_legacy_mysql_tables_to_shape_in_place(
    tmp_path: Path,
    fresh_mysql: tuple[str, pymysql.connections.Connection],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, admin = fresh_mysql
    with admin.cursor() as cursor:
        cursor.execute(LEGACY_USAGE)
        cursor.execute(LEGACY_USAGE_ROWS)
        unique = ", UNIQUE KEY `project_directory_volume` (`Project`, `Directory`, `Volume`)"
        cursor.execute(
            LEGACY_SPACEMAN.format(table="spaceman", comment="VARCHAR(255)", unique=unique)
        )
        cursor.execute(LEGACY_SPACEMAN.format(table="spaceman_tmp", comment="TEXT", unique=""))
        cursor.execute(LEGACY_SPACEMAN_ROWS)
    config = schema_config(tmp_path, url)

    assert main(["--config", config, "schema"]) == 0
    assert "bringing an older table to this schema" in caplog.text

    db = open_database(DatabaseConfig(url=url, password=_server()[3] or None))
    try:
        assert mysql_columns(db, "lustre_usage") == LUSTRE_USAGE
        assert mysql_columns(db, "spaceman") == SPACEMAN
        assert mysql_columns(db, "spaceman_tmp") == SPACEMAN
        assert mysql_column(db, "spaceman", "Comment")[2] == COMMENT_CHARACTERS
        assert mysql_column(db, "spaceman_tmp", "Comment")[2] == COMMENT_CHARACTERS
        assert "IsHumgen" in result_names(db, "SELECT * FROM `lustre_usage`")
        # Rows, ids, the flag and index all kept; FLOAT values widen exactly
        assert db.query(USAGE_DUMP) == [(3, "hgi", 1), (8, "tol", 0)]
        assert db.query(SPACEMAN_DUMP) == [
            (5, "projects/a", 3, 4.75, 0.25, 2.5, 4.75, "done", "keep", "ask Jeff"),
            (9, "projects/b", 1, FLOAT_0_1, 0.0, 1.0, FLOAT_0_1, "no decision", "archive", ""),
        ]

        # The next inspector run updates the numbers in place, keeping index and decisions,
        # and 0.1 now reads back as 0.1.
        merge_into_spaceman(db, [spaceman_row(0.1)], ["118"])
        assert db.query(SPACEMAN_DUMP) == [
            (5, "projects/a", 1, 0.1, 0.0, 2.5, 0.1, "done", "keep", "ask Jeff"),
        ]
    finally:
        db.close()

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["--config", config, "schema"]) == 0  # idempotent: nothing more to alter
    assert "bringing an older table" not in caplog.text


def test_a_legacy_text_comment_too_long_for_the_limit_fails_rather_than_shrinks(
    tmp_path: Path, fresh_mysql: tuple[str, pymysql.connections.Connection]
) -> None:
    url, admin = fresh_mysql
    long_comment = "n" * (COMMENT_CHARACTERS + 1)
    with admin.cursor() as cursor:
        cursor.execute(LEGACY_SPACEMAN.format(table="spaceman", comment="TEXT", unique=""))
        cursor.execute(
            "INSERT INTO `spaceman` (`Project`, `Directory`, `Volume`, `Comment`)"
            " VALUES ('projects/a', '*TOTAL*', '118', %s)",
            (long_comment,),
        )
    assert main(["--config", schema_config(tmp_path, url), "schema"]) == 1
    with admin.cursor() as cursor:
        cursor.execute("SELECT `Comment` FROM `spaceman`")
        assert cursor.fetchall() == ((long_comment,),)


def test_schema_renames_a_legacy_sqlite_column_in_place(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE `lustre_usage` (`id` INTEGER PRIMARY KEY AUTOINCREMENT,"
            " `Lustre Volume` TEXT NOT NULL, `PI` TEXT, `Unix Group` TEXT NOT NULL,"
            " `Used (bytes)` BIGINT NOT NULL, `Quota (bytes)` BIGINT, `Consumption` TEXT,"
            " `Last Modified (days)` DECIMAL(12,1), `Archived Directories` TEXT,"
            " `date` DATE NOT NULL, `isHumgen` TINYINT NOT NULL,"
            " UNIQUE (`Lustre Volume`, `Unix Group`, `date`))"
        )
        connection.execute(
            "INSERT INTO `lustre_usage` (`id`, `Lustre Volume`, `Unix Group`, `Used (bytes)`,"
            " `date`, `isHumgen`) VALUES (3, 'scratch118', 'hgi', 1, '2026-11-19', 1),"
            " (8, 'scratch118', 'tol', 2, '2026-11-19', 0)"
        )
    connection.close()

    assert main(["--config", schema_config(tmp_path, f"sqlite:///{path}"), "schema"]) == 0
    assert [name for name, _ in sqlite_columns(path, "lustre_usage")][-1] == "IsHumgen"
    with sqlite3.connect(path) as connection:
        assert connection.execute(USAGE_DUMP).fetchall() == [(3, "hgi", 1), (8, "tol", 0)]
    connection.close()
