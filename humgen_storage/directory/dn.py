"""Values and distinguished names as a directory server compares them.

Without the server's schema, the offline directory (``ldif.py``) and its filters
(``filters.py``) decide equality the way the directory's usual matching rules do,
so an LDIF export answers the queries as the live server would:

* DNs (RFC 4514) compare case-insensitively, ignoring spaces around ``,``, ``=``
  and ``+`` and the order of the parts of a multi-valued RDN;
* values compare case-insensitively with runs of white space collapsed, as
  ``caseIgnoreMatch`` does; values that are both DNs also match when their
  normalised DNs are equal (``distinguishedNameMatch``).
"""

from __future__ import annotations

import re

# One RDN: its (attribute type, normalised value) pairs, sorted so that the order
# of a multi-valued RDN's parts does not matter.
Rdn = tuple[tuple[str, str], ...]
# A whole DN, leaf RDN first, as written.
NormalisedDn = tuple[Rdn, ...]

# An RFC 4512 attribute description (a name or an OID, then options): DNs, filters
# and LDIF lines all name attributes this way.
ATTRIBUTE_DESCRIPTION = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)(?:;[A-Za-z0-9-]+)*\Z"
)
# The two hex digits of a ``\XX`` escape, in DNs and in filters alike.
HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}")
# Characters that RFC 4514 lets a DN escape with a backslash instead of hex.
_DN_SPECIALS = frozenset(' "#+,;<=>\\')


class DnError(ValueError):
    """A string is not a valid distinguished name."""


# --------------------------------------------------------------------------- values


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
        if not equals or not ATTRIBUTE_DESCRIPTION.match(attribute) or ";" in attribute:
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
            if HEX_PAIR.fullmatch(pair):
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
