"""A real MariaDB database per test session, on a private server the suite starts.

By default the suite runs its own ``mariadbd``: a data directory made by
``mariadb-install-db`` in a private temporary directory, its socket there, TCP on a
free port of 127.0.0.1 only, and one account, ``humgen_test``@``127.0.0.1``, with a
random password (the data directory's root account authenticates by Unix socket
only). It starts once per session (when a test first needs MySQL), and stops at the
end of the session or when the test process dies (``PR_SET_PDEATHSIG``). A server
already running on the host is never used or changed.

``$HUMGEN_TEST_MYSQL_URL`` (``mysql://user@host:port``, password in
``$HUMGEN_TEST_MYSQL_PASSWORD``) points the suite at another server instead. Either
way a uniquely named database is created for the session and dropped at the end.
The binaries are ``$HUMGEN_TEST_MARIADBD`` or ``mariadbd``/``mysqld`` on PATH or in
sbin, and ``mariadb-install-db``/``mysql_install_db`` beside them or on PATH. A
missing server is a test failure, never a skip.
"""

from __future__ import annotations

import atexit
import ctypes
import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote, urlsplit

import pymysql
import pytest

from humgen_storage.config import DatabaseConfig
from humgen_storage.db import Database, open_database

URL_ENV = "HUMGEN_TEST_MYSQL_URL"
PASSWORD_ENV = "HUMGEN_TEST_MYSQL_PASSWORD"
MARIADBD_ENV = "HUMGEN_TEST_MARIADBD"
TEST_USER = "humgen_test"
STARTUP_TIMEOUT = 30.0
MARIADBD_CANDIDATES = ("/usr/sbin/mariadbd", "/usr/sbin/mysqld", "/usr/libexec/mysqld")
INSTALL_DB_NAMES = ("mariadb-install-db", "mysql_install_db")
# A small, fast, throwaway server: no binary log, little memory, no durability (its
# data lives for one session).
SERVER_OPTIONS = (
    "--skip-log-bin",
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=4M",
    "--innodb-data-file-path=ibdata1:4M:autoextend",
    "--innodb-doublewrite=0",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-flush-method=nosync",
    "--character-set-server=utf8mb4",
)
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class MysqlServer:
    """Where the tests' MySQL server answers, and the account they use."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    socket_path: Path | None = None  # private servers only
    pid: int | None = None  # private servers only

    def url(self, database: str = "") -> str:
        """``mysql://user[:password]@host:port/database`` (the password URL-quoted)."""
        secret = f":{quote(self.password, safe='')}" if self.password else ""
        return f"mysql://{quote(self.user, safe='')}{secret}@{self.host}:{self.port}/{database}"

    def connect(self, **options: object) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            connect_timeout=5,
            **options,  # type: ignore[arg-type]
        )


def _fail(message: str) -> NoReturn:
    context = " (CI)" if os.environ.get("CI") == "true" else ""
    pytest.fail(f"MySQL/MariaDB test server{context}: {message}", pytrace=False)


# ------------------------------------------------------------------ the session's server

_session_server: MysqlServer | None = None


def _server() -> tuple[str, int, str, str]:
    """host, port, user, password of the session's server (started on first use)."""
    server = session_server()
    return server.host, server.port, server.user, server.password


def session_server() -> MysqlServer:
    """The configured server, else the session's private one, started once."""
    global _session_server
    if _session_server is None:
        if os.environ.get(URL_ENV):
            parts = urlsplit(os.environ[URL_ENV])
            _session_server = MysqlServer(
                parts.hostname or "127.0.0.1",
                parts.port or 3306,
                parts.username or "root",
                os.environ.get(PASSWORD_ENV, ""),
            )
        else:
            manager = running_mariadb()
            _session_server = manager.__enter__()
            atexit.register(manager.__exit__, None, None, None)
    return _session_server


@contextmanager
def running_mariadb() -> Iterator[MysqlServer]:
    """A private mariadbd for as long as the context lasts (a test that must stop or
    freeze a server starts its own with this)."""
    binary = _find_mariadbd()
    with tempfile.TemporaryDirectory(prefix="humgen-mariadb-") as temporary:
        workdir = Path(temporary)
        workdir.chmod(0o700)
        _install_db(binary, workdir / "data")
        process, server = _start(binary, workdir)
        try:
            yield server
        finally:
            _stop(process)


def _find_mariadbd() -> str:
    candidates = [os.environ.get(MARIADBD_ENV), shutil.which("mariadbd"), shutil.which("mysqld")]
    for candidate in [*candidates, *MARIADBD_CANDIDATES]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    _fail(
        "no mariadbd found (install mariadb-server: `make services`), or set "
        f"{MARIADBD_ENV}, or {URL_ENV} for an existing server"
    )


def _os_user() -> str:
    return getpass.getuser()


def _install_db(binary: str, datadir: Path) -> None:
    beside = [str(Path(binary).parent.parent / "bin" / name) for name in INSTALL_DB_NAMES]
    found = [shutil.which(name) for name in INSTALL_DB_NAMES]
    tool = next((c for c in [*found, *beside] if c and os.access(c, os.X_OK)), None)
    if tool is None:
        _fail("mariadb-install-db not found beside " + binary)
    result = subprocess.run(
        [
            tool,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--user={_os_user()}",
            "--auth-root-authentication-method=socket",
            f"--auth-root-socket-user={_os_user()}",
            "--skip-test-db",
            *SERVER_OPTIONS,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace").strip()[-2000:]
        _fail(f"{tool} failed: {output}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: the server gets SIGTERM when the test process dies, however."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _init_file(workdir: Path, password: str) -> Path:
    """SQL the server runs at start: the one TCP account, with a random password."""
    path = workdir / "init.sql"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            f"CREATE USER IF NOT EXISTS '{TEST_USER}'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
            f"GRANT ALL PRIVILEGES ON *.* TO '{TEST_USER}'@'127.0.0.1' WITH GRANT OPTION;\n"
        )
    return path


def _start(binary: str, workdir: Path) -> tuple[subprocess.Popen[bytes], MysqlServer]:
    """Start mariadbd in the foreground so that we own it; retry if a port picked as
    free was taken before the server could bind it."""
    password = secrets.token_hex(16)  # hex: no quoting needed in the init file
    init_file = _init_file(workdir, password)
    log_path = workdir / "error.log"
    socket_path = workdir / "mysqld.sock"
    for _attempt in range(3):
        port = _free_port()
        process = subprocess.Popen(
            [
                binary,
                "--no-defaults",
                f"--datadir={workdir / 'data'}",
                f"--socket={socket_path}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={workdir / 'mysqld.pid'}",
                f"--log-error={log_path}",
                f"--init-file={init_file}",
                f"--user={_os_user()}",
                *SERVER_OPTIONS,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
        )
        server = MysqlServer("127.0.0.1", port, TEST_USER, password, socket_path, process.pid)
        if _wait_until_answering(process, server):
            return process, server
        _stop(process)
    last_error = log_path.read_text(errors="replace").strip()[-2000:] if log_path.exists() else ""
    _fail(f"{binary} did not start or answer within {STARTUP_TIMEOUT:.0f}s: {last_error}")


def _wait_until_answering(process: subprocess.Popen[bytes], server: MysqlServer) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            server.connect().close()
            return True
        except pymysql.MySQLError:
            time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def mysql_server() -> MysqlServer:
    return session_server()


@pytest.fixture(scope="session")
def mysql_url(mysql_server: MysqlServer) -> Iterator[str]:
    """URL of a fresh database on the test server (dropped after the session); it
    carries the password, so a config holding it needs nothing else."""
    name = f"humgen_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = mysql_server.connect()
    except pymysql.MySQLError as exc:
        _fail(
            f"{mysql_server.user}@{mysql_server.host}:{mysql_server.port} is not answering: {exc}"
        )
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield mysql_server.url(name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def mysql_db(mysql_url: str) -> Iterator[Database]:
    """An open connection to the session database with empty tables."""
    database = open_database(DatabaseConfig(url=mysql_url, password=None))
    with database.transaction() as cursor:
        cursor.execute("DELETE FROM `lustre_usage`")
        cursor.execute("DELETE FROM `spaceman`")
        cursor.execute("DELETE FROM `spaceman_tmp`")
        cursor.execute("DELETE FROM `usage_by_user`")
        cursor.execute("DELETE FROM `usage_quota`")
    try:
        yield database
    finally:
        database.close()
