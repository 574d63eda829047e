"""The database sink: MySQL (production, through pymysql) or SQLite (embedded default).

Both speak the same SQL here: identifiers are quoted with backticks (SQLite accepts
them for compatibility) and statements are written with ``%s`` placeholders, which
are turned into ``?`` for sqlite3. Every value is a bound parameter; no identifier
is ever built from data.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from humgen_storage.config import DatabaseConfig

log = logging.getLogger(__name__)


class DatabaseError(Exception):
    """A database problem, described in one line without secrets."""


@dataclass(frozen=True)
class MysqlTarget:
    host: str
    port: int
    user: str
    database: str
    password: str | None

    def __repr__(self) -> str:  # never show the password
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


def parse_url(cfg: DatabaseConfig, base_dir: Path | None = None) -> MysqlTarget | Path:
    """``mysql://user[:password]@host[:port]/db`` or ``sqlite:///relative`` / ``sqlite:////absolute``."""
    url = cfg.url
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.is_absolute() and base_dir is not None:
            path = (base_dir / path).resolve()
        return path
    parts = urlsplit(url)
    if parts.scheme != "mysql" or not parts.hostname or not parts.path.strip("/"):
        raise DatabaseError(f"bad database url (expected mysql://user@host:port/db): {redact(url)}")
    password = (
        cfg.password
        if cfg.password is not None
        else (unquote(parts.password) if parts.password else None)
    )
    return MysqlTarget(
        host=parts.hostname,
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        database=parts.path.strip("/"),
        password=password,
    )


def redact(url: str) -> str:
    """The URL with any password removed, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


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
    `isHumgen` TINYINT NOT NULL
"""

_SPACEMAN_COLUMNS = """
    `Project` {text} NOT NULL,
    `Directory` {directory} NOT NULL,
    `Volume` {short} NOT NULL,
    `Files` BIGINT,
    `Total` FLOAT,
    `BAM` FLOAT,
    `CRAM` FLOAT,
    `VCF` FLOAT,
    `PEDBED` FLOAT,
    `Last Modified (days)` FLOAT,
    `PI` {text},
    `Project Total` FLOAT,
    `Status` {text},
    `Action` {text},
    `Comment` {long},
    `Unix Group` {text}
"""

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
        text="VARCHAR(255)", directory="VARCHAR(480)", short="VARCHAR(32)", long="TEXT"
    )
    + ", UNIQUE KEY `project_directory_volume` (`Project`, `Directory`, `Volume`)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS `spaceman_tmp` (`index` INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    + _SPACEMAN_COLUMNS.format(
        text="VARCHAR(255)", directory="VARCHAR(480)", short="VARCHAR(32)", long="TEXT"
    )
    + ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
)

SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS `lustre_usage` (`id` INTEGER PRIMARY KEY AUTOINCREMENT,"
    + _USAGE_COLUMNS.format(text="TEXT")
    + ", UNIQUE (`Lustre Volume`, `Unix Group`, `date`))",
    "CREATE TABLE IF NOT EXISTS `spaceman` (`index` INTEGER PRIMARY KEY AUTOINCREMENT,"
    + _SPACEMAN_COLUMNS.format(text="TEXT", directory="TEXT", short="TEXT", long="TEXT")
    + ", UNIQUE (`Project`, `Directory`, `Volume`))",
    "CREATE TABLE IF NOT EXISTS `spaceman_tmp` (`index` INTEGER PRIMARY KEY AUTOINCREMENT,"
    + _SPACEMAN_COLUMNS.format(text="TEXT", directory="TEXT", short="TEXT", long="TEXT")
    + ")",
)


class Database:
    """A connection with explicit transactions; the same SQL text on both back ends."""

    def __init__(self, connection: Any, dialect: str, description: str) -> None:
        self.connection = connection
        self.dialect = dialect
        self.description = description

    def _sql(self, statement: str) -> str:
        return statement.replace("%s", "?") if self.dialect == "sqlite" else statement

    def _mysql_collation(self) -> str:
        version = str(self.query("SELECT VERSION()")[0][0])
        if "mariadb" in version.lower():
            return "utf8mb4_nopad_bin"
        major = version.split(".", 1)[0]
        return "utf8mb4_0900_bin" if major.isdigit() and int(major) >= 8 else "utf8mb4_bin"

    def create_schema(self) -> None:
        statements: tuple[str, ...]
        if self.dialect == "sqlite":
            statements = SQLITE_SCHEMA
        else:
            collation = self._mysql_collation()  # one of three fixed names, never input data
            statements = tuple(s.replace("utf8mb4_bin", collation) for s in MYSQL_SCHEMA)
        with self.transaction() as cursor:
            for statement in statements:
                cursor.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        if self.dialect == "sqlite":
            self.connection.execute("BEGIN IMMEDIATE")
        else:
            self.connection.begin()
        cursor = Cursor(self, self.connection.cursor())
        try:
            yield cursor
        except BaseException:
            self.connection.rollback()
            raise
        else:
            self.connection.commit()
        finally:
            cursor.close()

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(self._sql(statement), tuple(params))
            rows = [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()
        if self.dialect == "mysql":
            self.connection.commit()  # end the read's implicit transaction (fresh snapshot next time)
        return rows

    def close(self) -> None:
        self.connection.close()

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


def open_database(cfg: DatabaseConfig, base_dir: Path | None = None) -> Database:
    """Connect, and create the tables when missing (the jobs create missing tables too)."""
    target = parse_url(cfg, base_dir)
    if isinstance(target, Path):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(target, isolation_level=None, timeout=60)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open SQLite database {target}: {exc}") from None
        database = Database(connection, "sqlite", f"sqlite:///{target}")
    else:
        import pymysql

        try:
            connection = pymysql.connect(
                host=target.host,
                port=target.port,
                user=target.user,
                password=target.password or "",
                database=target.database,
                charset="utf8mb4",
                autocommit=False,
                connect_timeout=30,
            )
        except pymysql.MySQLError as exc:
            # pymysql's messages name the user and host, never the password.
            raise DatabaseError(f"cannot connect to {target!r}: {exc}") from None
        database = Database(connection, "mysql", repr(target))
    try:
        database.create_schema()
    except Exception as exc:
        database.close()
        raise DatabaseError(f"cannot create tables in {database.description}: {exc}") from None
    return database
