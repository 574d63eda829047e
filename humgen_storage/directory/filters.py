"""RFC 4515 search filters: the AST, its evaluation against an entry, and the parser.

The offline directory (``ldif.py``) evaluates the configured ``humgen_filter`` and
the fixed group queries here; ``load_directory`` parses the filter first in both
modes, so a malformed filter is the same error whichever source is configured.
Supported: equality, presence, substrings, ``>=``/``<=`` (numerically when both
sides are integers), ``&``, ``|``, ``!``, with ``\\XX`` escapes. Approximate
(``~=``) and extensible (``:=``) matches are rejected as unsupported.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from humgen_storage.directory.dn import (
    ATTRIBUTE_DESCRIPTION,
    HEX_PAIR,
    normalise_value,
    values_match,
)
from humgen_storage.directory.entry import Entry, attribute_key

_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_Ordered = TypeVar("_Ordered", int, str)


class FilterError(ValueError):
    """A string is not a valid (or a supported) LDAP search filter."""


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
        if not ATTRIBUTE_DESCRIPTION.match(attribute):
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
                if not HEX_PAIR.fullmatch(pair):
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


# What every posixGroup entry holds (RFC 2307: objectClass, cn and gidNumber are its
# MUST attributes; its object classes include posixGroup and top).
_EVERY_GROUP_HAS = frozenset({"objectclass", "cn", "gidnumber"})
_EVERY_GROUP_CLASSES = frozenset({"posixgroup", "top"})


def matches_every_group(parsed: Filter) -> bool:
    """True when ``parsed`` matches every posixGroup whatever the directory holds: as
    ``humgen_filter`` it would make every group humgen. A conservative, static test:
    presence of a mandatory attribute, ``objectClass=posixGroup`` or ``top``, the
    empty AND ``(&)``, and ANDs and ORs built from these (a NOT is never judged)."""
    if isinstance(parsed, PresenceFilter):
        return attribute_key(parsed.attribute) in _EVERY_GROUP_HAS
    if isinstance(parsed, EqualityFilter):
        return (
            attribute_key(parsed.attribute) == "objectclass"
            and normalise_value(parsed.value) in _EVERY_GROUP_CLASSES
        )
    if isinstance(parsed, AndFilter):
        return all(matches_every_group(child) for child in parsed.children)
    if isinstance(parsed, OrFilter):
        return any(matches_every_group(child) for child in parsed.children)
    return False
