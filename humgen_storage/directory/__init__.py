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
4. ``(uidNumber=*)``, subtree under ``people_base``: uid number -> ``uid`` (the
   report's per-user table, ``people.py``). A failed search leaves every user to be
   reported by number and says why (``users_problem``): the groups are what a run
   cannot do without, the users' names are not.

Names are data (SPEC §11): a cn or PI surname that cannot be stored or used safely
(``humgen_storage.names``: control characters, longer than its column, not a safe
file name) is decided here, once, so every job sees the same thing: the group keeps
its gid and humgen flag, its name (or PI) becomes None with ``unsafe`` set, one
warning names it escaped, and the run that publishes it is degraded
(``note_unsafe_names``).

The entries come from one of two sources with the same three methods: ``ldap.py``
(a live server, one connection, paged searches) or ``ldif.py`` (an LDIF file, with
``dn.py`` comparing DNs and values and ``filters.py`` evaluating the filters as the
server would).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Protocol

from humgen_storage.config import LdapConfig
from humgen_storage.directory.dn import DnError, normalise_dn
from humgen_storage.directory.entry import Entry, integer_attribute
from humgen_storage.directory.filters import FilterError, parse_filter
from humgen_storage.directory.ldif import LdifSource
from humgen_storage.directory.people import PEOPLE_ATTRIBUTES, PEOPLE_FILTER, users_by_uid
from humgen_storage.errors import DirectoryError
from humgen_storage.names import printable, unsafe_group_name, unsafe_text
from humgen_storage.run import record as run_record

log = logging.getLogger(__name__)

POSIX_GROUP_FILTER = "(&(objectClass=posixGroup)(gidNumber=*))"
SURNAME_ATTRIBUTE = "sn"


@dataclass(frozen=True)
class Group:
    gid: int
    # cn of the posixGroup with this gidNumber under group_base; None if there is none.
    name: str | None
    # Some entry with this gidNumber under group_base matches humgen_filter.
    is_humgen: bool
    # sn of the humgen group's PI; None when not humgen, no PI named, or no such entry.
    pi: str | None
    # The directory's cn or PI surname for this gid was unsafe (humgen_storage.names)
    # and was dropped: the group is reported by gid, and the run is degraded.
    unsafe: bool = False


@dataclass
class GroupDirectory:
    """Every group the directory knows, by gid. Plain data: it is pickled to workers."""

    groups: dict[int, Group]
    # uidNumber -> uid of the people entries under people_base (safe names only).
    users: dict[int, str] = field(default_factory=dict)
    # Why there are no user names (the people search failed); None when it ran.
    users_problem: str | None = None

    def user_name(self, uid: int) -> str | None:
        return self.users.get(uid)

    def lookup(self, gid: int) -> Group:
        """The group with this gid; an unknown gid gives a nameless, non-humgen group."""
        return self.groups.get(gid) or Group(gid, None, False, None)

    def name(self, gid: int) -> str | None:
        return self.lookup(gid).name

    def humgen_gids(self) -> frozenset[int]:
        return frozenset(gid for gid, group in self.groups.items() if group.is_humgen)

    def unsafe_gids(self) -> list[int]:
        return sorted(gid for gid, group in self.groups.items() if group.unsafe)


def note_unsafe_names(directory: GroupDirectory) -> None:
    """Degrade the run (exit status 3) when the directory it publishes with dropped
    unsafe names: someone must correct those entries."""
    unsafe = directory.unsafe_gids()
    if not unsafe:
        return
    shown = ", ".join(str(gid) for gid in unsafe[:_GIDS_SHOWN])
    more = f" and {len(unsafe) - _GIDS_SHOWN} more" if len(unsafe) > _GIDS_SHOWN else ""
    note = (
        f"{len(unsafe)} groups have an unsafe name (reported by gid) or PI (left empty)"
        f" in the directory: gids {shown}{more}; correct their entries"
    )
    record = run_record.current()
    if note not in record.needs_a_person:
        record.degrade(note)


_GIDS_SHOWN = 20


def load_directory(cfg: LdapConfig) -> GroupDirectory:
    """Load every group, its humgen flag and its PI from the server or LDIF file."""
    humgen_query = f"(&{_checked_filter(cfg.humgen_filter)}(gidNumber=*))"
    with closing(_open_source(cfg)) as source:
        directory = _load_groups(source, cfg, humgen_query)
        _load_people(source, cfg, directory)
    log.info(
        "directory %s: %d groups, %d humgen, %d with a PI, %d users",
        source.where,
        len(directory.groups),
        len(directory.humgen_gids()),
        sum(1 for group in directory.groups.values() if group.pi is not None),
        len(directory.users),
    )
    return directory


def _load_people(source: _Source, cfg: LdapConfig, directory: GroupDirectory) -> None:
    try:
        entries = list(source.search_subtree(cfg.people_base, PEOPLE_FILTER, PEOPLE_ATTRIBUTES))
    except DirectoryError as exc:
        directory.users_problem = f"no user names ([ldap] people_base): {exc}"
        log.warning("directory: %s; users are reported by uid", directory.users_problem)
        return
    directory.users = users_by_uid(entries)


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
        gid: _safe_group(gid, names[gid].cn if gid in names else None, gid in humgen, pis.get(gid))
        for gid in sorted(names.keys() | humgen.keys())
    }
    return GroupDirectory(groups)


def _safe_group(gid: int, name: str | None, is_humgen: bool, pi: str | None) -> Group:
    """The group as every job uses it: an unsafe name or PI is dropped, with a warning."""
    name_problem = unsafe_group_name(name) if name is not None else None
    pi_problem = unsafe_text(pi) if pi is not None else None
    if name_problem is not None:
        log.warning(
            'directory: gid %d: group name "%s" %s; the group is reported by gid',
            gid,
            printable(name),
            name_problem,
        )
    if pi_problem is not None:
        log.warning(
            'directory: gid %d: PI surname "%s" %s; PI left empty', gid, printable(pi), pi_problem
        )
    return Group(
        gid=gid,
        name=None if name_problem is not None else name,
        is_humgen=is_humgen,
        pi=None if pi_problem is not None else pi,
        unsafe=name_problem is not None or pi_problem is not None,
    )


def _groups_by_gid(
    source: _Source, cfg: LdapConfig, search_filter: str, attributes: list[str], kind: str
) -> dict[int, _GroupEntry]:
    entries = source.search_subtree(cfg.group_base, search_filter, attributes)
    return _first_by_gid(_group_entries(entries, cfg.pi_attribute), kind)


def _group_entries(entries: Iterable[Entry], pi_attribute: str) -> Iterator[_GroupEntry]:
    for entry in entries:
        gid = integer_attribute(entry, "gidNumber", log)
        if gid is None:
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
                ", ".join(printable(candidate.dn) for candidate in candidates),
                printable(candidates[0].dn),
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
                printable(group_name),
                gid,
                printable(group.pi_dn),
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
        return LdifSource(cfg)
    if cfg.url:
        # Imported here: ldap3 (and ssl) take a good part of a job's start-up, and a
        # site whose directory is an LDIF file never needs them.
        from humgen_storage.directory.ldap import LdapSource

        return LdapSource(cfg)
    raise DirectoryError("[ldap]: set exactly one of 'url' and 'ldif'")
