"""Root patterns: which records of a volume the inspector reports, and in which row.

A record takes part when its path lies under one of the volume's *roots*: path
patterns, possibly regular expressions for multi-MDT layouts, matched as
``^<root>(/|$)`` on the path without its leading ``/``; the first matching root wins.
Its *short path* starts at the root's last component, so ``projects/foo`` spread over
``mdt0`` … ``mdt3`` is one project. Rows are keyed by the *cut* of a directory's short
path (``directory_cut``).

Only paths that can lie under a root are decoded: the regex-free leading part of each
root (``literal_prefix``) gives a fixed prefix of the *encoded* path field.

Most roots match a fixed number of components, each on its own (``component_patterns``):
a directory's row then depends on its first few components only, which is what lets
the compiled kernel keep rows by directory prefix (inspect/placing.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from humgen_storage.mpistat.paths import encoded_prefix
from humgen_storage.mpistat.patterns import Format

DEFAULT_DEPTH = 2
USERS = b"users"

_REGEX_SPECIAL = frozenset(".^$*+?{}[]\\|()")
_OPTIONAL_NEXT = frozenset("*?{")


@dataclass(frozen=True)
class InspectorRoot:
    """One configured root pattern, compiled."""

    pattern: str
    # Matched at position 1 of the path (after its leading '/'); ends where the root ends.
    regex: re.Pattern[bytes]
    # The leading part of the path every match starts with, '/' included.
    literal: bytes
    # Each component's pattern (``fullmatch``) when every match is exactly those
    # components, one by one; None when the root is not so simple.
    components: tuple[re.Pattern[bytes], ...] | None = None


def literal_prefix(pattern: str) -> str:
    """The longest leading text that every string matching the regex ``pattern`` starts with.

    Conservative: it stops at the first special character, and drops the character
    before a ``*``, ``?`` or ``{`` (which may make it optional). A backslash before a
    character that is not an ASCII letter or digit is that character (``re.escape``
    writes them, e.g. for a PATH taken as a root). A top-level ``|`` anywhere means
    there is no common prefix.
    """
    literal: list[str] = []
    index = 0
    stop: str | None = None
    while index < len(pattern):
        char = pattern[index]
        escaped = pattern[index + 1 : index + 2]
        if char == "\\" and escaped and not (escaped.isascii() and escaped.isalnum()):
            if stop is None:
                literal.append(escaped)
            index += 2
            continue
        if char == "|":
            return ""
        if stop is None:
            if char in _REGEX_SPECIAL:
                stop = char
            else:
                literal.append(char)
        index += 1
    if stop in _OPTIONAL_NEXT:
        literal = literal[:-1]
    return "".join(literal)


def compile_root(pattern: str) -> InspectorRoot:
    text = pattern.strip("/")
    # \Z rather than $: a name may end with a newline, which $ would skip.
    regex = re.compile(b"(?:" + _pattern_bytes(text) + rb")(?=/|\Z)")
    return InspectorRoot(
        pattern=text,
        regex=regex,
        literal=b"/" + _pattern_bytes(literal_prefix(text)),
        components=component_patterns(_pattern_bytes(text)),
    )


# A root's pattern, a piece at a time: a '/', or a byte (or a class of them) that is no
# '/', at most once quantified.
_ROOT_PIECE = re.compile(
    rb"""(?P<slash>/)
    | (?P<atom>\\[^0-9A-Za-z/] | \[[^]^\\\[/]+\] | [^.^$|(){}\[\]\\/*+?])
      (?P<quantifier>[*+?]|\{[0-9]*(?:,[0-9]*)?\})?""",
    re.VERBOSE,
)


def component_patterns(pattern: bytes) -> tuple[re.Pattern[bytes], ...] | None:
    """The patterns of the components a root matches, one per '/' of ``pattern``, when
    no part of it can match a '/' or repeat one: literal bytes, escaped punctuation,
    classes that leave '/' out (not negated), each at most once quantified. Then a
    match is those components exactly, each matching its own pattern whole, and
    depends on nothing else. None for anything else (alternation, '.', groups,
    anchors, escapes such as \\S): those roots are placed one directory at a time."""
    parts: list[bytes] = [b""]
    at = 0
    while at < len(pattern):
        piece = _ROOT_PIECE.match(pattern, at)
        if piece is None:
            return None
        atom = piece.group("atom")
        if atom is None:
            parts.append(b"")
        elif atom[:1] == b"[" and re.fullmatch(atom, b"/"):  # a range across '/'
            return None
        else:
            parts[-1] += piece.group()
        at = piece.end()
    return tuple(re.compile(part) for part in parts)


def _pattern_bytes(text: str) -> bytes:
    """A root pattern's bytes; a PATH taken as a root may hold any bytes, kept in the
    text as surrogates (``path_as_root``)."""
    return text.encode("utf-8", "surrogateescape")


def encoded_prefixes(
    roots: Sequence[InspectorRoot], path_format: Format
) -> tuple[bytes, ...] | None:
    """Prefixes for ``bytes.startswith``; None when some root allows any path (no filter)."""
    quoted = path_format is Format.WRSTAT
    prefixes = tuple(encoded_prefix(root.literal, quoted) for root in roots)
    if not prefixes or any(len(prefix) <= 1 for prefix in prefixes):
        return None
    return prefixes


def directory_cut(short_path: Sequence[bytes], depth: int) -> tuple[bytes, ...]:
    """The row a directory belongs to: its first ``cut_length`` components."""
    return tuple(short_path[: cut_length(short_path, depth)])


def cut_length(short_path: Sequence[bytes], depth: int) -> int:
    """``depth + 1``, one more when ``depth >= 2`` and the third component is ``users``
    in any case (a short path of fewer components is cut at its end, whatever this is)."""
    keep = depth + 1
    if depth >= 2 and len(short_path) > 2 and short_path[2].lower() == USERS:
        keep += 1
    return keep
