"""File classes: a file's name to its configured class (BAM, CRAM, ...)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

# How a class literal matches a name, as the compiled kernel numbers them: anywhere,
# at its start (^), at its end ($, which also matches before a final newline), whole.
CONTAINS, STARTS, ENDS, WHOLE = range(4)
# Literals a pattern may stand for at most before it is left to the regex engine.
_MAX_LITERALS = 256

ClassLiteral = tuple[bytes, int, int]  # (literal, class position, how it matches)


class FileClassifier:
    """A file name -> the index of its class in configured order (first match wins)."""

    def __init__(self, file_classes: Sequence[tuple[str, str]]) -> None:
        sources = [pattern for _, pattern in file_classes]
        self._searches = [
            (index, re.compile(source.encode()).search) for index, source in enumerate(sources)
        ]
        # Most names match no class: one combined search rules them out in one go. It
        # is left out when a pattern holds a back-reference, which grouping would
        # renumber, or cannot be grouped (a leading global flag such as "(?i)").
        self.may_match: Callable[[bytes], object] | None = None
        if sources and not any(re.search(r"\\[1-9]|\(\?P=", source) for source in sources):
            combined = "|".join(f"(?:{source})" for source in sources)
            try:
                self.may_match = re.compile(combined.encode()).search
            except re.error:
                self.may_match = None
        # The same classes as literals, for the compiled kernel; None when some pattern
        # is more than a choice of literals.
        self.literals: tuple[ClassLiteral, ...] | None = ()
        for index, source in enumerate(sources):
            found = class_literals(source.encode())
            if found is None or self.literals is None:
                self.literals = None
                continue
            self.literals += tuple((literal, index, mode) for literal, mode in found)

    def position(self, name: bytes) -> int | None:
        for position, search in self._searches:
            if search(name) is not None:
                return position
        return None


def class_literals(pattern: bytes) -> list[tuple[bytes, int]] | None:
    """The literals a class pattern searches for, each with how it matches, when the
    pattern is only a choice of them: bytes, escaped punctuation, groups of
    alternatives (``(...)`` or ``(?:...)``), ``?`` after a byte or group, and ``^`` or
    ``$`` at the ends of a top-level alternative. ``\\.(bam|sam)(\\.gz)?$`` is ``.bam``,
    ``.sam``, ``.bam.gz`` and ``.sam.gz`` at the end. None for anything else."""
    found: list[tuple[bytes, int]] = []
    for alternative in _top_level(pattern):
        starts = alternative[:1] == b"^"
        ends = alternative[-1:] == b"$" and not _escaped_at(alternative, len(alternative) - 1)
        body = alternative[int(starts) : len(alternative) - int(ends)]
        parsed = _alternatives(body, 0)
        if parsed is None or parsed[1] != len(body):
            return None
        mode = (WHOLE if ends else STARTS) if starts else (ENDS if ends else CONTAINS)
        found += [(literal, mode) for literal in parsed[0]]
        if len(found) > _MAX_LITERALS:
            return None
    return found


def _escaped_at(pattern: bytes, at: int) -> bool:
    backslashes = len(pattern[:at]) - len(pattern[:at].rstrip(b"\\"))
    return backslashes % 2 == 1


def _top_level(pattern: bytes) -> list[bytes]:
    """``pattern`` cut at its top-level ``|`` (none inside a group or after a backslash)."""
    pieces: list[bytes] = []
    depth = start = at = 0
    while at < len(pattern):
        byte = pattern[at : at + 1]
        if byte == b"\\":
            at += 1
        elif byte == b"(":
            depth += 1
        elif byte == b")":
            depth -= 1
        elif byte == b"|" and depth == 0:
            pieces.append(pattern[start:at])
            start = at + 1
        at += 1
    pieces.append(pattern[start:])
    return pieces


def _alternatives(pattern: bytes, at: int) -> tuple[list[bytes], int] | None:
    """The literals of the alternatives from ``at`` up to an unmatched ``)`` or the end."""
    literals: list[bytes] = []
    while True:
        sequence = _sequence(pattern, at)
        if sequence is None:
            return None
        found, at = sequence
        literals += found
        if pattern[at : at + 1] != b"|":
            return literals, at
        at += 1


def _sequence(pattern: bytes, at: int) -> tuple[list[bytes], int] | None:
    """The literals of the atoms from ``at`` up to a ``|``, ``)`` or the end."""
    literals = [b""]
    while at < len(pattern) and pattern[at : at + 1] not in (b"|", b")"):
        atom = _atom(pattern, at)
        if atom is None:
            return None
        choices, at = atom
        if pattern[at : at + 1] == b"?":
            choices = [*choices, b""]
            at += 1
        if pattern[at : at + 1] in (b"?", b"*", b"+", b"{"):  # lazy, possessive, repeated
            return None
        literals = [literal + choice for literal in literals for choice in choices]
        if len(literals) > _MAX_LITERALS:
            return None
    return literals, at


def _atom(pattern: bytes, at: int) -> tuple[list[bytes], int] | None:
    """The literals of the byte, escape or group at ``at``, and where it ends."""
    byte = pattern[at : at + 1]
    if byte == b"(":
        group = pattern[at + 1 : at + 3]
        if group[:1] == b"?" and group != b"?:":  # a flag, a lookaround, a name
            return None
        inner = _alternatives(pattern, at + 1 + 2 * (group == b"?:"))
        if inner is None or pattern[inner[1] : inner[1] + 1] != b")":
            return None
        return inner[0], inner[1] + 1
    if byte == b"\\":
        escaped = pattern[at + 1 : at + 2]
        if not escaped or escaped.isalnum():
            return None
        return [escaped], at + 2
    if byte in b".^$*+?{}[]":
        return None
    return [byte], at + 1
