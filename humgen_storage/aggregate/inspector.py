"""Project-inspector aggregation (spec section 5): pure, rows in, aggregates out.

Input rows are the reader's byte tuples ``INSPECTOR_FIELDS`` of one volume, in file
order. A record takes part when its type is ``f`` or ``d`` and its path lies under one
of the volume's *roots* (path patterns, possibly regular expressions for multi-MDT
layouts, matched as ``^<root>(/|$)`` on the path without its leading ``/``; the first
matching root wins). Its *short path* starts at the root's last component, so
``projects/foo`` spread over ``mdt0`` … ``mdt3`` is one project.

Rows are keyed by the *cut* of a directory's short path (its first ``depth + 1``
components, one more under a ``users`` directory). While reading, every record only
touches the row of its own cut; ancestors are summed once at the end (``finish``).
Memory therefore grows with the number of rows and of multi-link inodes, never with
the number of records.

Hard links: an inode with nlink > 1 counts once per volume, in the row of its first
name in input order. "First" is over the whole volume: a first name outside every
root takes the bytes with it, so a PATH query sees the same numbers as a full run.

Only paths that can lie under a root are decoded: the regex-free leading part of each
root gives a fixed prefix of the *encoded* path field (base64 of a multiple of three
bytes, or the Go-quoted text), compared before any decoding.
"""

from __future__ import annotations

import binascii
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from humgen_storage.mpistat.paths import PathDecodeError
from humgen_storage.mpistat.reader import Format

# Requested from the reader in this (line) order.
INSPECTOR_FIELDS = ("path", "size", "gid", "mtime", "type", "inode", "nlink", "dev")

DEFAULT_DEPTH = 2
USERS = b"users"

# Positions in a row accumulator (a list, for speed on the hot path); the byte
# counts of the file classes follow from _FIRST_CLASS on, in configured order.
_FILES, _TOTAL, _NEWEST, _FIRST_CLASS = 0, 1, 2, 3
# Below any real mtime (they are 64-bit seconds): "no mtime seen yet".
_NO_MTIME = -(1 << 64)

_REGEX_SPECIAL = frozenset(".^$*+?{}[]\\|()")
_OPTIONAL_NEXT = frozenset("*?{")
# Characters Go's strconv.Quote writes unchanged (printable ASCII but '"' and '\').
_GO_PLAIN = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}


# ------------------------------------------------------------------------ roots


@dataclass(frozen=True)
class InspectorRoot:
    """One configured root pattern, compiled."""

    pattern: str
    # Matched at position 1 of the path (after its leading '/'); ends where the root ends.
    regex: re.Pattern[bytes]
    # The leading part of the path every match starts with, '/' included.
    literal: bytes


def literal_prefix(pattern: str) -> str:
    """The longest leading text that every string matching the regex ``pattern`` starts with.

    Conservative: it stops at the first special character, and drops the character
    before a ``*``, ``?`` or ``{`` (which may make it optional). A top-level ``|``
    anywhere means there is no common prefix.
    """
    if "|" in pattern:
        return ""
    for index, char in enumerate(pattern):
        if char in _REGEX_SPECIAL:
            literal = pattern[:index]
            return literal[:-1] if char in _OPTIONAL_NEXT else literal
    return pattern


def compile_root(pattern: str) -> InspectorRoot:
    text = pattern.strip("/")
    # \Z rather than $: a name may end with a newline, which $ would skip.
    regex = re.compile(b"(?:" + text.encode() + rb")(?=/|\Z)")
    return InspectorRoot(pattern=text, regex=regex, literal=b"/" + literal_prefix(text).encode())


def encoded_prefix(literal: bytes, path_format: Format) -> bytes:
    """A prefix that the encoded path field of every path starting with ``literal`` has."""
    if path_format is Format.WRSTAT:
        # Go quoting keeps plain printable ASCII as is; stop at anything it might escape.
        plain = 0
        while plain < len(literal) and literal[plain] in _GO_PLAIN:
            plain += 1
        return b'"' + literal[:plain]
    # Base64 encodes each 3 bytes into 4 characters independently of what follows.
    whole = len(literal) // 3 * 3
    return binascii.b2a_base64(literal[:whole], newline=False)


def encoded_prefixes(
    roots: Sequence[InspectorRoot], path_format: Format
) -> tuple[bytes, ...] | None:
    """Prefixes for ``bytes.startswith``; None when some root allows any path (no filter)."""
    prefixes = tuple(encoded_prefix(root.literal, path_format) for root in roots)
    if not prefixes or any(len(prefix) <= 1 for prefix in prefixes):
        return None
    return prefixes


def directory_cut(short_path: Sequence[bytes], depth: int) -> tuple[bytes, ...]:
    """The row a directory belongs to: its first ``depth + 1`` components, one more when
    ``depth >= 2`` and the third component is ``users`` in any case."""
    keep = depth + 1
    if depth >= 2 and len(short_path) > 2 and short_path[2].lower() == USERS:
        keep += 1
    return tuple(short_path[:keep])


# ------------------------------------------------------------------------ results


@dataclass(frozen=True)
class InspectorRow:
    """One row of the inspector's table for one volume (sizes in bytes)."""

    short_path: tuple[bytes, ...]
    files: int
    total_bytes: int
    class_bytes: Mapping[str, int]
    last_modified_days: float | None
    # gid of the first directory record whose short path is this row's own directory
    gid: int | None
    project_total_bytes: int

    @property
    def project(self) -> bytes:
        return b"/".join(self.short_path[:2])

    @property
    def directory(self) -> bytes:
        """The components below the project; empty for project and root rows."""
        return b"/".join(self.short_path[2:])

    def is_at_or_below(self, prefix: Sequence[bytes]) -> bool:
        return self.short_path[: len(prefix)] == tuple(prefix)


def days_since(reference: float, newest_mtime: int | None) -> float | None:
    """``round((reference - newest mtime) / 86400, 1)``; None when nothing was seen."""
    if newest_mtime is None:
        return None
    return round((reference - newest_mtime) / 86400, 1)


def sort_key(row: InspectorRow) -> tuple[bytes, bytes]:
    """Project, then Directory, comparing bytes; a project's own row (*TOTAL*) first."""
    return row.project, row.directory


# ------------------------------------------------------------------------ aggregation


class FileClassifier:
    """A file name -> the position of its class in a row accumulator (first match wins)."""

    def __init__(self, file_classes: Sequence[tuple[str, str]]) -> None:
        sources = [pattern for _, pattern in file_classes]
        self._searches = [
            (_FIRST_CLASS + index, re.compile(source.encode()).search)
            for index, source in enumerate(sources)
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

    def position(self, name: bytes) -> int | None:
        for position, search in self._searches:
            if search(name) is not None:
                return position
        return None


@dataclass
class UndecodablePaths:
    """Path fields under a root's prefix that could not be decoded (skipped, counted)."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, reason: str, keep: int = 5) -> None:
        self.count += 1
        if len(self.examples) < keep:
            self.examples.append(reason)


class ProjectInspector:
    """Aggregates one volume's records into inspector rows.

    ``reference`` is the input file's mtime: newer mtimes are ignored for Last
    Modified. ``only_under`` (short-path components) keeps only records at or below
    it, for a PATH query that needs a single project.
    """

    def __init__(
        self,
        roots: Sequence[str],
        file_classes: Sequence[tuple[str, str]],
        reference: float,
        path_format: Format,
        depth: int = DEFAULT_DEPTH,
        only_under: Sequence[bytes] = (),
    ) -> None:
        if depth < 0:
            raise ValueError(f"depth must be 0 or more, got {depth}")
        self.roots = tuple(compile_root(pattern) for pattern in roots)
        self.class_names = tuple(name for name, _ in file_classes)
        self.reference = reference
        self.depth = depth
        self.only_under = tuple(only_under)
        self.undecodable = UndecodablePaths()
        self.records = 0  # records of type f or d under a root
        self._prefixes = encoded_prefixes(self.roots, path_format)
        self._decode = path_format.decode_path
        self._base64 = path_format is Format.BASE64
        self._classifier = FileClassifier(file_classes)
        # Whole seconds: for an integer mtime, m <= floor(reference) iff m <= reference,
        # and int-to-int comparisons are the cheaper ones on the hot path.
        self._reference_seconds = math.floor(reference)
        self._row_width = _FIRST_CLASS + len(self.class_names)
        # cut -> [files, total, newest mtime, class bytes...] of the records whose cut it is
        self._own_rows: dict[tuple[bytes, ...], list[int]] = {}
        # cut -> gid of the first directory record whose short path is the cut itself
        self._row_gids: dict[tuple[bytes, ...], int] = {}
        # (dev << 64 | inode) of multi-link inodes already counted in this volume
        self._counted_links: set[int] = set()
        # Files of one directory are usually consecutive: remember the last parent's row.
        self._last_parent: bytes | None = None
        self._last_row: list[int] | None = None

    # -- placing paths ----------------------------------------------------------------

    def short_path(self, path: bytes) -> list[bytes] | None:
        """Components from the first matching root's last component; None when under no root."""
        if path[:1] != b"/":
            return None
        for root in self.roots:
            match = root.regex.match(path, 1)
            if match is not None:
                start = path.rfind(b"/", 0, match.end()) + 1
                return path[start:].split(b"/")
        return None

    def _new_accumulator(self) -> list[int]:
        return [0, 0, _NO_MTIME] + [0] * (self._row_width - _FIRST_CLASS)

    def _row_of_cut(self, cut: tuple[bytes, ...]) -> list[int]:
        row = self._own_rows.get(cut)
        if row is None:
            row = self._own_rows[cut] = self._new_accumulator()
        return row

    def _is_wanted(self, short: list[bytes]) -> bool:
        only = self.only_under
        return not only or tuple(short[: len(only)]) == only

    def _row_of_directory(self, directory: bytes) -> list[int] | None:
        """The row a file in ``directory`` counts in; None when outside every root."""
        short = self.short_path(directory)
        if short is None or not self._is_wanted(short):
            return None
        return self._row_of_cut(directory_cut(short, self.depth))

    # -- the hot path -----------------------------------------------------------------

    def add_records(self, records: Iterable[tuple[bytes, ...]]) -> None:
        """Fold one block of reader rows (``INSPECTOR_FIELDS``, in file order) in."""
        # Locals for speed: this loop runs once per record, up to 1e9 times a volume.
        prefixes = self._prefixes
        decode = self._decode
        base64 = self._base64
        a2b_base64 = binascii.a2b_base64
        may_match = self._classifier.may_match
        class_position = self._classifier.position
        counted_links = self._counted_links
        reference = self._reference_seconds
        row_of_directory = self._row_of_directory
        last_parent = self._last_parent
        last_row = self._last_row
        records_seen = 0
        for path_field, size, gid, mtime, kind, inode, nlink, dev in records:
            if kind == b"f":
                # A multi-link inode's bytes belong to its first name in the whole
                # volume, so it is remembered even where the record is not reported
                # (outside the roots, or outside a PATH query's project).
                has_bytes = True
                if nlink != b"1":
                    links = int(nlink)
                    if links == 0:
                        has_bytes = False  # deleted mid-crawl: a file, but no bytes
                    elif links > 1:
                        key = int(dev) << 64 | int(inode)
                        if key in counted_links:
                            has_bytes = False  # counted at this inode's first name
                        else:
                            counted_links.add(key)
                if prefixes is not None and not path_field.startswith(prefixes):
                    continue
                # The shared decoders, inlined for the common cases (a call costs as
                # much as the decoding): base64 straight from binascii, and a quoted
                # path without escapes is the text between its quotes (the reader has
                # validated the quoting).
                try:
                    if base64:
                        path = a2b_base64(path_field, strict_mode=True)
                    elif b"\\" in path_field:
                        path = decode(path_field)
                    else:
                        path = path_field[1:-1]
                except ValueError as exc:  # binascii.Error or PathDecodeError
                    self.undecodable.add(f"undecodable path: {exc}")
                    continue
                if b"\0" in path:
                    self.undecodable.add("NUL byte in path")
                    continue
                parent, _, name = path.rpartition(b"/")
                if parent != last_parent:
                    last_parent = parent
                    last_row = row_of_directory(parent)
                row = last_row
                if row is None:
                    continue
                records_seen += 1
                # Literal positions (_FILES, _NEWEST, _TOTAL): constants, not global look-ups.
                row[0] += 1
                when = int(mtime)
                if when > row[2] and when <= reference:
                    row[2] = when
                if has_bytes:
                    byte_count = int(size)
                    if byte_count:
                        row[1] += byte_count
                        if may_match is None or may_match(name) is not None:
                            position = class_position(name)
                            if position is not None:
                                row[position] += byte_count
            elif kind == b"d":
                if prefixes is not None and not path_field.startswith(prefixes):
                    continue
                try:
                    path = decode(path_field)
                except PathDecodeError as exc:
                    self.undecodable.add(str(exc))
                    continue
                if self._add_directory(path, int(mtime), gid):
                    records_seen += 1
        self._last_parent = last_parent
        self._last_row = last_row
        self.records += records_seen

    def _add_directory(self, path: bytes, mtime: int, gid: bytes) -> bool:
        """A directory record: its own cut's row (and so its ancestors) exists, its mtime
        counts, and it names the row's group when it is the row's own directory."""
        short = self.short_path(path)
        if short is None or not self._is_wanted(short):
            return False
        cut = directory_cut(short, self.depth)
        row = self._row_of_cut(cut)
        if mtime > row[_NEWEST] and mtime <= self._reference_seconds:
            row[_NEWEST] = mtime
        if len(short) == len(cut) and cut not in self._row_gids:
            self._row_gids[cut] = int(gid)
        return True

    # -- the end ----------------------------------------------------------------------

    def finish(self) -> list[InspectorRow]:
        """Every row with its ancestors' sums, sorted by Project then Directory."""
        sums: dict[tuple[bytes, ...], list[int]] = {}
        for cut, own in self._own_rows.items():
            for length in range(1, len(cut) + 1):
                key = cut[:length]
                total = sums.get(key)
                if total is None:
                    total = sums[key] = self._new_accumulator()
                total[_FILES] += own[_FILES]
                total[_TOTAL] += own[_TOTAL]
                if own[_NEWEST] > total[_NEWEST]:
                    total[_NEWEST] = own[_NEWEST]
                for position in range(_FIRST_CLASS, self._row_width):
                    total[position] += own[position]
        rows = []
        for key, total in sums.items():
            project = sums[key[:2]]
            newest = total[_NEWEST]
            rows.append(
                InspectorRow(
                    short_path=key,
                    files=total[_FILES],
                    total_bytes=total[_TOTAL],
                    class_bytes={
                        name: total[_FIRST_CLASS + index]
                        for index, name in enumerate(self.class_names)
                    },
                    last_modified_days=days_since(
                        self.reference, None if newest == _NO_MTIME else newest
                    ),
                    gid=self._row_gids.get(key),
                    project_total_bytes=project[_TOTAL],
                )
            )
        rows.sort(key=sort_key)
        return rows


# ------------------------------------------------------------------------ PATH queries


@dataclass(frozen=True)
class PathSelection:
    """What a PATH argument selects: rows of one volume at or below ``short_prefix``;
    with an empty prefix, the rows of the roots whose last component matches one of
    ``root_names`` (every root when that is empty too)."""

    volume: str
    short_prefix: tuple[bytes, ...] = ()
    root_names: tuple[str, ...] = ()

    def selects(self, row: InspectorRow) -> bool:
        if self.short_prefix:
            return row.is_at_or_below(self.short_prefix)
        if not self.root_names:
            return True
        first = row.short_path[0]
        return any(re.fullmatch(name.encode(), first) for name in self.root_names)

    @property
    def project(self) -> tuple[bytes, ...]:
        """The records a PATH query needs: its project (Project Total needs all of it)."""
        return self.short_prefix[:2]


def _matches(pattern: str, component: bytes) -> bool:
    return re.fullmatch(pattern.encode(), component) is not None


def _is_subsequence(components: Sequence[bytes], patterns: Sequence[str]) -> bool:
    """Every component matches a pattern, in order, skipping patterns (greedy is exact)."""
    position = 0
    for component in components:
        while position < len(patterns) and not _matches(patterns[position], component):
            position += 1
        if position == len(patterns):
            return False
        position += 1
    return True


def _human_match(components: Sequence[bytes], root: Sequence[str]) -> int | None:
    """Where the root's last component is in a path that leaves out some of the root's
    middle components (``/lustre/scratch115/projects/foo`` for root
    ``lustre/scratch115/realdata/mdt[0-9]/projects``); None when it is not such a path.
    The first two components (the volume's mount) must be the root's."""
    if len(root) < 3 or len(components) < 3:
        return None
    if not (_matches(root[0], components[0]) and _matches(root[1], components[1])):
        return None
    for index in range(2, len(components)):
        if _matches(root[-1], components[index]) and _is_subsequence(
            components[2:index], root[2:-1]
        ):
            return index
    return None


def _above_root(components: Sequence[bytes], root: Sequence[str]) -> bool:
    """The path is the volume's mount or a directory on the way to the root."""
    if len(components) < 2 or len(root) < 3:
        return False
    return (
        _matches(root[0], components[0])
        and _matches(root[1], components[1])
        and _is_subsequence(components[2:], root[2:-1])
    )


def select_path(path: bytes, roots_by_volume: Mapping[str, Sequence[str]]) -> PathSelection | None:
    """Map a normalised absolute path onto the configured roots (volumes in config order).

    In order of preference: the path matches a root pattern itself; it is a root's
    path with some middle components left out; it lies between a volume's mount and
    its roots. None when it is none of these.
    """
    components = [part for part in path.split(b"/") if part]
    for volume, patterns in roots_by_volume.items():
        for pattern in patterns:
            root = compile_root(pattern)
            match = root.regex.match(path, 1) if path[:1] == b"/" else None
            if match is not None:
                start = path.rfind(b"/", 0, match.end()) + 1
                short = tuple(part for part in path[start:].split(b"/") if part)
                return PathSelection(volume, short)
    for volume, patterns in roots_by_volume.items():
        for pattern in patterns:
            root_components = pattern.strip("/").split("/")
            index = _human_match(components, root_components)
            if index is not None:
                return PathSelection(volume, tuple(components[index:]))
    for volume, patterns in roots_by_volume.items():
        below = [
            pattern
            for pattern in patterns
            if _above_root(components, pattern.strip("/").split("/"))
        ]
        if below:
            every_root = len(below) == len(patterns)
            names = (
                () if every_root else tuple(pattern.strip("/").split("/")[-1] for pattern in below)
            )
            return PathSelection(volume, (), names)
    return None
