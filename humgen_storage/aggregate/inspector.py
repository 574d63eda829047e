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

One volume may be read by several processes (``mpistat.parallel``), each folding
blocks into its own ``ProjectInspector``, merged at the end. A process cannot know
whether another one saw an earlier name of an inode, so a hard-linked file's bytes
are never added while reading: the earliest name seen of each inode is kept with its
order key (line number), a merge keeps the earlier, and ``finish`` adds the bytes to
that name's row. A row's gid (its first directory record) is kept the same way.

Only paths that can lie under a root are decoded: the regex-free leading part of each
root gives a fixed prefix of the *encoded* path field (base64 of a multiple of three
bytes, or the Go-quoted text), compared before any decoding; ``add_block`` compares it
for a whole block at once with numpy, so records outside the roots never reach
Python, except files with nlink > 1 (for their order key).
"""

from __future__ import annotations

import binascii
import bisect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from humgen_storage.mpistat.paths import PathDecodeError
from humgen_storage.mpistat.reader import FIELDS, Format

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


# Positions of the fields in a line (the same in both formats; wrstat adds one at the end).
_SIZE, _GID, _MTIME, _TYPE, _INODE, _NLINK, _DEV = (
    FIELDS.index(name) for name in ("size", "gid", "mtime", "type", "inode", "nlink", "dev")
)
_TAB, _NEWLINE, _ZERO, _MINUS, _ONE = 9, 10, ord("0"), ord("-"), ord("1")
_FILE, _DIRECTORY = ord("f"), ord("d")
# Up to 18 decimal digits always fit in an int64; wider fields are parsed by Python.
_MAX_DIGITS = 18
_POWERS = 10 ** np.arange(_MAX_DIGITS - 1, -1, -1, dtype=np.int64)

Positions = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
# A multi-link inode's earliest name seen: its order key alone when no row takes its
# bytes (outside the roots or the PATH query, undecodable, or 0 bytes); else
# (order key, the row's cut, bytes, class position or None).
LinkEntry = int | tuple[int, tuple[bytes, ...], int, int | None]


def _entry_order(entry: LinkEntry) -> int:
    return entry if isinstance(entry, int) else entry[0]


def _integers(
    block: bytes, data: npt.NDArray[np.uint8], starts: Positions, ends: Positions
) -> npt.NDArray[Any]:
    """The decimal fields ``block[start:end]`` (a leading ``-`` allowed): int64, or
    Python ints (dtype object) when a field is too wide for int64."""
    if not len(starts):
        return np.zeros(0, dtype=np.int64)
    negative = data[starts] == _MINUS
    first_digit = starts + negative
    width = int((ends - first_digit).max())
    if width > _MAX_DIGITS:  # never in real input, but exact all the same
        values = [int(block[s:e]) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
        return np.array(values, dtype=object)
    # Each field's digits, right-aligned in a (fields x width) matrix; the bytes left
    # of a field (earlier fields, separators) count as 0.
    positions = ends[:, None] + np.arange(-width, 0)
    digits = data[positions].astype(np.int64) - _ZERO
    digits[positions < first_digit[:, None]] = 0
    numbers = digits @ _POWERS[-width:]
    return np.where(negative, -numbers, numbers)


@dataclass
class UndecodablePaths:
    """Path fields under a root's prefix that could not be decoded (skipped, counted).

    ``examples`` are the (line, reason) of the first few in input order. The line is
    the block's first line plus the record's position among the block's valid lines:
    exact unless the block also held malformed lines, and then never past the real one.
    """

    count: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)
    keep: int = 5

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        examples = self.examples
        if len(examples) < self.keep or line < examples[-1][0]:
            bisect.insort(examples, (line, reason))
            del examples[self.keep :]

    def merge(self, other: UndecodablePaths) -> None:
        self.count += other.count
        self.examples = sorted(self.examples + other.examples)[: self.keep]


class ProjectInspector:
    """Aggregates one volume's records into inspector rows.

    ``reference`` is the input file's mtime: newer mtimes are ignored for Last
    Modified. ``only_under`` (short-path components) keeps only records at or below
    it, for a PATH query that needs a single project.

    It is a partial aggregate in the sense of ``mpistat.parallel``: each process folds
    its blocks in with ``add_block``, and ``merge`` combines the partials of one volume
    exactly. Whatever depends on input order (a hard-linked file's first name, a
    row's first directory record) is kept with its order key, the earliest wins on a
    merge, and hard-linked bytes are only placed by ``finish``.
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
        # cut -> [files, total, newest mtime, class bytes...] of the records whose cut it
        # is; hard-linked bytes are not in here (see _links)
        self._own_rows: dict[tuple[bytes, ...], list[int]] = {}
        # cut -> (order key, gid) of the first directory record whose short path is the cut
        self._row_gids: dict[tuple[bytes, ...], tuple[int, int]] = {}
        # (dev << 64 | inode) of each file with nlink > 1 -> its earliest name seen
        self._links: dict[int, LinkEntry] = {}
        # One tuple per cut, shared by the link entries of that row.
        self._cuts: dict[tuple[bytes, ...], tuple[bytes, ...]] = {}
        # Files of one directory are usually consecutive: remember the last parent's row.
        self._last_parent: bytes | None = None
        self._last_row: list[int] | None = None
        # Order keys for add_records, which gets no line numbers.
        self._next_order = 0

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

    def _place(self, directory: bytes) -> tuple[tuple[bytes, ...], list[int]] | None:
        """The cut and row a file in ``directory`` counts in; None when not reported."""
        short = self.short_path(directory)
        if short is None or not self._is_wanted(short):
            return None
        cut = directory_cut(short, self.depth)
        cut = self._cuts.setdefault(cut, cut)
        return cut, self._row_of_cut(cut)

    def _row_of_directory(self, directory: bytes) -> list[int] | None:
        """The row a file in ``directory`` counts in; None when not reported."""
        placed = self._place(directory)
        return None if placed is None else placed[1]

    def _decode_directory_path(self, order: int, path_field: bytes) -> bytes | None:
        try:
            return self._decode(path_field)
        except PathDecodeError as exc:
            self.undecodable.add(order, str(exc))
            return None

    def _decode_file_path(self, order: int, path_field: bytes) -> bytes | None:
        """As the hot loop of ``_add_files`` decodes (and words its failures)."""
        try:
            if self._base64:
                path = binascii.a2b_base64(path_field, strict_mode=True)
            elif b"\\" in path_field:
                path = self._decode(path_field)
            else:
                path = path_field[1:-1]
        except ValueError as exc:  # binascii.Error or PathDecodeError
            self.undecodable.add(order, f"undecodable path: {exc}")
            return None
        if b"\0" in path:
            self.undecodable.add(order, "NUL byte in path")
            return None
        return path

    # -- input ------------------------------------------------------------------------

    def add_block(self, fmt: Format, block: bytes, first_line: int) -> None:
        """Fold in a block of valid lines (``mpistat.parallel``'s partial protocol).

        Columns are cut with numpy; Python only sees the records it must: files and
        directories whose encoded path has a root's prefix, and files with nlink > 1
        anywhere (their first name may lie outside the roots). The order key of a
        record is ``first_line`` plus its position in the block.
        """
        if not block:
            return
        data = np.frombuffer(block, dtype=np.uint8)
        if fmt is Format.BASE64:
            # Base64 and decimal fields: tab and newline are the only bytes below 11.
            flat = np.flatnonzero(data < 11)
        else:
            flat = np.flatnonzero((data == _TAB) | (data == _NEWLINE))
        # A clean line has one separator after each field: one row of them per line.
        separators = flat.reshape(-1, len(fmt.field_names))
        lines = len(separators)
        starts = np.empty(lines, dtype=np.intp)
        starts[0] = 0
        starts[1:] = separators[:-1, -1] + 1

        def field_of(name: int, rows: Positions) -> tuple[Positions, Positions]:
            return separators[rows, name - 1] + 1, separators[rows, name]

        def numbers(name: int, rows: Positions) -> npt.NDArray[Any]:
            return _integers(block, data, *field_of(name, rows))

        def paths(rows: Positions) -> list[bytes]:
            return [
                block[s:e]
                for s, e in zip(starts[rows].tolist(), separators[rows, 0].tolist(), strict=True)
            ]

        kinds = data[separators[:, _TYPE - 1] + 1]
        is_file = kinds == _FILE
        inside = self._inside(block, starts)  # None: no prefix filter, every line
        # Files whose nlink is not written "1": 0 (no bytes), > 1 (hard-linked) or odd.
        nlink_at = separators[:, _NLINK - 1] + 1
        plain = (separators[:, _NLINK] - nlink_at == 1) & (data[nlink_at] == _ONE)
        odd = np.flatnonzero(is_file & ~plain)
        files = is_file if inside is None else is_file & inside
        linked = empty = odd[:0]
        if len(odd):
            counts = numbers(_NLINK, odd)
            linked = odd[np.greater(counts, 1, dtype=bool)]
            empty = odd[np.equal(counts, 0, dtype=bool)]
            files[linked] = False  # placed by _add_links

        rows = np.flatnonzero(files)
        if len(rows):
            sizes = numbers(_SIZE, rows)
            if len(empty):  # nlink 0 (deleted mid-crawl): a file, but no bytes
                deleted = np.zeros(lines, dtype=bool)
                deleted[empty] = True
                sizes[deleted[rows]] = 0
            self._add_files(
                (rows + first_line).tolist(),
                paths(rows),
                sizes.tolist(),
                numbers(_MTIME, rows).tolist(),
            )

        directories = kinds == _DIRECTORY
        rows = np.flatnonzero(directories if inside is None else directories & inside)
        if len(rows):
            self._add_directories(
                (rows + first_line).tolist(),
                paths(rows),
                numbers(_MTIME, rows).tolist(),
                numbers(_GID, rows).tolist(),
            )

        if len(linked):
            devices, inodes = numbers(_DEV, linked).tolist(), numbers(_INODE, linked).tolist()
            keys = [dev << 64 | inode for dev, inode in zip(devices, inodes, strict=True)]
            fields: list[bytes | None] = list(paths(linked))
            if inside is not None:
                fields = [
                    f if i else None for f, i in zip(fields, inside[linked].tolist(), strict=True)
                ]
            self._add_links(
                (linked + first_line).tolist(),
                keys,
                fields,
                numbers(_SIZE, linked).tolist(),
                numbers(_MTIME, linked).tolist(),
            )

    def _inside(self, block: bytes, starts: Positions) -> Mask | None:
        """Lines whose encoded path starts with a root's prefix; None when every line may."""
        if self._prefixes is None:
            return None
        inside = np.zeros(len(starts), dtype=bool)
        for prefix in self._prefixes:
            width = len(prefix)
            if len(block) < width:
                continue
            # Every width-byte window of the block, as one fixed-size bytes value each.
            windows = np.ndarray(
                (len(block) - width + 1,), dtype=f"S{width}", buffer=block, strides=(1,)
            )
            # A window cut short by the end of the block holds the last newline: no match.
            inside |= windows[np.minimum(starts, len(block) - width)] == prefix
        return inside

    def add_records(self, records: Iterable[tuple[bytes, ...]]) -> None:
        """Fold in reader rows (``INSPECTOR_FIELDS``, in file order), one call after another."""
        prefixes = self._prefixes
        order = self._next_order
        files: tuple[list[Any], ...] = ([], [], [], [])
        directories: tuple[list[Any], ...] = ([], [], [], [])
        links: tuple[list[Any], ...] = ([], [], [], [], [])
        for path_field, size, gid, mtime, kind, inode, nlink, dev in records:
            order += 1
            inside = prefixes is None or path_field.startswith(prefixes)
            if kind == b"f":
                count = int(nlink)
                if count > 1:
                    row: tuple[Any, ...] = (
                        order,
                        int(dev) << 64 | int(inode),
                        path_field if inside else None,
                        int(size),
                        int(mtime),
                    )
                    for column, value in zip(links, row, strict=True):
                        column.append(value)
                elif inside:
                    row = (order, path_field, int(size) if count else 0, int(mtime))
                    for column, value in zip(files, row, strict=True):
                        column.append(value)
            elif kind == b"d" and inside:
                row = (order, path_field, int(mtime), int(gid))
                for column, value in zip(directories, row, strict=True):
                    column.append(value)
        self._next_order = order
        self._add_files(*files)
        self._add_directories(*directories)
        self._add_links(*links)

    # -- the hot path -----------------------------------------------------------------

    def _add_files(
        self, orders: list[int], fields: list[bytes], sizes: list[int], mtimes: list[int]
    ) -> None:
        """Files with nlink 0 or 1 (sizes already 0 for nlink 0) under a root's prefix."""
        # Locals for speed: this loop runs once per record, up to 1e9 times a volume.
        decode = self._decode
        base64 = self._base64
        a2b_base64 = binascii.a2b_base64
        may_match = self._classifier.may_match
        class_position = self._classifier.position
        reference = self._reference_seconds
        row_of_directory = self._row_of_directory
        undecodable = self.undecodable
        last_parent = self._last_parent
        last_row = self._last_row
        records_seen = 0
        for order, path_field, size, when in zip(orders, fields, sizes, mtimes, strict=True):
            # The shared decoders, inlined for the common cases (a call costs as much
            # as the decoding): base64 straight from binascii, and a quoted path
            # without escapes is the text between its quotes (the line was validated).
            try:
                if base64:
                    path = a2b_base64(path_field, strict_mode=True)
                elif b"\\" in path_field:
                    path = decode(path_field)
                else:
                    path = path_field[1:-1]
            except ValueError as exc:  # binascii.Error or PathDecodeError
                undecodable.add(order, f"undecodable path: {exc}")
                continue
            if b"\0" in path:
                undecodable.add(order, "NUL byte in path")
                continue
            parent, _, name = path.rpartition(b"/")
            if parent != last_parent:
                last_parent = parent
                last_row = row_of_directory(parent)
            row = last_row
            if row is None:
                continue
            records_seen += 1
            # Literal positions (_FILES, _TOTAL, _NEWEST): constants, not global look-ups.
            row[0] += 1
            if when > row[2] and when <= reference:
                row[2] = when
            if size:
                row[1] += size
                if may_match is None or may_match(name) is not None:
                    position = class_position(name)
                    if position is not None:
                        row[position] += size
        self._last_parent = last_parent
        self._last_row = last_row
        self.records += records_seen

    def _add_directories(
        self, orders: list[int], fields: list[bytes], mtimes: list[int], gids: list[int]
    ) -> None:
        """Directories under a root's prefix."""
        for order, path_field, when, gid in zip(orders, fields, mtimes, gids, strict=True):
            path = self._decode_directory_path(order, path_field)
            if path is not None and self._add_directory(order, path, when, gid):
                self.records += 1

    def _add_directory(self, order: int, path: bytes, mtime: int, gid: int) -> bool:
        """A directory record: its own cut's row (and so its ancestors) exists, its mtime
        counts, and it names the row's group when it is the row's own directory."""
        short = self.short_path(path)
        if short is None or not self._is_wanted(short):
            return False
        cut = directory_cut(short, self.depth)
        row = self._row_of_cut(cut)
        if mtime > row[_NEWEST] and mtime <= self._reference_seconds:
            row[_NEWEST] = mtime
        if len(short) == len(cut):
            known = self._row_gids.get(cut)
            if known is None or order < known[0]:
                self._row_gids[cut] = (order, gid)
        return True

    def _add_links(
        self,
        orders: list[int],
        keys: list[int],
        fields: list[bytes | None],
        sizes: list[int],
        mtimes: list[int],
    ) -> None:
        """Files with nlink > 1, anywhere in the volume (``None`` fields: outside the
        roots' prefixes). Every name counts as a file where it is; the bytes wait in
        the link table with the earliest name seen (finish places them)."""
        links = self._links
        reference = self._reference_seconds
        for order, key, path_field, size, when in zip(
            orders, keys, fields, sizes, mtimes, strict=True
        ):
            known = links.get(key)
            first = known is None or order < _entry_order(known)
            placed = None
            if path_field is not None:
                path = self._decode_file_path(order, path_field)
                if path is not None:
                    parent, _, name = path.rpartition(b"/")
                    placed = self._place(parent)
                    if placed is not None:
                        row = placed[1]
                        self.records += 1
                        row[_FILES] += 1
                        if when > row[_NEWEST] and when <= reference:
                            row[_NEWEST] = when
            if first:
                if placed is None or not size:
                    links[key] = order
                else:
                    links[key] = (order, placed[0], size, self._classifier.position(name))

    # -- partials ---------------------------------------------------------------------

    def merge(self, other: ProjectInspector) -> None:
        """Fold in another partial aggregate of the same volume (and settings), exactly."""
        rows = self._own_rows
        for cut, theirs in other._own_rows.items():
            mine = rows.get(cut)
            if mine is None:
                rows[cut] = list(theirs)  # other stays as it was
                continue
            mine[_FILES] += theirs[_FILES]
            mine[_TOTAL] += theirs[_TOTAL]
            if theirs[_NEWEST] > mine[_NEWEST]:
                mine[_NEWEST] = theirs[_NEWEST]
            for position in range(_FIRST_CLASS, self._row_width):
                mine[position] += theirs[position]
        gids = self._row_gids
        for cut, (order, gid) in other._row_gids.items():
            known = gids.get(cut)
            if known is None or order < known[0]:
                gids[cut] = (order, gid)
        links = self._links
        for key, entry in other._links.items():
            known_entry = links.get(key)
            if known_entry is None or _entry_order(entry) < _entry_order(known_entry):
                links[key] = entry
        self.undecodable.merge(other.undecodable)
        self.records += other.records

    # -- the end ----------------------------------------------------------------------

    def finish(self) -> list[InspectorRow]:
        """Every row with its ancestors' sums, sorted by Project then Directory."""
        own = {cut: list(row) for cut, row in self._own_rows.items()}
        # Each hard-linked inode's bytes, once, in the row of its first name.
        for entry in self._links.values():
            if isinstance(entry, int):
                continue
            _, cut, size, position = entry
            row = own.get(cut)
            if row is None:
                row = own[cut] = self._new_accumulator()
            row[_TOTAL] += size
            if position is not None:
                row[position] += size
        sums: dict[tuple[bytes, ...], list[int]] = {}
        for cut, row in own.items():
            for length in range(1, len(cut) + 1):
                key = cut[:length]
                total = sums.get(key)
                if total is None:
                    total = sums[key] = self._new_accumulator()
                total[_FILES] += row[_FILES]
                total[_TOTAL] += row[_TOTAL]
                if row[_NEWEST] > total[_NEWEST]:
                    total[_NEWEST] = row[_NEWEST]
                for position in range(_FIRST_CLASS, self._row_width):
                    total[position] += row[position]
        rows = []
        for key, total in sums.items():
            project = sums[key[:2]]
            newest = total[_NEWEST]
            gid = self._row_gids.get(key)
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
                    gid=None if gid is None else gid[1],
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
