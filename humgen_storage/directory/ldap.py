"""The live directory: one ldap3 connection that answers ``load_directory``'s queries.

Live servers cap result sizes (OpenLDAP ``sizelimit``, AD's MaxPageSize), so every
subtree search is paged; a search that still comes back short is an error rather
than a silently incomplete report. One connection serves the whole load; every
failure is a one-line ``DirectoryError`` naming the server, never the password.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Iterator, Sequence
from typing import Any

from ldap3 import ANONYMOUS, BASE, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException, LDAPInvalidDnError

from humgen_storage.config import LdapConfig
from humgen_storage.directory.entry import Entry
from humgen_storage.errors import DirectoryError

log = logging.getLogger(__name__)

EVERY_ENTRY_FILTER = "(objectClass=*)"

# LDAP result codes (RFC 4511) that a base-scope read of a missing PI may return.
_NO_SUCH_OBJECT = 32
_INVALID_DN_SYNTAX = 34
_SUCCESS = 0


class LdapSource:
    """One ldap3 connection, used for every query of the load."""

    def __init__(self, cfg: LdapConfig) -> None:
        assert cfg.url is not None
        self.cfg = cfg
        self.where = cfg.url
        self.connection = self._connect()

    def _error(self, what: str, detail: object) -> DirectoryError:
        """A one-line error naming the server; the password is blanked out if echoed."""
        message = " ".join(f"LDAP server {self.where}: {what}: {detail}".split())
        if "timed out" in message:  # ldap3's receive timeout: a server that fell silent
            message += f" (no answer within {self.cfg.timeout:g} s, [ldap] timeout)"
        if self.cfg.bind_password:
            message = message.replace(self.cfg.bind_password, "********")
        return DirectoryError(message)

    def _connect(self) -> Connection:
        cfg = self.cfg
        if cfg.bind_dn and not cfg.bind_password:
            # An empty simple-bind password is an unauthenticated bind, which servers
            # may accept as anonymous: refuse rather than run with the wrong identity.
            raise self._error(
                "bind", f"bind_dn {cfg.bind_dn} is set but no bind password was given"
            )
        try:
            server = Server(cfg.url, connect_timeout=cfg.timeout, get_info=NONE, tls=self._tls())
            connection = Connection(
                server,
                user=cfg.bind_dn,
                password=cfg.bind_password,
                authentication=SIMPLE if cfg.bind_dn else ANONYMOUS,
                # ldap3 packs this into a struct timeval as whole seconds on Linux.
                receive_timeout=max(1, math.ceil(cfg.timeout)),
                read_only=True,
                # The server judges DNs: ldap3's own check rejects valid ones such as
                # "uid=pi2, ou=people, ..." (spaces after commas) held in PI attributes.
                check_names=False,
                raise_exceptions=False,
                auto_referrals=False,
            )
        except LDAPException as exc:
            raise self._error("bad server settings", exc) from None
        try:
            self._open_and_bind(connection, start_tls=cfg.start_tls and not server.ssl)
        except BaseException:
            _close_quietly(connection)
            raise
        return connection

    def _open_and_bind(self, connection: Connection, start_tls: bool) -> None:
        try:
            connection.open()
            if start_tls and not connection.start_tls():
                raise self._error("StartTLS", "the server did not start TLS")
            bound = connection.bind()
        except LDAPException as exc:
            raise self._error("cannot connect", exc) from None
        if not bound:
            identity = self.cfg.bind_dn or "anonymous"
            raise self._error(f"bind as {identity} failed", _describe(connection.result or {}))

    def _tls(self) -> Tls | None:
        if not (self.cfg.start_tls or (self.cfg.url or "").lower().startswith("ldaps://")):
            return None
        try:
            # Without ca_file the system's trusted CAs are used; the server's name
            # is checked against its certificate either way.
            return Tls(
                validate=ssl.CERT_REQUIRED,
                ca_certs_file=str(self.cfg.ca_file) if self.cfg.ca_file else None,
            )
        except LDAPException as exc:
            raise self._error(f"ca_file {self.cfg.ca_file}", exc) from None

    def search_subtree(
        self, base: str, search_filter: str, attributes: Sequence[str]
    ) -> Iterator[Entry]:
        try:
            responses = self.connection.extend.standard.paged_search(
                search_base=base,
                search_filter=search_filter,
                search_scope=SUBTREE,
                attributes=list(attributes),
                paged_size=self.cfg.page_size,
                # A server that cannot page must refuse rather than truncate.
                paged_criticality=True,
                generator=True,
            )
            entries = [
                _entry_from_response(response)
                for response in responses
                if response.get("type") == "searchResEntry"
            ]
        except LDAPException as exc:
            raise self._error(f"search {search_filter} under {base}", exc) from None
        # The paged generator does not raise when raise_exceptions is off, so the last
        # page's result says whether the search ran to the end.
        result = self.connection.result or {}
        if result.get("result") != _SUCCESS:
            raise self._error(f"search {search_filter} under {base}", _describe(result))
        return iter(entries)

    def read_entry(self, dn: str, attributes: Sequence[str]) -> Entry | None:
        try:
            self.connection.search(
                search_base=dn,
                search_filter=EVERY_ENTRY_FILTER,
                search_scope=BASE,
                attributes=list(attributes),
            )
        except LDAPInvalidDnError:
            return None  # ldap3 refused the DN before sending it: no such entry
        except LDAPException as exc:
            raise self._error(f"read {dn}", exc) from None
        result = self.connection.result or {}
        if result.get("result") in (_NO_SUCH_OBJECT, _INVALID_DN_SYNTAX):
            return None
        if result.get("result") != _SUCCESS:
            raise self._error(f"read {dn}", _describe(result))
        for response in self.connection.response or []:
            if response.get("type") == "searchResEntry":
                return _entry_from_response(response)
        return None

    def close(self) -> None:
        _close_quietly(self.connection)


def _close_quietly(connection: Connection) -> None:
    """Unbind and close the socket; a failure here cannot change the load's outcome."""
    try:
        connection.unbind()
    except LDAPException as exc:
        log.debug("directory: closing the LDAP connection failed: %s", exc)


def _entry_from_response(response: dict[str, Any]) -> Entry:
    """Decode raw values ourselves, as the LDIF reader does, so both modes agree
    without depending on the server's schema being read."""
    pairs = [
        (name, value.decode("utf-8", "surrogateescape"))
        for name, values in response.get("raw_attributes", {}).items()
        for value in values
    ]
    return Entry.from_pairs(response["dn"], pairs)


def _describe(result: dict[str, Any]) -> str:
    description = result.get("description") or f"result code {result.get('result')}"
    message = result.get("message")
    return f"{description} ({message})" if message else str(description)
