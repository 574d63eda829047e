"""A real MariaDB/MySQL database per test run.

The server comes from ``$HUMGEN_TEST_MYSQL_URL`` (default ``mysql://root@127.0.0.1:3306``);
the password, if any, from ``$HUMGEN_TEST_MYSQL_PASSWORD``. A uniquely named database is
created for the session and dropped at the end. No server is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pymysql
import pytest

from humgen_storage.config import DatabaseConfig
from humgen_storage.db import Database, open_database

DEFAULT_SERVER = "mysql://root@127.0.0.1:3306"


def _server() -> tuple[str, int, str, str]:
    parts = urlsplit(os.environ.get("HUMGEN_TEST_MYSQL_URL", DEFAULT_SERVER))
    password = os.environ.get("HUMGEN_TEST_MYSQL_PASSWORD", "")
    return parts.hostname or "127.0.0.1", parts.port or 3306, parts.username or "root", password


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """URL of a fresh database on the test server (dropped after the session)."""
    host, port, user, password = _server()
    name = f"humgen_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = pymysql.connect(
            host=host, port=port, user=user, password=password, connect_timeout=5
        )
    except pymysql.MySQLError as exc:
        pytest.fail(f"MySQL/MariaDB test server {user}@{host}:{port} is not answering: {exc}")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"mysql://{user}@{host}:{port}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def mysql_db(mysql_url: str) -> Iterator[Database]:
    """An open connection to the session database with empty tables."""
    password = _server()[3] or None
    database = open_database(DatabaseConfig(url=mysql_url, password=password))
    with database.transaction() as cursor:
        cursor.execute("DELETE FROM `lustre_usage`")
        cursor.execute("DELETE FROM `spaceman`")
        cursor.execute("DELETE FROM `spaceman_tmp`")
    try:
        yield database
    finally:
        database.close()
