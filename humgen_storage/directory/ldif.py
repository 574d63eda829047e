"""An offline LDAP directory: an RFC 2849 LDIF reader plus search-filter evaluation.

``[ldap] ldif = FILE`` lets the jobs run without a server (the demo, tests, a site
whose directory is exported nightly). The entries are queried the way a live server
would answer the same queries, so the two modes give the same results:

* DNs (RFC 4514) compare case-insensitively, ignoring spaces around ``,``, ``=``
  and ``+`` and the order of the parts of a multi-valued RDN;
* attribute names compare case-insensitively and without options
  (``cn;lang-en`` is ``cn``);
* values compare case-insensitively with runs of white space collapsed, as the
  directory's usual ``caseIgnoreMatch`` does; values that are both DNs also match
  when their normalised DNs are equal (``distinguishedNameMatch``);
* filters (RFC 4515): equality, presence, substrings, ``>=``/``<=`` (numerically
  when both sides are integers), ``&``, ``|``, ``!``, with ``\\XX`` escapes.
  Approximate (``~=``) and extensible (``:=``) matches are rejected as unsupported.

Not supported, and rejected with an error naming the line: ``attr:< URL`` values and
change records other than ``changetype: add``. The directory's schema is not known
here, so attribute aliases (``surname`` for ``sn``) are distinct names.
"""

from __future__ import annotations

import base64
import binascii
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

# One RDN: its (attribute type, normalised value) pairs, sorted so that the order
# of a multi-valued RDN's parts does not matter.
Rdn = tuple[tuple[str, str], ...]
# A whole DN, leaf RDN first, as written.
NormalisedDn = tuple[Rdn, ...]

_ATTRIBUTE_DESCRIPTION = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)(?:;[A-Za-z0-9-]+)*\Z"
)
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}")
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
# Characters that RFC 4514 lets a DN escape with a backslash instead of hex.
_DN_SPECIALS = frozenset(' "#+,;<=>\\')
_Ordered = TypeVar("_Ordered", int, str)


class LdifError(Exception):
    """The LDIF file cannot be read or is malformed; the message names file and line."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line


class DnError(ValueError):
    """A string is not a valid distinguished name."""


class FilterError(ValueError):
    """A string is not a valid (or a supported) LDAP search filter."""


# --------------------------------------------------------------------------- values


def attribute_key(description: str) -> str:
    """The name under which an attribute is stored and looked up: no options, lower case."""
    return description.split(";", 1)[0].strip().lower()


def normalise_value(value: str) -> str:
    """A value as caseIgnoreMatch sees it: case folded, white space runs collapsed."""
    return " ".join(value.split()).casefold()


def values_match(stored: str, wanted: str) -> bool:
    """Equality as a server with the usual string and DN matching rules decides it."""
    if normalise_value(stored) == normalise_value(wanted):
        return True
    # Without the schema we cannot know an attribute holds DNs; a value that parses
    # as a DN on both sides is compared as one (memberOf=..., sangerProjectPI=...).
    if "=" not in stored or "=" not in wanted:
        return False
    try:
        return normalise_dn(stored) == normalise_dn(wanted)
    except DnError:
        return False


# ------------------------------------------------------------------------------ DNs


def normalise_dn(dn: str) -> NormalisedDn:
    """Parse an RFC 4514 DN into a form where equal DNs compare equal.

    Raises DnError when ``dn`` is not a DN.
    """
    if not dn.strip():
        return ()
    return tuple(_parse_rdn(rdn_text, dn) for rdn_text in _split_unescaped(dn, ","))


def is_within(dn: NormalisedDn, base: NormalisedDn) -> bool:
    """True when ``dn`` is ``base`` or lies below it (a subtree search's scope)."""
    return len(dn) >= len(base) and dn[len(dn) - len(base) :] == base


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split on ``separator`` where it is not escaped with a backslash."""
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def _parse_rdn(rdn_text: str, dn: str) -> Rdn:
    pairs: list[tuple[str, str]] = []
    for ava in _split_unescaped(rdn_text, "+"):
        attribute, equals, raw_value = ava.partition("=")
        attribute = attribute.strip()
        if not equals or not _ATTRIBUTE_DESCRIPTION.match(attribute) or ";" in attribute:
            raise DnError(f"not a DN: {dn!r} (bad part {ava.strip()!r})")
        pairs.append((attribute.lower(), normalise_value(_unescape_dn_value(raw_value, dn))))
    return tuple(sorted(pairs))


def _unescape_dn_value(raw: str, dn: str) -> str:
    """Undo RFC 4514 escapes and drop the spaces that are not escaped at either end."""
    value = bytearray()
    significant_length = 0  # bytes up to the last escaped or non-space character
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\":
            pair = raw[index + 1 : index + 3]
            if _HEX_PAIR.fullmatch(pair):
                value.append(int(pair, 16))
                index += 3
            elif index + 1 < len(raw) and raw[index + 1] in _DN_SPECIALS:
                value.extend(raw[index + 1].encode())
                index += 2
            else:
                raise DnError(f"not a DN: {dn!r} (bad escape in {raw.strip()!r})")
            significant_length = len(value)
            continue
        if char == " " and not value:
            index += 1  # a leading unescaped space is not part of the value
            continue
        value.extend(char.encode())
        if char != " ":
            significant_length = len(value)
        index += 1
    try:
        return bytes(value[:significant_length]).decode("utf-8")
    except UnicodeDecodeError:
        raise DnError(f"not a DN: {dn!r} (escapes are not UTF-8)") from None


# -------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """A directory entry: its DN and its values, keyed by ``attribute_key``."""

    dn: str
    attributes: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_pairs(cls, dn: str, pairs: Iterable[tuple[str, str]]) -> Entry:
        """Build an entry from (attribute description, value) pairs, keeping value order."""
        collected: dict[str, list[str]] = {}
        for description, value in pairs:
            collected.setdefault(attribute_key(description), []).append(value)
        return cls(dn, {key: tuple(values) for key, values in collected.items()})

    def values(self, attribute: str) -> tuple[str, ...]:
        return self.attributes.get(attribute_key(attribute), ())

    def first(self, attribute: str) -> str | None:
        values = self.values(attribute)
        return values[0] if values else None


# -------------------------------------------------------------------------- filters


class Filter(ABC):
    """A parsed search filter."""

    @abstractmethod
    def matches(self, entry: Entry) -> bool: ...


@dataclass(frozen=True)
class AndFilter(Filter):
    children: tuple[Filter, ...]

    def matches(self, entry: Entry) -> bool:
        return all(child.matches(entry) for child in self.children)


@dataclass(frozen=True)
class OrFilter(Filter):
    children: tuple[Filter, ...]

    def matches(self, entry: Entry) -> bool:
        return any(child.matches(entry) for child in self.children)


@dataclass(frozen=True)
class NotFilter(Filter):
    child: Filter

    def matches(self, entry: Entry) -> bool:
        return not self.child.matches(entry)


@dataclass(frozen=True)
class PresenceFilter(Filter):
    attribute: str

    def matches(self, entry: Entry) -> bool:
        return bool(entry.values(self.attribute))


@dataclass(frozen=True)
class EqualityFilter(Filter):
    attribute: str
    value: str

    def matches(self, entry: Entry) -> bool:
        return any(values_match(stored, self.value) for stored in entry.values(self.attribute))


@dataclass(frozen=True)
class SubstringFilter(Filter):
    attribute: str
    initial: str
    middle: tuple[str, ...]
    final: str

    def matches(self, entry: Entry) -> bool:
        return any(self._matches_value(stored) for stored in entry.values(self.attribute))

    def _matches_value(self, stored: str) -> bool:
        value = normalise_value(stored)
        initial, final = _fold(self.initial), _fold(self.final)
        if not value.startswith(initial):
            return False
        position = len(initial)
        for piece in map(_fold, self.middle):
            found = value.find(piece, position)
            if found < 0:
                return False
            position = found + len(piece)
        return len(value) - position >= len(final) and value.endswith(final)


@dataclass(frozen=True)
class OrderingFilter(Filter):
    attribute: str
    value: str
    greater: bool  # True for >=, False for <=

    def matches(self, entry: Entry) -> bool:
        return any(self._matches_value(stored) for stored in entry.values(self.attribute))

    def _matches_value(self, stored: str) -> bool:
        # Integers (gidNumber) order numerically, as integerOrderingMatch does.
        if _INTEGER.match(stored.strip()) and _INTEGER.match(self.value.strip()):
            return _ordered(int(stored), int(self.value), self.greater)
        return _ordered(normalise_value(stored), normalise_value(self.value), self.greater)


def _ordered(left: _Ordered, right: _Ordered, greater: bool) -> bool:
    return left >= right if greater else left <= right


def _fold(piece: str) -> str:
    """A substring piece as caseIgnoreSubstringsMatch sees it (no trimming at its ends)."""
    return re.sub(r"\s+", " ", piece).casefold()


def parse_filter(text: str) -> Filter:
    """Parse an RFC 4515 search filter; a bare item without parentheses is accepted."""
    stripped = text.strip()
    if not stripped.startswith("("):
        stripped = f"({stripped})"  # as OpenLDAP's command-line tools allow
    parser = _FilterParser(stripped)
    parsed = parser.parse_filter()
    parser.skip_spaces()
    if not parser.at_end():
        parser.fail("unexpected text after the filter")
    return parsed


class _FilterParser:
    """Recursive descent over one filter string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def fail(self, message: str) -> NoReturn:
        raise FilterError(f"bad filter {self.text!r} at character {self.position + 1}: {message}")

    def at_end(self) -> bool:
        return self.position >= len(self.text)

    def peek(self) -> str:
        return self.text[self.position] if not self.at_end() else ""

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.position += 1

    def expect(self, char: str) -> None:
        if self.peek() != char:
            self.fail(f"expected {char!r}")
        self.position += 1

    def parse_filter(self) -> Filter:
        self.skip_spaces()
        self.expect("(")
        self.skip_spaces()
        operator = self.peek()
        parsed: Filter
        if operator == "&":
            self.position += 1
            parsed = AndFilter(self.parse_filter_list())
        elif operator == "|":
            self.position += 1
            parsed = OrFilter(self.parse_filter_list())
        elif operator == "!":
            self.position += 1
            parsed = NotFilter(self.parse_filter())
        else:
            parsed = self.parse_item()
        self.skip_spaces()
        self.expect(")")
        return parsed

    def parse_filter_list(self) -> tuple[Filter, ...]:
        # An empty list is allowed: (&) is true and (|) is false (RFC 4526).
        children: list[Filter] = []
        self.skip_spaces()
        while self.peek() == "(":
            children.append(self.parse_filter())
            self.skip_spaces()
        return tuple(children)

    def parse_item(self) -> Filter:
        equals = self.text.find("=", self.position)
        if equals < 0:
            self.fail("expected an attribute, an operator and a value")
        attribute = self.text[self.position : equals]
        operator = "="
        if attribute[-1:] in ("~", ">", "<"):
            operator = attribute[-1] + "="
            attribute = attribute[:-1]
        attribute = attribute.strip()
        if ":" in attribute:
            self.fail("extensible matches (':=') are not supported")
        if operator == "~=":
            self.fail("approximate matches ('~=') are not supported")
        if not _ATTRIBUTE_DESCRIPTION.match(attribute):
            self.fail(f"bad attribute name {attribute!r}")
        self.position = equals + 1
        raw_value = self.read_raw_value()
        if operator in (">=", "<="):
            return OrderingFilter(attribute, self.unescape(raw_value), greater=operator == ">=")
        if raw_value == "*":
            return PresenceFilter(attribute)
        if "*" in raw_value:
            # Escaped stars are \2a, so a literal '*' here always separates pieces.
            first, *middle, last = raw_value.split("*")
            return SubstringFilter(
                attribute,
                self.unescape(first),
                tuple(self.unescape(piece) for piece in middle if piece),
                self.unescape(last),
            )
        return EqualityFilter(attribute, self.unescape(raw_value))

    def read_raw_value(self) -> str:
        start = self.position
        while not self.at_end() and self.peek() != ")":
            if self.peek() == "(":
                self.fail("'(' in a value must be escaped as \\28")
            self.position += 1
        return self.text[start : self.position]

    def unescape(self, raw: str) -> str:
        """Turn RFC 4515 ``\\XX`` escapes into the bytes they stand for (UTF-8)."""
        value = bytearray()
        index = 0
        while index < len(raw):
            if raw[index] == "\\":
                pair = raw[index + 1 : index + 3]
                if not _HEX_PAIR.fullmatch(pair):
                    self.fail(f"bad escape in value {raw!r} (use \\XX with two hex digits)")
                value.append(int(pair, 16))
                index += 3
            else:
                value.extend(raw[index].encode())
                index += 1
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"escapes in value {raw!r} are not UTF-8")


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
    if not _ATTRIBUTE_DESCRIPTION.match(name):
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
