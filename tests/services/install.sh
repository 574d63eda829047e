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

# promtool checks the Prometheus textfile the jobs write (tests/run/test_metrics.py);
# Debian ships it in the prometheus package. Only the tool is used: the package's
# service is never started (a policy-rc.d that refuses, for the install only, is
# Debian's way to install a daemon's package without starting it).
if ! command -v promtool >/dev/null 2>&1; then
    echo "installing prometheus (for promtool; its service is not started)"
    if [ -e /usr/sbin/policy-rc.d ]; then
        apt_install prometheus
    else
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        apt_install prometheus || { rm -f /usr/sbin/policy-rc.d; exit 1; }
        rm -f /usr/sbin/policy-rc.d
    fi
fi

# MariaDB: the suite starts its own private servers (tests/services/mysql.py, and
# tests/test_outages.py a second one it can freeze), so only the binaries are needed.
# A server already on this host is never started, stopped or changed;
# HUMGEN_TEST_MYSQL_URL points the shared fixtures at one deliberately instead.
if ! [ -x /usr/sbin/mariadbd ] || ! command -v mariadb-install-db >/dev/null 2>&1; then
    echo "installing mariadb-server (binaries only: the tests run private servers)"
    apt_install mariadb-server
fi

# Headless Chromium loads the HTML report in its tests (tests/html/test_browser.py) and
# takes `make demo`'s screenshot.
if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (headless, for the HTML report's tests)"
    apt_install chromium
fi
