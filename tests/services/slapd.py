"""A real OpenLDAP slapd per test session, on free loopback ports.

The server gets a throwaway ``slapd.conf`` in a private temporary directory: an mdb
database for ``dc=example,dc=org`` loaded (by ``slapd -T add``, before the server
starts) from ``fixtures/ldap/test-directory.ldif``, the core, cosine, nis and
inetorgperson schemas plus ``fixtures/ldap/humgen.schema``, a size limit of 20
entries (so only paged searches see every group; paging itself is not capped),
anonymous read access, a rootdn with a random password, and TLS with a throwaway CA
(StartTLS on ``url``, implicit TLS on ``ldaps_url``). It listens on 127.0.0.1 only.

The binary is ``$HUMGEN_TEST_SLAPD`` or ``slapd`` on PATH or in the usual sbin and
libexec directories. A missing slapd, or one that will not start, is a test failure,
never a skip.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import ldap3
import pytest
from ldap3.core.exceptions import LDAPException

from humgen_storage.config import LdapConfig

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ldap"
TEST_DIRECTORY_LDIF = FIXTURES / "test-directory.ldif"
HUMGEN_SCHEMA = FIXTURES / "humgen.schema"

BASE_DN = "dc=example,dc=org"
GROUP_BASE = f"ou=group,{BASE_DN}"
PEOPLE_BASE = f"ou=people,{BASE_DN}"
ROOT_DN = f"cn=admin,{BASE_DN}"
SIZE_LIMIT = 20

STARTUP_TIMEOUT = 10.0
SLAPD_ENV = "HUMGEN_TEST_SLAPD"
SLAPD_CANDIDATES = (
    "/usr/sbin/slapd",
    "/usr/local/sbin/slapd",
    "/usr/libexec/slapd",
    "/usr/local/libexec/slapd",
)
SCHEMA_DIR_CANDIDATES = (
    "/etc/ldap/schema",
    "/etc/openldap/schema",
    "/usr/local/etc/openldap/schema",
)
MODULE_DIR_CANDIDATES = (
    "/usr/lib/ldap",
    "/usr/lib/openldap",
    "/usr/lib64/openldap",
    "/usr/libexec/openldap",
    "/usr/local/libexec/openldap",
)
STANDARD_SCHEMAS = ("core", "cosine", "nis", "inetorgperson")


@dataclass(frozen=True)
class SlapdServer:
    """A running test slapd and what a test needs to reach it."""

    url: str  # ldap://127.0.0.1:PORT (StartTLS available)
    ldaps_url: str  # ldaps://127.0.0.1:PORT
    base_dn: str
    group_base: str
    people_base: str
    ldif_path: Path  # the data loaded into the server
    bind_dn: str  # the rootdn: a simple bind with bind_password works
    bind_password: str = field(repr=False)
    ca_file: Path = Path()  # CA that signed the server's certificate (127.0.0.1, localhost)
    size_limit: int = SIZE_LIMIT  # entries per non-paged search for everyone but the rootdn
    log_path: Path = Path()  # slapd's stderr

    def ldap_config(self, **changes: Any) -> LdapConfig:
        """An anonymous-bind LdapConfig for this server; keyword arguments override fields."""
        config = LdapConfig(
            url=self.url,
            ldif=None,
            bind_dn=None,
            bind_password=None,
            group_base=self.group_base,
            people_base=self.people_base,
            page_size=SIZE_LIMIT // 2,
            timeout=5.0,
        )
        return replace(config, **changes)


@pytest.fixture(scope="session")
def slapd() -> Iterator[SlapdServer]:
    """One slapd for the whole session, loaded with fixtures/ldap/test-directory.ldif."""
    with running_slapd(TEST_DIRECTORY_LDIF) as server:
        yield server


@contextmanager
def running_slapd(ldif_path: Path) -> Iterator[SlapdServer]:
    binary = _find_slapd()
    with tempfile.TemporaryDirectory(prefix="humgen-slapd-") as temporary:
        workdir = Path(temporary)
        password = secrets.token_hex(16)
        ca_file = _write_certificates(workdir)
        config_path = _write_config(workdir, password)
        _load_data(binary, config_path, ldif_path, workdir)
        process, server = _start(binary, config_path, workdir, password, ca_file, ldif_path)
        try:
            yield server
        finally:
            _stop(process)


def _fail(message: str) -> NoReturn:
    """Both in CI and on a workstation: a missing LDAP server is a failure, not a skip."""
    context = " (CI)" if os.environ.get("CI") == "true" else ""
    pytest.fail(f"test slapd{context}: {message}", pytrace=False)


def _find_slapd() -> str:
    configured = os.environ.get(SLAPD_ENV)
    if configured:
        if not os.access(configured, os.X_OK):
            _fail(f"${SLAPD_ENV}={configured} is not an executable")
        return configured
    found = shutil.which("slapd") or next(
        (c for c in SLAPD_CANDIDATES if os.access(c, os.X_OK)), None
    )
    if found is None:
        _fail(
            "OpenLDAP slapd not found (install it: apt-get install slapd ldap-utils, "
            f"dnf install openldap-servers; or set ${SLAPD_ENV})"
        )
    return found


def _schema_dir() -> Path:
    for candidate in SCHEMA_DIR_CANDIDATES:
        if (Path(candidate) / "core.schema").is_file():
            return Path(candidate)
    _fail(f"no OpenLDAP schema directory with core.schema in {', '.join(SCHEMA_DIR_CANDIDATES)}")


def _module_lines() -> str:
    """Load back_mdb when the distribution builds it as a module (Debian does)."""
    for candidate in MODULE_DIR_CANDIDATES:
        directory = Path(candidate)
        if any((directory / name).exists() for name in ("back_mdb.la", "back_mdb.so")):
            return f"modulepath {directory}\nmoduleload back_mdb\n"
    return ""  # built in


def _write_config(workdir: Path, password: str) -> Path:
    schema_dir = _schema_dir()
    includes = "".join(f"include {schema_dir / name}.schema\n" for name in STANDARD_SCHEMAS)
    (workdir / "db").mkdir()
    config = (
        f"{includes}include {HUMGEN_SCHEMA}\n"
        f"pidfile {workdir / 'slapd.pid'}\n"
        f"argsfile {workdir / 'slapd.args'}\n"
        f"{_module_lines()}"
        f"TLSCACertificateFile {workdir / 'ca.pem'}\n"
        f"TLSCertificateFile {workdir / 'server.pem'}\n"
        f"TLSCertificateKeyFile {workdir / 'server-key.pem'}\n"
        # A small hard limit, as production servers have, but paged searches may
        # page through everything: that is what the code under test must do.
        f"sizelimit size.soft={SIZE_LIMIT} size.hard={SIZE_LIMIT} size.prtotal=unlimited\n"
        "database mdb\n"
        "maxsize 16777216\n"
        f'suffix "{BASE_DN}"\n'
        f'rootdn "{ROOT_DN}"\n'
        f"rootpw {password}\n"
        f"directory {workdir / 'db'}\n"
        "index objectClass,gidNumber eq\n"
        "access to * by * read\n"
    )
    path = workdir / "slapd.conf"
    path.write_text(config)
    path.chmod(0o600)
    return path


def _write_certificates(workdir: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "humgen_storage test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    # The IP address also as a DNS name: ldap3 falls back to a matcher that only
    # looks at DNS names on Pythons without ssl.match_hostname (3.12+).
    names = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.DNSName("127.0.0.1"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
    )
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(names, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (workdir / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (workdir / "server.pem").write_bytes(server_cert.public_bytes(pem))
    key_path = workdir / "server-key.pem"
    key_path.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return workdir / "ca.pem"


def _load_data(binary: str, config_path: Path, ldif_path: Path, workdir: Path) -> None:
    """Load the LDIF offline (slapd's slapadd mode: fast, no network)."""
    # slapadd does not understand RFC 2849's optional 'version: 1' line; drop it.
    text = ldif_path.read_text(encoding="utf-8")
    load_path = workdir / "load.ldif"
    load_path.write_text(
        re.sub(r"\A((?:#[^\n]*\n|\n)*)version:[ \t]*1[ \t]*\n", r"\1", text), encoding="utf-8"
    )
    completed = subprocess.run(
        [binary, "-T", "add", "-f", str(config_path), "-l", str(load_path), "-q"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if completed.returncode != 0:
        _fail(
            f"loading {ldif_path} failed (exit {completed.returncode}): {completed.stderr.strip()}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(
    binary: str, config_path: Path, workdir: Path, password: str, ca_file: Path, ldif_path: Path
) -> tuple[subprocess.Popen[bytes], SlapdServer]:
    """Start slapd in the foreground (-d 0) so that we own its process; retry if a
    port picked as free was taken before slapd could bind it."""
    log_path = workdir / "slapd.log"
    last_error = ""
    for _attempt in range(3):
        ldap_port, ldaps_port = _free_port(), _free_port()
        url, ldaps_url = f"ldap://127.0.0.1:{ldap_port}", f"ldaps://127.0.0.1:{ldaps_port}"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [binary, "-d", "0", "-f", str(config_path), "-h", f"{url}/ {ldaps_url}/"],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        if _wait_until_answering(process, url):
            server = SlapdServer(
                url=url,
                ldaps_url=ldaps_url,
                base_dn=BASE_DN,
                group_base=GROUP_BASE,
                people_base=PEOPLE_BASE,
                ldif_path=ldif_path,
                bind_dn=ROOT_DN,
                bind_password=password,
                ca_file=ca_file,
                log_path=log_path,
            )
            return process, server
        _stop(process)
        last_error = log_path.read_text(errors="replace").strip()[-2000:]
    _fail(f"{binary} did not start or answer within {STARTUP_TIMEOUT:.0f}s: {last_error}")


def _wait_until_answering(process: subprocess.Popen[bytes], url: str) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            server = ldap3.Server(url, connect_timeout=1, get_info=ldap3.NONE)
            with ldap3.Connection(server, receive_timeout=2) as connection:
                if connection.search(BASE_DN, "(objectClass=*)", search_scope=ldap3.BASE):
                    return True
        except LDAPException:
            pass
        time.sleep(0.02)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
