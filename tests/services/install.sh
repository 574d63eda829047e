#!/usr/bin/env bash
# Install the test services that are missing, as root with apt (see README).
# slapd and MariaDB are started by the test suite itself, as private servers.
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

# MariaDB: the suite starts its own private server (tests/services/mysql.py), so only
# the binaries are needed. A server already on this host is never started, stopped or
# changed; HUMGEN_TEST_MYSQL_URL points the suite at one deliberately instead.
if [ -z "${HUMGEN_TEST_MYSQL_URL:-}" ] \
    && ! command -v mariadbd >/dev/null 2>&1 && ! [ -x /usr/sbin/mariadbd ] \
    && ! command -v mysqld >/dev/null 2>&1 && ! [ -x /usr/sbin/mysqld ]; then
    echo "installing mariadb-server (binaries only: the tests run a private server)"
    apt_install mariadb-server
fi
