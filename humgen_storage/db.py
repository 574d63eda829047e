"""The database sink: MySQL (production, through pymysql) or SQLite (embedded default).

Both speak the same SQL here: identifiers are quoted with backticks (SQLite accepts
them for compatibility) and statements are written with ``%s`` placeholders, which
are turned into ``?`` for sqlite3. Every value is a bound parameter; no identifier
is ever built from data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from humgen_storage.changes.schema import MYSQL_INSPECTOR_HISTORY, SQLITE_INSPECTOR_HISTORY
from humgen_storage.config import DatabaseConfig
from humgen_storage.db_connect import MysqlTarget as MysqlTarget
from humgen_storage.db_connect import (
    connect_mysql,
    connect_sqlite,
    mysql_collation,
    mysql_outage,
)
from humgen_storage.db_connect import parse_url as parse_url
from humgen_storage.db_connect import redact as redact
from humgen_storage.db_tables import (
    ACCOUNTING_MYSQL_SCHEMA,
    ACCOUNTING_SQLITE_SCHEMA,
    MYSQL_DERIVED_SCHEMA,
    SQLITE_DERIVED_SCHEMA,
)
from humgen_storage.errors import DatabaseError

log = logging.getLogger(__name__)


# -- schema -------------------------------------------------------------------------------

_USAGE_COLUMNS = """
    `Lustre Volume` {text} NOT NULL,
    `PI` {text},
    `Unix Group` {text} NOT NULL,
    `Used (bytes)` BIGINT NOT NULL,
    `Quota (bytes)` BIGINT,
    `Consumption` {text},
    `Last Modified (days)` DECIMAL(12,1),
    `Archived Directories` {text},
    `date` DATE NOT NULL,
    `IsHumgen` TINYINT NOT NULL
"""

_SPACEMAN_COLUMNS = """
    `Project` {text} NOT NULL,
    `Directory` {directory} NOT NULL,
    `Volume` {short} NOT NULL,
    `Files` BIGINT,
    `Total` DOUBLE,
    `BAM` DOUBLE,
    `CRAM` DOUBLE,
    `VCF` DOUBLE,
    `PEDBED` DOUBLE,
    `Last Modified (days)` DOUBLE,
    `PI` {text},
    `Project Total` DOUBLE,
    `Status` {text},
    `Action` {text},
    `Comment` {long},
    `Unix Group` {text}
"""

# People's notes in Spaceman: long enough for a paragraph. A longer one is refused by
# the database (the product's MySQL session is strict, and SQLite gets a CHECK), never
# cut short; the product itself only ever writes '' here, for new rows.
COMMENT_CHARACTERS = 4096
_MYSQL_COMMENT = f"VARCHAR({COMMENT_CHARACTERS})"
_SQLITE_COMMENT = f"VARCHAR({COMMENT_CHARACTERS}) CHECK (length(`Comment`) <= {COMMENT_CHARACTERS})"

# MySQL: utf8mb4 so any name fits, with a binary collation so names compare as bytes.
# The unique keys must fit InnoDB's 3072-byte limit at 4 bytes a character:
# Project 255 + Directory 480 + Volume 32 characters = 3068 bytes.
# "utf8mb4_bin" is replaced by the server's NO PAD binary collation where it has one
# (see _mysql_collation), so that "dir" and "dir " are different keys.
MYSQL_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS `lustre_usage` (`id` INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    + _USAGE_COLUMNS.format(text="VARCHAR(255)")
    + ", UNIQUE KEY `volume_group_date` (`Lustre Volume`, `Unix Group`, `date`)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS `spaceman` (`index` INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    + _SPACEMAN_COLUMNS.format(
        text="VARCHAR(255)", directory="VARCHAR(480)", short="VARCHAR(32)", long=_MYSQL_COMMENT
    )
    + ", UNIQUE KEY `project_directory_volume` (`Project`, `Directory`, `Volume`)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS `spaceman_tmp` (`index` INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    + _SPACEMAN_COLUMNS.format(
        text="VARCHAR(255)", directory="VARCHAR(480)", short="VARCHAR(32)", long=_MYSQL_COMMENT
    )
    + ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    MYSQL_INSPECTOR_HISTORY,
) + ACCOUNTING_MYSQL_SCHEMA

SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS `lustre_usage` (`id` INTEGER PRIMARY KEY AUTOINCREMENT,"
    + _USAGE_COLUMNS.format(text="TEXT")
    + ", UNIQUE (`Lustre Volume`, `Unix Group`, `date`))",
    "CREATE TABLE IF NOT EXISTS `spaceman` (`index` INTEGER PRIMARY KEY AUTOINCREMENT,"
    + _SPACEMAN_COLUMNS.format(text="TEXT", directory="TEXT", short="TEXT", long=_SQLITE_COMMENT)
    + ", UNIQUE (`Project`, `Directory`, `Volume`))",
    "CREATE TABLE IF NOT EXISTS `spaceman_tmp` (`index` INTEGER PRIMARY KEY AUTOINCREMENT,"
    + _SPACEMAN_COLUMNS.format(text="TEXT", directory="TEXT", short="TEXT", long=_SQLITE_COMMENT)
    + ")",
    SQLITE_INSPECTOR_HISTORY,
) + ACCOUNTING_SQLITE_SCHEMA


# -- bringing older tables to this shape ----------------------------------------------
# Tables made by the legacy scripts, or by earlier versions of this product, are altered
# in place: rows, `id` and `index` are kept (Spaceman addresses its edits by `index`).
# Every statement is fixed text; the database's own description of the columns only
# decides which of them run.

_TABLES = ("lustre_usage", "spaceman", "spaceman_tmp")
_SPACEMAN_TABLES = ("spaceman", "spaceman_tmp")
# The legacy wrote `IsHumgen`; Weaver's dbplyr selects it by that exact spelling.
_LEGACY_IS_HUMGEN = "isHumgen"
# Spaceman's numbers as SPEC section 9 has them (information_schema DATA_TYPE): DOUBLE
# survives the round trip through the browser, FLOAT does not.
SPACEMAN_NUMBER_TYPES = {
    "Files": "bigint",
    "Total": "double",
    "BAM": "double",
    "CRAM": "double",
    "VCF": "double",
    "PEDBED": "double",
    "Last Modified (days)": "double",
    "Project Total": "double",
}

_MYSQL_COLUMNS = (
    "SELECT `TABLE_NAME`, `COLUMN_NAME`, `DATA_TYPE`, `CHARACTER_MAXIMUM_LENGTH`, `IS_NULLABLE`"
    " FROM information_schema.`COLUMNS`"
    " WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` IN (%s, %s, %s)"
)
_SQLITE_COLUMNS = "SELECT `name`, `type`, NOT `notnull` FROM pragma_table_info(%s)"

# The rename keeps the column's nullability: a legacy column that holds NULLs stays
# loadable rather than failing the job that first meets it.
_MYSQL_RENAME_IS_HUMGEN = {
    False: "ALTER TABLE `lustre_usage` CHANGE COLUMN `isHumgen` `IsHumgen` TINYINT NOT NULL",
    True: "ALTER TABLE `lustre_usage` CHANGE COLUMN `isHumgen` `IsHumgen` TINYINT NULL",
}
_SQLITE_RENAME_IS_HUMGEN = "ALTER TABLE `lustre_usage` RENAME COLUMN `isHumgen` TO `IsHumgen`"
_MYSQL_SPACEMAN_NUMBERS = {
    table: f"ALTER TABLE `{table}` "
    + ", ".join(
        f"MODIFY `{column}` {data_type.upper()}"
        for column, data_type in SPACEMAN_NUMBER_TYPES.items()
    )
    for table in _SPACEMAN_TABLES
}
# Only ever widened: a site's longer VARCHAR is left alone. A TEXT comment longer than
# the limit makes the ALTER fail (strict session) instead of being cut short.
_MYSQL_SPACEMAN_COMMENT = {
    table: f"ALTER TABLE `{table}` MODIFY `Comment` {_MYSQL_COMMENT}" for table in _SPACEMAN_TABLES
}
# The product's MySQL session refuses a value that does not fit its column (too long a
# name or comment, too big a number) instead of storing it cut short with a warning.
_MYSQL_STRICT_SESSION = (
    "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')"
)


@dataclass(frozen=True)
class ColumnShape:
    """One column as the database describes it (MySQL: information_schema.COLUMNS)."""

    data_type: str  # MySQL DATA_TYPE (``double``, ``varchar``, ...); SQLite's declared type
    length: int | None  # CHARACTER_MAXIMUM_LENGTH (MySQL only)
    nullable: bool


def _mysql_upgrades(columns: dict[tuple[str, str], ColumnShape]) -> list[str]:
    """The ALTER statements that bring older MySQL tables to this schema, in order."""
    statements = []
    legacy = columns.get(("lustre_usage", _LEGACY_IS_HUMGEN))
    if legacy is not None:
        statements.append(_MYSQL_RENAME_IS_HUMGEN[legacy.nullable])
    for table in _SPACEMAN_TABLES:
        numbers = [columns.get((table, column)) for column in SPACEMAN_NUMBER_TYPES]
        if any(
            shape is not None and shape.data_type != data_type
            for shape, data_type in zip(numbers, SPACEMAN_NUMBER_TYPES.values(), strict=True)
        ):
            statements.append(_MYSQL_SPACEMAN_NUMBERS[table])
        comment = columns.get((table, "Comment"))
        if comment is not None and (
            comment.data_type != "varchar" or (comment.length or 0) < COMMENT_CHARACTERS
        ):
            statements.append(_MYSQL_SPACEMAN_COMMENT[table])
    return statements


def _no_outage(exc: BaseException) -> DatabaseError | None:
    return None


class Database:
    """A connection with explicit transactions; the same SQL text on both back ends.

    ``outage`` turns the driver's error for a server that went away or fell silent into
    a one-line DatabaseError naming it (``db_connect.mysql_outage``); other errors pass.
    """

    def __init__(
        self,
        connection: Any,
        dialect: str,
        description: str,
        outage: Callable[[BaseException], DatabaseError | None] = _no_outage,
    ) -> None:
        self.connection = connection
        self.dialect = dialect
        self.description = description
        self.outage = outage

    def _sql(self, statement: str) -> str:
        return statement.replace("%s", "?") if self.dialect == "sqlite" else statement

    def _mysql_collation(self) -> str:
        return mysql_collation(str(self.query("SELECT VERSION()")[0][0]))

    def create_schema(self) -> None:
        statements: tuple[str, ...]
        if self.dialect == "sqlite":
            statements = SQLITE_SCHEMA + SQLITE_DERIVED_SCHEMA
        else:
            collation = self._mysql_collation()  # one of three fixed names, never input data
            statements = tuple(
                s.replace("utf8mb4_bin", collation) for s in MYSQL_SCHEMA + MYSQL_DERIVED_SCHEMA
            )
        with self.transaction() as cursor:
            for statement in statements:
                cursor.execute(statement)
            for upgrade in self._upgrades(cursor):
                log.warning("bringing an older table to this schema: %s", upgrade)
                cursor.execute(upgrade)

    def columns(self, cursor: Cursor) -> dict[tuple[str, str], ColumnShape]:
        """(table, column name exactly as stored) -> shape, for the product's tables."""
        shapes: dict[tuple[str, str], ColumnShape] = {}
        if self.dialect == "sqlite":
            for table in _TABLES:
                cursor.execute(_SQLITE_COLUMNS, (table,))
                for name, declared, nullable in cursor.fetchall():
                    shapes[(table, name)] = ColumnShape(str(declared), None, bool(nullable))
        else:
            cursor.execute(_MYSQL_COLUMNS, _TABLES)
            for table, name, data_type, length, nullable in cursor.fetchall():
                shapes[(table, name)] = ColumnShape(
                    str(data_type).lower(),
                    None if length is None else int(length),
                    nullable == "YES",
                )
        return shapes

    def _upgrades(self, cursor: Cursor) -> list[str]:
        columns = self.columns(cursor)
        if self.dialect == "sqlite":
            # FLOAT and DOUBLE are both REAL (8-byte IEEE) in SQLite: only the name changes.
            return (
                [_SQLITE_RENAME_IS_HUMGEN] if ("lustre_usage", _LEGACY_IS_HUMGEN) in columns else []
            )
        return _mysql_upgrades(columns)

    @contextmanager
    def _outages(self, after: str = "") -> Iterator[None]:
        """Raise a lost or silent server as the one-line DatabaseError naming it."""
        try:
            yield
        except Exception as exc:
            outage = self.outage(exc)
            if outage is None:
                raise
            raise DatabaseError(f"{outage}{after}") from None

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        with self._outages():
            if self.dialect == "sqlite":
                self.connection.execute("BEGIN IMMEDIATE")
            else:
                self.connection.begin()
            cursor = Cursor(self, self.connection.cursor())
        try:
            yield cursor
        except BaseException:
            self._rollback()
            with self._outages():
                raise
        else:
            # A server that falls silent at the commit may have committed before it did.
            with self._outages("; whether the commit took effect is unknown"):
                self.connection.commit()
        finally:
            cursor.close()

    def _rollback(self) -> None:
        """Roll back; on a connection already lost the server rolls back by itself."""
        try:
            self.connection.rollback()
        except Exception as exc:
            if self.outage(exc) is None:
                raise
            log.debug("rollback on %s: %s", self.description, exc)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._outages():
            cursor = self.connection.cursor()
            try:
                cursor.execute(self._sql(statement), tuple(params))
                rows = [tuple(row) for row in cursor.fetchall()]
            finally:
                cursor.close()
            if self.dialect == "mysql":
                self.connection.commit()  # end the read's implicit transaction (fresh snapshot)
        return rows

    def close(self) -> None:
        try:
            self.connection.close()
        except Exception as exc:  # pymysql: "Already closed" after a lost connection
            log.debug("closing %s: %s", self.description, exc)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Cursor:
    """A cursor that accepts ``%s`` placeholders on both back ends."""

    def __init__(self, database: Database, cursor: Any) -> None:
        self.database = database
        self.cursor = cursor

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        self.cursor.execute(self.database._sql(statement), tuple(params))
        return int(self.cursor.rowcount)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self.database._sql(statement), [tuple(row) for row in rows])

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.cursor.fetchall()]

    def close(self) -> None:
        self.cursor.close()


def open_database(
    cfg: DatabaseConfig, base_dir: Path | None = None, create_database: bool = False
) -> Database:
    """Connect, and create the tables when missing (the jobs create missing tables too).

    The database itself (a MySQL database, an SQLite file's directory) is made only with
    ``create_database`` (``schema --create-database``); otherwise its absence is an error.
    """
    target = parse_url(cfg, base_dir)
    if isinstance(target, Path):
        connection = connect_sqlite(target, create_directory=create_database)
        database = Database(connection, "sqlite", f"sqlite:///{target}")
    else:
        connection = connect_mysql(target, cfg, _MYSQL_STRICT_SESSION, create_database)
        outage = partial(mysql_outage, target=target, cfg=cfg)
        database = Database(connection, "mysql", repr(target), outage)
    try:
        database.create_schema()
    except DatabaseError:  # an outage: the message names the server already
        database.close()
        raise
    except Exception as exc:
        database.close()
        raise DatabaseError(f"cannot create tables in {database.description}: {exc}") from None
    return database
