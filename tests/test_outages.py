"""Outages (SPEC section 11): a server that accepts the connection and then says nothing
fails the run within its configured timeout, with one line naming the server.

The database is a private MariaDB this module starts and freezes with SIGSTOP (never the
shared server); LDAP and S3 are loopback sockets that accept and never answer. Elapsed
times are asserted only as upper bounds, to prove there is no hang.
"""

from __future__ import annotations

import configparser
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from humgen_storage.config import DatabaseConfig, LdapConfig, S3Config
from humgen_storage.db import open_database
from humgen_storage.directory import load_directory
from humgen_storage.errors import DatabaseError, DirectoryError, UploadError
from humgen_storage.split.upload import upload_directory
from tests.helpers import LFS_STANDIN, REPO
from tests.services.private_mariadb import PrivateMariadb, private_mariadb
from tests.sites import DEMO_QUOTAS, TODAY, Site, make_site

TIMEOUT = 2  # seconds: every timeout these tests configure
# Above the timeout: start-up, the directory, reading the fixture crawls on a shared machine.
RUN_MARGIN = 40.0
CALL_MARGIN = 5.0
HANG = 120  # a run still going after this long hangs: the test fails instead of waiting


@pytest.fixture(autouse=True)
def no_endless_hang() -> Iterator[None]:
    """A call that hangs (the defect these tests are about) fails the test after HANG s."""

    def hung(signum: int, frame: object) -> None:
        pytest.fail(f"still waiting after {HANG} s: no timeout fired")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, HANG)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def mariadb() -> Iterator[PrivateMariadb]:
    with private_mariadb() as server:
        yield server


def unique_name() -> str:
    return f"humgen_outage_{uuid.uuid4().hex[:12]}"


def timed_out_config(url: str) -> DatabaseConfig:
    return DatabaseConfig(
        url=url, connect_timeout=TIMEOUT, read_timeout=TIMEOUT, write_timeout=TIMEOUT
    )


# ------------------------------------------------------------------------ the database


def test_a_query_to_a_frozen_server_fails_within_read_timeout(mariadb: PrivateMariadb) -> None:
    name = unique_name()
    database = open_database(timed_out_config(mariadb.create_database(name)))
    try:
        with mariadb.frozen():
            started = time.monotonic()
            with pytest.raises(DatabaseError) as failure:
                database.query("SELECT COUNT(*) FROM `lustre_usage`")
            elapsed = time.monotonic() - started
    finally:
        database.close()  # on the lost connection: quiet
    assert str(failure.value) == (
        f"MySQL server {mariadb.server} did not answer within {TIMEOUT} s"
        f" ([database] read_timeout); mysql://{mariadb.mysql.user}@{mariadb.server}/{name}"
    )
    assert elapsed < TIMEOUT + CALL_MARGIN


def test_a_write_to_a_frozen_server_fails_within_read_timeout_and_leaves_nothing(
    mariadb: PrivateMariadb,
) -> None:
    url = mariadb.create_database(unique_name())
    insert = (
        "INSERT INTO `lustre_usage` (`Lustre Volume`, `Unix Group`, `Used (bytes)`, `date`,"
        " `IsHumgen`) VALUES (%s, %s, %s, %s, %s)"
    )
    database = open_database(timed_out_config(url))
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseError, match=rf"^MySQL server {mariadb.server} did not answer"):
            with database.transaction() as cursor:
                cursor.execute(insert, ("scratch118", "hgi", 1, "2026-11-20", 1))
                mariadb.freeze()
                cursor.execute(insert, ("scratch118", "tol", 2, "2026-11-20", 1))
        elapsed = time.monotonic() - started
    finally:
        mariadb.thaw()
        database.close()
    assert elapsed < TIMEOUT + CALL_MARGIN
    # The server, once it runs again, finds the client gone and rolls the transaction back.
    with open_database(timed_out_config(url)) as again:
        assert again.query("SELECT COUNT(*) FROM `lustre_usage`") == [(0,)]


def mysql_site(root: Path, url: str, quota_command: Path | None = None) -> Site:
    """The demo installation with its database on the private server, timeouts short."""
    site = make_site(root)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(site.config, encoding="utf-8")
    parser["database"] = {
        "url": url,
        "connect_timeout": str(TIMEOUT),
        "read_timeout": str(TIMEOUT),
        "write_timeout": str(TIMEOUT),
    }
    if quota_command is not None:
        parser["quota"]["command"] = str(quota_command)
    with site.config.open("w", encoding="utf-8") as handle:
        parser.write(handle)
    return site


def run_cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = dict(
        os.environ,
        PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        FAKE_LFS_QUOTAS=str(DEMO_QUOTAS),
        AWS_EC2_METADATA_DISABLED="true",
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "humgen_storage", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )
    return result, time.monotonic() - started


def usage_rows(mariadb: PrivateMariadb, url: str, day: dt.date) -> int:
    with open_database(timed_out_config(url)) as database:
        rows = database.query("SELECT COUNT(*) FROM `lustre_usage` WHERE `date` = %s", (day,))
    return int(rows[0][0])


def test_a_frozen_server_fails_the_manager_within_the_timeout_and_frees_its_lock(
    mariadb: PrivateMariadb, tmp_path: Path
) -> None:
    url = mariadb.create_database(unique_name())
    site = mysql_site(tmp_path, url)
    site.add_set(TODAY)

    with mariadb.frozen():
        failed, elapsed = run_cli(*site.argv("manage", "report"))

    assert failed.returncode == 1, failed.stderr
    assert (
        f"MySQL server {mariadb.server} accepted the connection but did not answer within"
        f" {TIMEOUT} s ([database] read_timeout)" in failed.stderr
    )
    assert "Traceback" not in failed.stderr
    assert elapsed < TIMEOUT + RUN_MARGIN
    # The lock went with the run: the next manager does the night's work.
    succeeded, _ = run_cli(*site.argv("manage", "report"))
    # Published; exit 3 because the demo quotas fail two groups on purpose.
    assert succeeded.returncode == 3, succeeded.stderr
    assert usage_rows(mariadb, url, TODAY) > 0


def test_a_server_frozen_during_the_read_fails_the_report_before_it_writes(
    mariadb: PrivateMariadb, tmp_path: Path
) -> None:
    url = mariadb.create_database(unique_name())
    # The first quota look-up (while the volumes are read, after the "date already
    # loaded" check connected) freezes the server: the publish finds it silent.
    freezer = tmp_path / "lfs-that-freezes-the-database"
    freezer.write_text(
        f'#!/bin/sh\nkill -STOP {mariadb.pid}\nexec "{LFS_STANDIN}" "$@"\n',
        encoding="utf-8",
    )
    freezer.chmod(0o755)
    site = mysql_site(tmp_path, url, quota_command=freezer)
    site.add_set(TODAY)

    try:
        failed, elapsed = run_cli(*site.argv("report"))
    finally:
        mariadb.thaw()

    assert failed.returncode == 1, failed.stderr
    last_error = [line for line in failed.stderr.splitlines() if "ERROR" in line][-1]
    assert f"MySQL server {mariadb.server} accepted the connection but did not answer" in (
        last_error
    )
    assert last_error.endswith("; nothing was written")
    assert elapsed < TIMEOUT + RUN_MARGIN
    assert not site.tsv(TODAY).exists()
    assert usage_rows(mariadb, url, TODAY) == 0


# ---------------------------------------------------------------------------- LDAP, S3


@pytest.fixture
def silent_server() -> Iterator[str]:
    """host:port of a socket that accepts every connection and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    closing = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)  # so the thread sees ``closing`` promptly
        while not closing.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    host, port = listener.getsockname()[:2]
    try:
        yield f"{host}:{port}"
    finally:
        closing.set()
        thread.join(5)
        listener.close()
        for connection in held:
            connection.close()


def test_a_silent_ldap_server_fails_within_the_ldap_timeout(silent_server: str) -> None:
    config = LdapConfig(
        url=f"ldap://{silent_server}",
        ldif=None,
        bind_dn=None,
        bind_password=None,
        group_base="ou=group,dc=example,dc=org",
        people_base="ou=people,dc=example,dc=org",
        timeout=TIMEOUT,
    )
    started = time.monotonic()
    with pytest.raises(DirectoryError) as failure:
        load_directory(config)
    assert time.monotonic() - started < TIMEOUT + CALL_MARGIN
    assert str(failure.value) == (
        f"LDAP server ldap://{silent_server}: cannot connect: error receiving data: timed out"
        f" (no answer within {TIMEOUT} s, [ldap] timeout)"
    )


def test_a_silent_s3_server_fails_within_its_tries_of_read_timeout(
    tmp_path: Path, silent_server: str, s3_endpoint: str
) -> None:
    # s3_endpoint: for the fake credentials it puts in the environment
    (tmp_path / "hgi.dat.gz").write_bytes(b"not empty")
    config = S3Config(
        bucket="branchserve",
        endpoint_url=f"http://{silent_server}",
        region="us-east-1",
        max_attempts=2,  # retries stay as configured: each try waits read_timeout
        backoff_base=0.0,
        connect_timeout=TIMEOUT,
        read_timeout=TIMEOUT,
    )
    started = time.monotonic()
    with pytest.raises(UploadError) as failure:
        upload_directory(tmp_path, config)
    assert time.monotonic() - started < 2 * TIMEOUT + CALL_MARGIN
    assert str(failure.value) == (
        f"upload of {tmp_path / 'hgi.dat.gz'} to s3://branchserve/hgi.dat.gz failed after 2"
        f' tries: ReadTimeoutError: Read timeout on endpoint URL: "http://{silent_server}'
        f'/branchserve/hgi.dat.gz" (no answer within {TIMEOUT} s, [s3] read_timeout)'
    )
