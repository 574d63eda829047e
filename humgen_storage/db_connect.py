"""Reaching the database: the URL, connecting with timeouts, a missing database, outages.

Every call to a MySQL server is bounded (``[database] connect_timeout``, ``read_timeout``,
``write_timeout``): a server that accepts the connection and then says nothing (frozen,
overloaded, a half-open network path) fails the run after ``read_timeout`` with one line
naming ``host:port``, instead of holding the run and its lock forever. Messages name the
user, server and database, never the password.

A database that does not exist is never made behind the admin's back: a MySQL database
is created only by ``schema --create-database`` (the message says so, with the exact
``CREATE DATABASE`` to run), and an SQLite URL whose directory is missing is an error
naming the directory, not a new empty database somewhere unexpected.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from humgen_storage.config import DatabaseConfig
from humgen_storage.errors import DatabaseError

log = logging.getLogger(__name__)

# MySQL client and server error numbers (pymysql.constants.CR and ER).
_SERVER_GONE = 2006  # a write failed or timed out
_SERVER_LOST = 2013  # a read failed or timed out
_UNKNOWN_DATABASE = 1049
# Names --create-database will put in a CREATE DATABASE; anything else the admin creates.
_SAFE_DATABASE_NAME = re.compile(r"[0-9A-Za-z_$-]{1,64}")
SQLITE_BUSY_SECONDS = 60  # waiting for another process's write lock on the file


@dataclass(frozen=True)
class MysqlTarget:
    host: str
    port: int
    user: str
    database: str
    password: str | None

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

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


def mysql_collation(version: str) -> str:
    """The server's NO PAD binary utf8mb4 collation (names compare as bytes), by its version."""
    if "mariadb" in version.lower():
        return "utf8mb4_nopad_bin"
    major = version.split(".", 1)[0]
    return "utf8mb4_0900_bin" if major.isdigit() and int(major) >= 8 else "utf8mb4_bin"


# ---------------------------------------------------------------------------- SQLite


def connect_sqlite(path: Path, create_directory: bool = False) -> sqlite3.Connection:
    """The SQLite file (created when missing); its directory must exist unless asked for."""
    if not path.parent.is_dir():
        if not create_directory:
            raise DatabaseError(
                f"sqlite:///{path}: the directory {path.parent} does not exist"
                " (check [database] url, or run: humgen-storage schema --create-database)"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"cannot create the directory {path.parent}: {exc}") from None
        log.warning("created the directory %s for the SQLite database", path.parent)
    try:
        return sqlite3.connect(path, isolation_level=None, timeout=SQLITE_BUSY_SECONDS)
    except (OSError, sqlite3.Error) as exc:
        raise DatabaseError(f"cannot open SQLite database {path}: {exc}") from None


# ----------------------------------------------------------------------------- MySQL


def connect_mysql(
    target: MysqlTarget, cfg: DatabaseConfig, init_command: str, create_database: bool = False
) -> Any:
    """A pymysql connection whose every read and write is bounded by the configured timeouts."""
    import pymysql

    try:
        return _connect(target, cfg, target.database, init_command)
    except pymysql.MySQLError as exc:
        if not (exc.args and exc.args[0] == _UNKNOWN_DATABASE):
            raise _connect_failure(exc, target, cfg) from None
    if not create_database:
        statement = _create_database_statement(target, cfg)
        raise DatabaseError(
            f"database {target.database!r} does not exist on the MySQL server {target.server};"
            f" create it with: {statement} (or run: humgen-storage schema --create-database)"
        )
    _create_database(target, cfg)
    try:
        return _connect(target, cfg, target.database, init_command)
    except pymysql.MySQLError as exc:
        raise _connect_failure(exc, target, cfg) from None


def _connect(target: MysqlTarget, cfg: DatabaseConfig, database: str | None, init: str) -> Any:
    import pymysql

    # pymysql bounds the TCP connect by connect_timeout and every later socket read
    # (the login handshake included) by read_timeout, every send by write_timeout.
    return pymysql.connect(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password or "",
        database=database,
        charset="utf8mb4",
        autocommit=False,
        connect_timeout=cfg.connect_timeout,
        read_timeout=cfg.read_timeout,
        write_timeout=cfg.write_timeout,
        init_command=init or None,
    )


def _create_database_statement(target: MysqlTarget, cfg: DatabaseConfig) -> str:
    """The exact CREATE DATABASE for this server's collation (asked without a database)."""
    import pymysql

    collation = "utf8mb4_bin"
    try:
        with _connect(target, cfg, None, "") as connection, connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            collation = mysql_collation(str(cursor.fetchone()[0]))
    except pymysql.MySQLError as exc:
        log.debug("cannot ask %s for its version: %s", target.server, exc)
    quoted = target.database.replace("`", "``")
    return f"CREATE DATABASE `{quoted}` CHARACTER SET utf8mb4 COLLATE {collation};"


def _create_database(target: MysqlTarget, cfg: DatabaseConfig) -> None:
    import pymysql

    if not _SAFE_DATABASE_NAME.fullmatch(target.database):
        raise DatabaseError(
            f"database name {target.database!r} is not one --create-database makes"
            " (letters, digits, _ $ -, at most 64); create it yourself"
        )
    statement = _create_database_statement(target, cfg)
    try:
        with _connect(target, cfg, None, "") as connection, connection.cursor() as cursor:
            # The name was checked against _SAFE_DATABASE_NAME: identifiers cannot be
            # bound parameters, and this one comes from the admin's configuration.
            cursor.execute(statement.replace("CREATE DATABASE", "CREATE DATABASE IF NOT EXISTS"))
    except pymysql.MySQLError as exc:
        raise DatabaseError(
            f"cannot create database {target.database!r} on {target.server}: {exc}"
        ) from None
    log.warning("created database %s: %s", target.database, statement)


def _connect_failure(exc: Exception, target: MysqlTarget, cfg: DatabaseConfig) -> DatabaseError:
    detail = " ".join(str(exc).split())
    if exc.args and exc.args[0] == _SERVER_LOST and "timed out" in detail:
        # pymysql says "during query" for the login handshake too.
        return DatabaseError(
            f"MySQL server {target.server} accepted the connection but did not answer within"
            f" {cfg.read_timeout:g} s ([database] read_timeout), connecting as {target!r}"
        )
    # pymysql's messages name the user and host, never the password.
    return DatabaseError(f"cannot connect to MySQL server {target.server} as {target!r}: {detail}")


def mysql_outage(
    exc: BaseException, target: MysqlTarget, cfg: DatabaseConfig
) -> DatabaseError | None:
    """The one-line error for a server that went away or fell silent; None for other errors
    (a value that does not fit its column, say, stays the driver's own error)."""
    import pymysql

    if not isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError):
        return None
    detail = " ".join(str(exc).split())
    timed_out = "timed out" in detail and exc.args and exc.args[0] in (_SERVER_LOST, _SERVER_GONE)
    if timed_out and exc.args[0] == _SERVER_LOST:
        return DatabaseError(
            f"MySQL server {target.server} did not answer within {cfg.read_timeout:g} s"
            f" ([database] read_timeout); {target!r}"
        )
    if timed_out:
        return DatabaseError(
            f"MySQL server {target.server} did not take a statement within"
            f" {cfg.write_timeout:g} s ([database] write_timeout); {target!r}"
        )
    if isinstance(exc, pymysql.err.InterfaceError):
        detail = f"the connection is closed ({detail})"
    return DatabaseError(f"MySQL server {target.server} ({target!r}): {detail}")
