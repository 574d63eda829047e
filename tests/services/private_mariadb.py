"""A private MariaDB server a test may freeze (SIGSTOP) without harming others.

Started and stopped by ``tests.services.mysql.running_mariadb`` (its own data
directory, socket and free loopback port, an account with a random password), so
there is one way to run a private server. Never the session's shared server:
freezing that one would stall every other test. ``frozen()`` stops the server and
always continues it; leaving the ``private_mariadb`` context continues and stops
the server, even when the test failed. Holds no tests.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymysql

from tests.services.mysql import MysqlServer, running_mariadb


@dataclass
class PrivateMariadb:
    mysql: MysqlServer

    @property
    def pid(self) -> int:
        assert self.mysql.pid is not None  # running_mariadb's servers are ours
        return self.mysql.pid

    @property
    def server(self) -> str:
        return f"{self.mysql.host}:{self.mysql.port}"

    def url(self, database: str) -> str:
        return self.mysql.url(database)

    def admin(self) -> pymysql.connections.Connection:
        return self.mysql.connect()

    def create_database(self, name: str) -> str:
        with self.admin() as connection, connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return self.url(name)

    def freeze(self) -> None:
        """SIGSTOP, and wait until the kernel has stopped it: the signal is delivered
        asynchronously, and on a loaded machine the server could otherwise still answer
        the next statement (the test would then time out on the commit instead)."""
        os.kill(self.pid, signal.SIGSTOP)
        tasks = Path(f"/proc/{self.pid}/task")
        for _ in range(1000):
            # Every thread stopped; the state is the field after the parenthesised name.
            states = {
                (task / "stat").read_text().rsplit(")", 1)[1].split()[0] for task in tasks.iterdir()
            }
            if states == {"T"}:
                return
            time.sleep(0.001)
        raise RuntimeError(f"MariaDB {self.pid} did not stop after SIGSTOP")

    def thaw(self) -> None:
        if Path(f"/proc/{self.pid}").exists():
            os.kill(self.pid, signal.SIGCONT)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """The server stopped (it accepts TCP connections in the kernel, and says nothing)."""
        self.freeze()
        try:
            yield
        finally:
            self.thaw()


@contextmanager
def private_mariadb() -> Iterator[PrivateMariadb]:
    with running_mariadb() as server:
        private = PrivateMariadb(server)
        try:
            yield private
        finally:
            private.thaw()  # a frozen server cannot be stopped
