"""A database that does not exist (issue 15, deliverable 9): never made behind the admin's
back. A missing MySQL database is an error giving the exact CREATE DATABASE to run, or
``schema --create-database`` makes it; an SQLite URL whose directory is missing is an
error naming the directory, for ``schema`` and for the jobs alike.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from humgen_storage.cli import main
from humgen_storage.db_connect import mysql_collation
from tests.helpers import base_sections, write_ini
from tests.services.mysql import _server
from tests.sites import TODAY, make_site


@pytest.fixture
def missing_mysql_database() -> Iterator[tuple[str, str]]:
    """(url, name) of a database that does not exist on the shared test server; dropped
    at the end in case the test made it."""
    host, port, user, password = _server()
    name = f"humgen_missing_{uuid.uuid4().hex[:12]}"
    try:
        yield f"mysql://{user}@{host}:{port}/{name}", name
    finally:
        admin = pymysql.connect(
            host=host, port=port, user=user, password=password, connect_timeout=5
        )
        with admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def schema_config(tmp_path: Path, url: str) -> str:
    sections = base_sections(tmp_path, database_url=url)
    password = _server()[3]
    if password and url.startswith("mysql://"):
        sections["database"]["password"] = password
    return str(write_ini(tmp_path / "humgen_storage.ini", sections))


def database_exists(name: str) -> bool:
    host, port, user, password = _server()
    with (
        pymysql.connect(host=host, port=port, user=user, password=password) as admin,
        admin.cursor() as cursor,
    ):
        cursor.execute("SHOW DATABASES LIKE %s", (name,))
        return cursor.fetchone() is not None


def server_collation() -> str:
    """The NO PAD binary collation this server has (MariaDB, MySQL 8, older)."""
    host, port, user, password = _server()
    with pymysql.connect(host=host, port=port, user=user, password=password) as admin:
        return mysql_collation(admin.get_server_info())


def database_collation(name: str) -> tuple[str, str]:
    host, port, user, password = _server()
    with (
        pymysql.connect(host=host, port=port, user=user, password=password) as admin,
        admin.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME"
            " FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            (name,),
        )
        row = cursor.fetchone()
    return str(row[0]), str(row[1])


def test_schema_on_a_missing_mysql_database_says_what_to_run(
    tmp_path: Path,
    missing_mysql_database: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, name = missing_mysql_database
    host, port, _, _ = _server()
    config = schema_config(tmp_path, url)

    assert main(["--config", config, "schema"]) == 1

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        f"schema: database '{name}' does not exist on the MySQL server {host}:{port};"
        f" create it with: CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE"
        f" {server_collation()}; (or run: humgen-storage schema --create-database);"
        " nothing was written"
    ]
    assert not database_exists(name)


def test_schema_create_database_makes_it_with_the_binary_collation(
    tmp_path: Path, missing_mysql_database: tuple[str, str]
) -> None:
    url, name = missing_mysql_database
    config = schema_config(tmp_path, url)

    assert main(["--config", config, "schema", "--create-database"]) == 0
    assert database_collation(name) == ("utf8mb4", server_collation())
    # and then it is an ordinary, idempotent schema run
    assert main(["--config", config, "schema"]) == 0


def test_schema_on_sqlite_in_a_missing_directory_names_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "not-made" / "usage.db"
    config = schema_config(tmp_path, f"sqlite:///{path}")

    assert main(["--config", config, "schema"]) == 1

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        f"schema: sqlite:///{path}: the directory {path.parent} does not exist (check"
        " [database] url, or run: humgen-storage schema --create-database); nothing was written"
    ]
    assert not path.parent.exists()
    assert main(["--config", config, "schema", "--create-database"]) == 0
    assert path.is_file()


def test_a_job_on_sqlite_in_a_missing_directory_fails_and_makes_nothing(
    tmp_path: Path, lfs_quotas: None, caplog: pytest.LogCaptureFixture
) -> None:
    site = make_site(tmp_path)
    text = site.config.read_text(encoding="utf-8")
    missing = site.root / "gone" / "usage.db"
    site.config.write_text(text.replace(str(site.database), str(missing)), encoding="utf-8")
    site.add_set(TODAY)

    assert main(site.argv("manage", "report")) == 1

    assert any(
        f"the directory {missing.parent} does not exist" in r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR
    )
    assert not missing.parent.exists()
    assert not site.tsv(TODAY).exists()
