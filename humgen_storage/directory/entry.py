"""A directory entry, as the live server and the LDIF file both give it.

Attribute names compare case-insensitively and without options (``cn;lang-en`` is
``cn``). The directory's schema is not known here, so attribute aliases
(``surname`` for ``sn``) are distinct names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from humgen_storage.names import printable


def attribute_key(description: str) -> str:
    """The name under which an attribute is stored and looked up: no options, lower case."""
    return description.split(";", 1)[0].strip().lower()


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


def integer_attribute(entry: Entry, attribute: str, log: logging.Logger) -> int | None:
    """``attribute``'s first value as an integer (a gidNumber, a uidNumber); None, with a
    warning naming the entry, when it is missing or not an integer: the entry is
    skipped, never the whole directory."""
    text = entry.first(attribute)
    try:
        return int(text or "")
    except ValueError:
        log.warning(
            "directory: skipping %s: %s %r is not an integer", printable(entry.dn), attribute, text
        )
        return None
