"""The accounting tables (issue 18): names and types on MySQL and SQLite exactly as the
forecast reads them, and their unique keys."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from humgen_storage.config import DatabaseConfig
from humgen_storage.db import Database, open_database

COLUMNS = (
    "SELECT `COLUMN_NAME`, `DATA_TYPE`, `IS_NULLABLE`, `NUMERIC_PRECISION`, `NUMERIC_SCALE`"
    " FROM information_schema.`COLUMNS`"
    " WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` = %s ORDER BY `ORDINAL_POSITION`"
)
UNIQUE_COLUMNS = (
    "SELECT `COLUMN_NAME` FROM information_schema.`STATISTICS` WHERE `TABLE_SCHEMA` = DATABASE()"
    " AND `TABLE_NAME` = %s AND `NON_UNIQUE` = 0 AND `INDEX_NAME` <> 'PRIMARY'"
    " ORDER BY `SEQ_IN_INDEX`"
)

USAGE_BY_USER = [
    ("id", "bigint", "NO"),
    ("date", "date", "NO"),
    ("Lustre Volume", "varchar", "NO"),
    ("Unix Group", "varchar", "NO"),
    ("User", "varchar", "NO"),
    ("Used (bytes)", "bigint", "NO"),
    ("Files", "bigint", "NO"),
    ("Last Modified (days)", "decimal", "NO"),
]
USAGE_QUOTA = [
    ("id", "bigint", "NO"),
    ("date", "date", "NO"),
    ("Lustre Volume", "varchar", "NO"),
    ("Unix Group", "varchar", "NO"),
    ("Files", "bigint", "NO"),
    ("Quota Used (bytes)", "bigint", "YES"),
    ("Quota Used (files)", "bigint", "YES"),
    ("Inode Quota", "bigint", "YES"),
]


def test_mysql_names_types_and_keys(mysql_db: Database) -> None:
    users = mysql_db.query(COLUMNS, ("usage_by_user",))
    assert [(str(n), str(t), str(null)) for n, t, null, *_ in users] == USAGE_BY_USER
    assert [row[3:] for row in users if row[0] == "Last Modified (days)"] == [(12, 1)]
    quota = mysql_db.query(COLUMNS, ("usage_quota",))
    assert [(str(n), str(t), str(null)) for n, t, null, *_ in quota] == USAGE_QUOTA
    assert [row[0] for row in mysql_db.query(UNIQUE_COLUMNS, ("usage_by_user",))] == [
        "date",
        "Lustre Volume",
        "Unix Group",
        "User",
    ]
    assert [row[0] for row in mysql_db.query(UNIQUE_COLUMNS, ("usage_quota",))] == [
        "date",
        "Lustre Volume",
        "Unix Group",
    ]


def test_sqlite_names_and_types(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    open_database(DatabaseConfig(url=f"sqlite:///{path}")).close()
    with sqlite3.connect(path) as connection:
        columns = {
            table: [
                (str(name), str(kind), not notnull)
                for name, kind, notnull in connection.execute(
                    "SELECT name, type, `notnull` FROM pragma_table_info(?)", (table,)
                )
            ]
            for table in ("usage_by_user", "usage_quota")
        }
    assert columns["usage_by_user"] == [
        ("id", "INTEGER", True),  # the rowid: SQLite never stores NULL in it
        ("date", "DATE", False),
        ("Lustre Volume", "TEXT", False),
        ("Unix Group", "TEXT", False),
        ("User", "TEXT", False),
        ("Used (bytes)", "BIGINT", False),
        ("Files", "BIGINT", False),
        ("Last Modified (days)", "DECIMAL(12,1)", False),
    ]
    assert columns["usage_quota"] == [
        ("id", "INTEGER", True),
        ("date", "DATE", False),
        ("Lustre Volume", "TEXT", False),
        ("Unix Group", "TEXT", False),
        ("Files", "BIGINT", False),
        ("Quota Used (bytes)", "BIGINT", True),
        ("Quota Used (files)", "BIGINT", True),
        ("Inode Quota", "BIGINT", True),
    ]


def test_the_unique_keys_refuse_a_second_row(database: Database) -> None:
    user = (
        "INSERT INTO `usage_by_user` (`date`, `Lustre Volume`, `Unix Group`, `User`,"
        " `Used (bytes)`, `Files`, `Last Modified (days)`) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    quota = (
        "INSERT INTO `usage_quota` (`date`, `Lustre Volume`, `Unix Group`, `Files`,"
        " `Quota Used (bytes)`, `Quota Used (files)`, `Inode Quota`)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    with database.transaction() as cursor:
        cursor.execute(user, ("2026-11-20", "scratch118", "hgi", "alice", 2**63 - 1, 3, 0.5))
        cursor.execute(user, ("2026-11-20", "scratch118", "hgi", "alice ", 1, 1, 0.0))
        cursor.execute(quota, ("2026-11-20", "scratch118", "hgi", 4, None, None, None))
    for statement, row in (
        (user, ("2026-11-20", "scratch118", "hgi", "alice", 1, 1, 0.0)),
        (quota, ("2026-11-20", "scratch118", "hgi", 1, 1, 1, 1)),
    ):
        with pytest.raises(Exception, match="(?i)duplicate|unique"):
            with database.transaction() as cursor:
                cursor.execute(statement, row)
    rows = database.query("SELECT `User`, `Used (bytes)` FROM `usage_by_user` ORDER BY `User`", ())
    assert [(name, int(used)) for name, used in rows] == [("alice", 2**63 - 1), ("alice ", 1)]
