"""The suite's MariaDB is its own (issue 16, deliverable 8): a person running
``make test`` on a host with a database server finds that server as it was."""

from __future__ import annotations

import os
import re
import stat

import pymysql
import pytest

from tests.helpers import REPO
from tests.services.mysql import URL_ENV, MysqlServer

INSTALL_SCRIPT = REPO / "tests" / "services" / "install.sh"

private_only = pytest.mark.skipif(
    bool(os.environ.get(URL_ENV)), reason=f"{URL_ENV} chooses a server deliberately"
)


@private_only
def test_the_session_server_is_private(mysql_server: MysqlServer) -> None:
    assert mysql_server.host == "127.0.0.1"
    assert mysql_server.port != 3306
    assert mysql_server.socket_path is not None and mysql_server.socket_path.exists()
    workdir = mysql_server.socket_path.parent
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    # its process is a child of this one, with its own data directory
    with open(f"/proc/{mysql_server.pid}/cmdline", "rb") as handle:
        argv = handle.read().split(b"\0")
    assert f"--datadir={workdir / 'data'}".encode() in argv
    assert b"--bind-address=127.0.0.1" in argv
    with mysql_server.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT @@datadir, @@port, @@socket")
        datadir, port, socket_path = cursor.fetchone()
    assert datadir.rstrip("/") == str(workdir / "data")
    assert (port, socket_path) == (mysql_server.port, str(mysql_server.socket_path))


@private_only
def test_no_account_logs_in_over_tcp_without_the_random_password(
    mysql_server: MysqlServer,
) -> None:
    assert len(mysql_server.password) == 32
    for user, password in [("root", ""), (mysql_server.user, ""), (mysql_server.user, "x")]:
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            pymysql.connect(
                host=mysql_server.host,
                port=mysql_server.port,
                user=user,
                password=password,
                connect_timeout=5,
            )


def test_the_install_script_never_starts_or_changes_a_server() -> None:
    script = INSTALL_SCRIPT.read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    for forbidden in (r"ALTER\s+USER", r"CREATE\s+USER", r"GRANT", r"IDENTIFIED", r"mariadb\s+-"):
        assert not re.search(forbidden, code, re.IGNORECASE), forbidden
    assert "start-stop-daemon" not in code and "systemctl" not in code
    assert "apt_install mariadb-server" in code  # binaries only, when missing
