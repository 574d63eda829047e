"""Unix groups, humgen membership and PIs from the LDAP directory (or an LDIF file).

The report needs, per gid: the posixGroup's name, whether the group is a humgen
project group (it matches ``[ldap] humgen_filter``) and the surname of its PI (the
entry whose DN the group holds in ``[ldap] pi_attribute``). Everything is loaded
once, up front, into a ``GroupDirectory``: plain data that is cheap to pickle to
pool workers, so no worker ever talks to the server.

Queries (identical in both modes, so an LDIF export gives the server's answers):

1. ``(&(objectClass=posixGroup)(gidNumber=*))``, subtree under ``group_base``:
   gid -> cn. Two entries with one gid: the first by cn wins, with a warning.
2. ``(&<humgen_filter>(gidNumber=*))``, subtree under ``group_base``: the humgen
   gids and their PI DNs (first value of ``pi_attribute``).
3. A base-scope read of each distinct PI DN, once, for ``sn`` (first value).

Live servers cap result sizes (OpenLDAP ``sizelimit``, AD's MaxPageSize), so every
search is paged; a search that still comes back short is an error rather than a
silently incomplete report. One connection serves the whole load.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Protocol

from ldap3 import ANONYMOUS, BASE, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException, LDAPInvalidDnError

from humgen_storage.config import LdapConfig
from humgen_storage.directory.ldif import (
    DnError,
    Entry,
    FilterError,
    LdifDirectory,
    LdifError,
    normalise_dn,
    parse_filter,
)
from humgen_storage.errors import DirectoryError

log = logging.getLogger(__name__)

POSIX_GROUP_FILTER = "(&(objectClass=posixGroup)(gidNumber=*))"
EVERY_ENTRY_FILTER = "(objectClass=*)"
SURNAME_ATTRIBUTE = "sn"

# LDAP result codes (RFC 4511) that a base-scope read of a missing PI may return.
_NO_SUCH_OBJECT = 32
_INVALID_DN_SYNTAX = 34
_SUCCESS = 0


@dataclass(frozen=True)
class Group:
    gid: int
    # cn of the posixGroup with this gidNumber under group_base; None if there is none.
    name: str | None
    # Some entry with this gidNumber under group_base matches humgen_filter.
    is_humgen: bool
    # sn of the humgen group's PI; None when not humgen, no PI named, or no such entry.
    pi: str | None


@dataclass
class GroupDirectory:
    """Every group the directory knows, by gid. Plain data: it is pickled to workers."""

    groups: dict[int, Group]

    def lookup(self, gid: int) -> Group:
        """The group with this gid; an unknown gid gives a nameless, non-humgen group."""
        return self.groups.get(gid) or Group(gid, None, False, None)

    def name(self, gid: int) -> str | None:
        return self.lookup(gid).name

    def humgen_gids(self) -> frozenset[int]:
        return frozenset(gid for gid, group in self.groups.items() if group.is_humgen)


def load_directory(cfg: LdapConfig) -> GroupDirectory:
    """Load every group, its humgen flag and its PI from the server or LDIF file."""
    humgen_query = f"(&{_checked_filter(cfg.humgen_filter)}(gidNumber=*))"
    with closing(_open_source(cfg)) as source:
        directory = _load_groups(source, cfg, humgen_query)
    log.info(
        "directory %s: %d groups, %d humgen, %d with a PI",
        source.where,
        len(directory.groups),
        len(directory.humgen_gids()),
        sum(1 for group in directory.groups.values() if group.pi is not None),
    )
    return directory


# --------------------------------------------------------------------- the queries


@dataclass(frozen=True)
class _GroupEntry:
    """The parts of a group entry the queries use."""

    gid: int
    cn: str | None
    dn: str
    pi_dn: str | None


def _load_groups(source: _Source, cfg: LdapConfig, humgen_query: str) -> GroupDirectory:
    names = _groups_by_gid(source, cfg, POSIX_GROUP_FILTER, ["cn", "gidNumber"], "posixGroup")
    humgen = _groups_by_gid(
        source, cfg, humgen_query, ["cn", "gidNumber", cfg.pi_attribute], "humgen group"
    )
    pis = _resolve_pis(source, humgen, names)
    groups = {
        gid: Group(
            gid=gid,
            name=names[gid].cn if gid in names else None,
            is_humgen=gid in humgen,
            pi=pis.get(gid),
        )
        for gid in sorted(names.keys() | humgen.keys())
    }
    return GroupDirectory(groups)


def _groups_by_gid(
    source: _Source, cfg: LdapConfig, search_filter: str, attributes: list[str], kind: str
) -> dict[int, _GroupEntry]:
    entries = source.search_subtree(cfg.group_base, search_filter, attributes)
    return _first_by_gid(_group_entries(entries, cfg.pi_attribute), kind)


def _group_entries(entries: Iterable[Entry], pi_attribute: str) -> Iterator[_GroupEntry]:
    for entry in entries:
        gid_text = entry.first("gidNumber")
        try:
            gid = int(gid_text or "")
        except ValueError:
            log.warning(
                "directory: skipping %s: gidNumber %r is not an integer", entry.dn, gid_text
            )
            continue
        yield _GroupEntry(gid, entry.first("cn"), entry.dn, entry.first(pi_attribute))


def _first_by_gid(entries: Iterable[_GroupEntry], kind: str) -> dict[int, _GroupEntry]:
    """One entry per gid: the first in cn order, so the choice is stable across runs."""
    by_gid: dict[int, list[_GroupEntry]] = {}
    for entry in entries:
        by_gid.setdefault(entry.gid, []).append(entry)
    chosen: dict[int, _GroupEntry] = {}
    for gid, candidates in by_gid.items():
        candidates.sort(key=lambda candidate: (candidate.cn or "", candidate.dn))
        chosen[gid] = candidates[0]
        if len(candidates) > 1:
            log.warning(
                "directory: gid %d is held by %d %s entries (%s); using %s",
                gid,
                len(candidates),
                kind,
                ", ".join(candidate.dn for candidate in candidates),
                candidates[0].dn,
            )
    return chosen


@dataclass(frozen=True)
class _PiLookup:
    surname: str | None
    problem: str | None  # why there is no surname, for the warning


def _resolve_pis(
    source: _Source, humgen: dict[int, _GroupEntry], names: dict[int, _GroupEntry]
) -> dict[int, str | None]:
    """gid -> PI surname, reading each distinct PI DN once."""
    lookups: dict[Hashable, _PiLookup] = {}
    surnames: dict[int, str | None] = {}
    for gid, group in sorted(humgen.items()):
        if group.pi_dn is None:
            surnames[gid] = None
            continue
        key = _dn_key(group.pi_dn)
        if key not in lookups:
            lookups[key] = _read_surname(source, group.pi_dn)
        lookup = lookups[key]
        surnames[gid] = lookup.surname
        if lookup.problem is not None:
            group_name = names[gid].cn if gid in names else group.cn
            log.warning(
                "directory: humgen group %s (gid %d): PI %s %s; PI left empty",
                group_name,
                gid,
                group.pi_dn,
                lookup.problem,
            )
    return surnames


def _dn_key(dn: str) -> Hashable:
    """Equal DNs written differently (case, spaces) share one read."""
    try:
        return normalise_dn(dn)
    except DnError:
        return dn


def _read_surname(source: _Source, dn: str) -> _PiLookup:
    entry = source.read_entry(dn, [SURNAME_ATTRIBUTE])
    if entry is None:
        return _PiLookup(None, "has no entry in the directory")
    surname = entry.first(SURNAME_ATTRIBUTE)
    if surname is None:
        return _PiLookup(None, f"has no {SURNAME_ATTRIBUTE} attribute")
    return _PiLookup(surname, None)


def _checked_filter(humgen_filter: str) -> str:
    """The configured filter, validated the same way for both modes, in parentheses."""
    try:
        parse_filter(humgen_filter)
    except FilterError as exc:
        raise DirectoryError(f"[ldap] humgen_filter: {exc}") from None
    stripped = humgen_filter.strip()
    return stripped if stripped.startswith("(") else f"({stripped})"


# ------------------------------------------------------------------------ sources


class _Source(Protocol):
    """Where entries come from: a live server or an LDIF file."""

    where: str

    def search_subtree(
        self, base: str, search_filter: str, attributes: Sequence[str]
    ) -> Iterator[Entry]: ...

    def read_entry(self, dn: str, attributes: Sequence[str]) -> Entry | None: ...

    def close(self) -> None: ...


def _open_source(cfg: LdapConfig) -> _Source:
    if cfg.ldif is not None:
        return _LdifSource(cfg)
    if cfg.url:
        return _LdapSource(cfg)
    raise DirectoryError("[ldap]: set exactly one of 'url' and 'ldif'")


class _LdifSource:
    """Answers the queries from an LDIF file, as the server would."""

    def __init__(self, cfg: LdapConfig) -> None:
        assert cfg.ldif is not None
        self.where = str(cfg.ldif)
        try:
            self.directory = LdifDirectory.from_file(cfg.ldif)
        except LdifError as exc:
            raise DirectoryError(str(exc)) from None

    def search_subtree(
        self, base: str, search_filter: str, attributes: Sequence[str]
    ) -> Iterator[Entry]:
        try:
            if not self.directory.has_subtree(base):
                # A server answers noSuchObject; an empty result would hide a typo.
                raise DirectoryError(f"{self.where}: no entries at or below search base {base!r}")
            return self.directory.search_subtree(base, search_filter)
        except DnError as exc:
            raise DirectoryError(f"{self.where}: search base: {exc}") from None

    def read_entry(self, dn: str, attributes: Sequence[str]) -> Entry | None:
        return self.directory.read(dn)

    def close(self) -> None:
        pass


class _LdapSource:
    """One ldap3 connection, used for every query of the load."""

    def __init__(self, cfg: LdapConfig) -> None:
        assert cfg.url is not None
        self.cfg = cfg
        self.where = cfg.url
        self.connection = self._connect()

    def _error(self, what: str, detail: object) -> DirectoryError:
        """A one-line error naming the server; the password is blanked out if echoed."""
        message = " ".join(f"LDAP server {self.where}: {what}: {detail}".split())
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
