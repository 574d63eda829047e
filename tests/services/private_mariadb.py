"""A private MariaDB server a test starts itself, to freeze (SIGSTOP) without harming others.

Its own datadir, socket and pid file in a temporary directory, a free loopback port,
root with an empty password (``mariadb-install-db --auth-root-authentication-method=
normal``). Never the shared server on 3306: freezing that one would stall every other
test and engineer using it. ``frozen()`` stops the server and always continues it;
leaving the ``private_mariadb`` context continues and stops the server, even when the
test failed. Missing binaries are a test failure, never a skip (``make services``
installs mariadb-server). Holds no tests.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

STARTUP_SECONDS = 60.0
STOP_SECONDS = 30.0
SERVER_CANDIDATES = ("/usr/sbin/mariadbd", "/usr/sbin/mysqld", "/usr/libexec/mariadbd")


@dataclass
class PrivateMariadb:
    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, database: str) -> str:
        return f"mysql://root@{self.host}:{self.port}/{database}"

    def admin(self) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host, port=self.port, user="root", password="", connect_timeout=5
        )

    def create_database(self, name: str) -> str:
        with self.admin() as connection, connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return self.url(name)

    def freeze(self) -> None:
        """SIGSTOP, and wait until the kernel has stopped it: the signal is delivered
        asynchronously, and on a loaded machine the server could otherwise still answer
        the next statement (the test would then time out on the commit instead)."""
        os.kill(self.process.pid, signal.SIGSTOP)
        tasks = Path(f"/proc/{self.process.pid}/task")
        for _ in range(1000):
            # Every thread stopped; the state is the field after the parenthesised name.
            states = {
                (task / "stat").read_text().rsplit(")", 1)[1].split()[0] for task in tasks.iterdir()
            }
            if states == {"T"}:
                return
            time.sleep(0.001)
        raise RuntimeError(f"MariaDB {self.process.pid} did not stop after SIGSTOP")

    def thaw(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """The server stopped (it accepts TCP connections in the kernel, and says nothing)."""
        self.freeze()
        try:
            yield
        finally:
            self.thaw()


def _binary(candidates: tuple[str, ...], name: str) -> str:
    found = shutil.which(name) or next((c for c in candidates if os.access(c, os.X_OK)), None)
    if found is None:
        pytest.fail(f"{name} not found: run `make services` (installs mariadb-server)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(host: str, port: int) -> bool:
    try:
        pymysql.connect(host=host, port=port, user="root", password="", connect_timeout=1).close()
    except pymysql.MySQLError:
        return False
    return True


@contextmanager
def private_mariadb() -> Iterator[PrivateMariadb]:
    server_binary = _binary(SERVER_CANDIDATES, "mariadbd")
    install = _binary(("/usr/bin/mariadb-install-db",), "mariadb-install-db")
    user = getpass.getuser()  # mariadbd refuses root unless told
    with tempfile.TemporaryDirectory(prefix="humgen-mariadb-") as scratch:
        base = Path(scratch)
        datadir = base / "data"
        installed = subprocess.run(
            [install, "--no-defaults", f"--datadir={datadir}", f"--user={user}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             "--skip-name-resolve"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if installed.returncode != 0:
            pytest.fail(f"mariadb-install-db failed: {installed.stderr[-2000:]}")
        port = _free_port()
        process = subprocess.Popen(
            [server_binary, "--no-defaults", f"--datadir={datadir}", f"--user={user}",
             f"--socket={base / 'mysqld.sock'}", f"--pid-file={base / 'mysqld.pid'}",
             f"--port={port}", "--bind-address=127.0.0.1", "--skip-name-resolve",
             "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--performance-schema=OFF",
             f"--log-error={base / 'error.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        server = PrivateMariadb("127.0.0.1", port, process)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _answers(server.host, port):
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (base / "error.log").read_text(errors="replace")[-2000:]
                    pytest.fail(f"private MariaDB on port {port} did not start: {log}")
                time.sleep(0.1)
            yield server
        finally:
            server.thaw()
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
