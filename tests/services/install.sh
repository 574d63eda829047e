#!/usr/bin/env bash
# Install the test services that are missing, as root with apt (see README).
# slapd is started by the test suite itself; MariaDB only when no server answers.
set -euo pipefail

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
    apt-get install -y -qq "$@" >/dev/null
}

if ! [ -x /usr/sbin/slapd ] || ! command -v ldapadd >/dev/null 2>&1; then
    echo "installing slapd and ldap-utils"
    apt_install slapd ldap-utils
fi

# promtool checks the Prometheus textfile the jobs write (tests/run/test_metrics.py);
# Debian ships it in the prometheus package. Only the tool is used: no server is started.
if ! command -v promtool >/dev/null 2>&1; then
    echo "installing prometheus (for promtool)"
    apt_install prometheus
    # The package's service is not wanted on a test machine; without an init system
    # nothing started it, and where one did, it is stopped again.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi

# tests/test_outages.py starts a private MariaDB of its own (to freeze it), whatever
# server answers on 3306: it needs mariadbd and mariadb-install-db here.
if ! [ -x /usr/sbin/mariadbd ] || ! command -v mariadb-install-db >/dev/null 2>&1; then
    echo "installing mariadb-server"
    apt_install mariadb-server
fi

mysql_answers() {
    python3 - <<'PY'
import os, socket, sys
from urllib.parse import urlsplit
url = urlsplit(os.environ.get("HUMGEN_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"))
try:
    socket.create_connection((url.hostname or "127.0.0.1", url.port or 3306), timeout=3).close()
except OSError:
    sys.exit(1)
PY
}

if ! mysql_answers; then
    if [ -n "${HUMGEN_TEST_MYSQL_URL:-}" ]; then
        echo "HUMGEN_TEST_MYSQL_URL=$HUMGEN_TEST_MYSQL_URL does not answer" >&2
        exit 1
    fi
    if ! [ -x /usr/sbin/mariadbd ]; then
        echo "installing mariadb-server"
        apt_install mariadb-server
    fi
    echo "starting MariaDB"
    install -d -o mysql -g mysql /run/mysqld  # its socket directory; absent when no init system made it
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    for _ in $(seq 1 30); do mysql_answers && break; sleep 1; done
    mysql_answers || { echo "MariaDB did not start" >&2; exit 1; }
    # A new Debian MariaDB lets root in through the Unix socket only; the tests log in
    # over TCP as root with an empty password (the machine's documented set-up).
    mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')" \
        || echo "could not open root@localhost to TCP logins; set HUMGEN_TEST_MYSQL_URL" >&2
fi
