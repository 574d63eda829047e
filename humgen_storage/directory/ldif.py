"""An offline LDAP directory: an RFC 2849 LDIF file, searchable like a server.

``[ldap] ldif = FILE`` lets the jobs run without a server (the demo, tests, a site
whose directory is exported nightly). The entries are queried the way a live server
would answer the same queries (DNs and values as ``dn.py`` compares them, filters as
``filters.py`` evaluates them), so the two modes give the same results.

Not supported, and rejected with an error naming the line: ``attr:< URL`` values and
change records other than ``changetype: add``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from humgen_storage.config import LdapConfig
from humgen_storage.directory.dn import (
    ATTRIBUTE_DESCRIPTION,
    DnError,
    NormalisedDn,
    is_within,
    normalise_dn,
)
from humgen_storage.directory.entry import Entry
from humgen_storage.directory.filters import Filter, parse_filter
from humgen_storage.errors import DirectoryError


class LdifError(Exception):
    """The LDIF file cannot be read or is malformed; the message names file and line."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line


# ----------------------------------------------------------------------- LDIF files


@dataclass(frozen=True)
class _LogicalLine:
    """One unfolded line and the number of the physical line where it starts."""

    number: int
    content: bytes


def read_ldif(path: Path | str) -> list[Entry]:
    """Read the content records of an LDIF file; raises LdifError naming file and line."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise LdifError(source, None, f"cannot read LDIF file: {exc.strerror or exc}") from None
    return list(_parse_records(source, data))


def _parse_records(source: Path, data: bytes) -> Iterator[Entry]:
    seen: dict[NormalisedDn, int] = {}
    for index, record in enumerate(_records(source, _unfold(source, data))):
        if index == 0 and record and _is_version_line(record[0]):
            _check_version(source, record[0])
            record = record[1:]
        if not record:
            continue
        entry, normalised = _parse_record(source, record)
        if normalised in seen:
            raise LdifError(
                source,
                record[0].number,
                f"duplicate entry {entry.dn!r} (first at line {seen[normalised]})",
            )
        seen[normalised] = record[0].number
        yield entry


def _unfold(source: Path, data: bytes) -> Iterator[_LogicalLine]:
    """Join folded lines: a line that starts with one space continues the previous one."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark written by some editors
    pending: _LogicalLine | None = None
    for number, physical in enumerate(data.split(b"\n"), start=1):
        physical = physical.removesuffix(b"\r")
        if physical.startswith(b" "):
            if pending is None:
                raise LdifError(
                    source,
                    number,
                    "continuation line (starting with a space) with no line to continue",
                )
            pending = _LogicalLine(pending.number, pending.content + physical[1:])
            continue
        if pending is not None:
            yield pending
        pending = _LogicalLine(number, physical) if physical else None
        if not physical:
            yield _LogicalLine(number, b"")  # a record separator
    if pending is not None:
        yield pending


def _records(source: Path, lines: Iterable[_LogicalLine]) -> Iterator[list[_LogicalLine]]:
    """Group lines into records separated by blank lines, leaving out comments."""
    record: list[_LogicalLine] = []
    for line in lines:
        if not line.content:
            if record:
                yield record
            record = []
        elif not line.content.startswith(b"#"):
            record.append(line)
    if record:
        yield record


def _is_version_line(line: _LogicalLine) -> bool:
    return line.content.lower().startswith(b"version:")


def _check_version(source: Path, line: _LogicalLine) -> None:
    if line.content.split(b":", 1)[1].strip() != b"1":
        raise LdifError(
            source, line.number, "unsupported LDIF version (only 'version: 1' is defined)"
        )


def _parse_record(source: Path, record: list[_LogicalLine]) -> tuple[Entry, NormalisedDn]:
    first_name, dn = _parse_attribute_line(source, record[0])
    if first_name.lower() != "dn":
        raise LdifError(
            source, record[0].number, f"expected 'dn:' to start an entry, found {first_name!r}"
        )
    try:
        normalised = normalise_dn(dn)
    except DnError as exc:
        raise LdifError(source, record[0].number, str(exc)) from None
    pairs: list[tuple[str, str]] = []
    for line in record[1:]:
        name, value = _parse_attribute_line(source, line)
        if name.lower() == "changetype":
            # ldapadd-style files mark every record 'changetype: add'; that is content.
            if value.strip().lower() != "add":
                raise LdifError(
                    source, line.number, f"change records are not supported (changetype: {value})"
                )
            continue
        if name.lower() in ("control", "dn"):
            raise LdifError(source, line.number, f"unexpected '{name}:' line inside an entry")
        pairs.append((name, value))
    return Entry.from_pairs(dn, pairs), normalised


def _parse_attribute_line(source: Path, line: _LogicalLine) -> tuple[str, str]:
    """Split ``name: value`` / ``name:: base64`` into the name and the decoded value."""
    name_bytes, colon, rest = line.content.partition(b":")
    name = name_bytes.decode("ascii", "replace").strip()
    if not colon:
        raise LdifError(source, line.number, "expected 'attribute: value'")
    if not ATTRIBUTE_DESCRIPTION.match(name):
        raise LdifError(source, line.number, f"bad attribute name {name!r}")
    if rest.startswith(b"<"):
        raise LdifError(source, line.number, f"URL values ('{name}:<') are not supported")
    if rest.startswith(b":"):
        return name, _decode_base64(source, line.number, name, rest[1:].strip(b" "))
    try:
        return name, rest.lstrip(b" ").decode("utf-8")
    except UnicodeDecodeError:
        raise LdifError(
            source, line.number, f"value of {name!r} is not UTF-8 (use '{name}::' and base64)"
        ) from None


def _decode_base64(source: Path, number: int, name: str, encoded: bytes) -> str:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise LdifError(source, number, f"value of {name!r} is not valid base64") from None
    if name.lower() == "dn":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LdifError(source, number, "the DN is not UTF-8") from None
    # Binary values (photos, certificates) must not stop the file from loading;
    # they round-trip through surrogate escapes, as the live reader decodes them.
    return raw.decode("utf-8", "surrogateescape")


# -------------------------------------------------------------------------- queries


class LdifDirectory:
    """The entries of an LDIF file, searchable like a server."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._entries = [(normalise_dn(entry.dn), entry) for entry in entries]
        self._by_dn = {normalised: entry for normalised, entry in self._entries}

    @classmethod
    def from_file(cls, path: Path | str) -> LdifDirectory:
        return cls(read_ldif(path))

    def __len__(self) -> int:
        return len(self._entries)

    def has_subtree(self, base: str) -> bool:
        """True when some entry is ``base`` or lies below it."""
        normalised_base = normalise_dn(base)
        return any(is_within(normalised, normalised_base) for normalised, _ in self._entries)

    def search_subtree(self, base: str, search_filter: Filter | str) -> Iterator[Entry]:
        """Entries at or below ``base`` that match the filter, in file order."""
        normalised_base = normalise_dn(base)
        matcher = parse_filter(search_filter) if isinstance(search_filter, str) else search_filter
        for normalised, entry in self._entries:
            if is_within(normalised, normalised_base) and matcher.matches(entry):
                yield entry

    def read(self, dn: str) -> Entry | None:
        """A base-scope read: the entry at ``dn``, or None (also for a malformed DN)."""
        try:
            return self._by_dn.get(normalise_dn(dn))
        except DnError:
            return None


class LdifSource:
    """Answers ``load_directory``'s queries from an LDIF file, as the server would."""

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
