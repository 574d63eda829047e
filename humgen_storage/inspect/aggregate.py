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
the number of records, and both are kept compact: a row is a dict entry (its cut as
one bytes object) and a few numpy cells, about 200 bytes; a multi-link inode is one
packed row of 37 bytes in a sorted table (``_LinkTable``); the result is columns too
(``InspectorRows``). Python code only finds each record's row (decoding its path);
numpy does the adding up.

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

import array
import binascii
import bisect
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.paths import PathDecodeError
from humgen_storage.mpistat.patterns import Format
from humgen_storage.run.mapped import mapped_zeros

# Requested from the reader in this (line) order.
INSPECTOR_FIELDS = ("path", "size", "gid", "mtime", "type", "inode", "nlink", "dev")

DEFAULT_DEPTH = 2
USERS = b"users"

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
        pattern=text, regex=regex, literal=b"/" + _pattern_bytes(literal_prefix(text))
    )


def _pattern_bytes(text: str) -> bytes:
    """A root pattern's bytes; a PATH taken as a root may hold any bytes, kept in the
    text as surrogates (``path_as_root``)."""
    return text.encode("utf-8", "surrogateescape")


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


class InspectorRows(Sequence[InspectorRow]):
    """One volume's rows, sorted by Project then Directory (what ``finish`` returns).

    Kept as columns: numpy arrays, and each row's short path joined by ``/`` (which
    no component contains). An ``InspectorRow`` is made when one is asked for, so a
    volume's table costs about 140 bytes a row instead of 700 for the objects. Equal
    to any sequence of the same rows.
    """

    def __init__(
        self,
        class_names: tuple[str, ...],
        reference: float,
        paths: list[bytes],
        files: npt.NDArray[np.int64],
        newest: npt.NDArray[np.int64],
        sizes: npt.NDArray[Any],
        gids: npt.NDArray[np.uint64],
        has_gid: npt.NDArray[np.bool_],
        project: npt.NDArray[np.intp],
    ) -> None:
        self.class_names = class_names
        self.reference = reference
        self.paths = paths
        self.files = files
        self.newest = newest  # _NO_MTIME: none
        # Column 0 all bytes, then one per class: int64, or Python ints (dtype object)
        # when some sum does not fit.
        self.sizes = sizes
        self.gids = gids
        self.has_gid = has_gid
        self.project = project  # the position of each row's project row (or its own)

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> InspectorRow: ...

    @overload
    def __getitem__(self, index: slice) -> list[InspectorRow]: ...

    def __getitem__(self, index: int | slice) -> InspectorRow | list[InspectorRow]:
        if isinstance(index, slice):
            return [self._row(at) for at in range(len(self))[index]]
        return self._row(range(len(self))[index])

    def __iter__(self) -> Iterator[InspectorRow]:
        return map(self._row, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __repr__(self) -> str:
        return f"InspectorRows({list(self)!r})"

    def _row(self, at: int) -> InspectorRow:
        sizes = self.sizes[at].tolist()
        when = int(self.newest[at])
        return InspectorRow(
            short_path=tuple(self.paths[at].split(b"/")),
            files=int(self.files[at]),
            total_bytes=sizes[0],
            class_bytes=dict(zip(self.class_names, sizes[1:], strict=True)),
            last_modified_days=days_since(self.reference, None if when == _NO_MTIME else when),
            gid=int(self.gids[at]) if self.has_gid[at] else None,
            project_total_bytes=int(self.sizes[self.project[at], 0]),
        )


# ------------------------------------------------------------------------ aggregation


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

    def position(self, name: bytes) -> int | None:
        for position, search in self._searches:
            if search(name) is not None:
                return position
        return None


_FILE, _DIRECTORY = ord("f"), ord("d")
_INT64_MAX = (1 << 63) - 1
# Below any valid mtime (the reader allows -(2**63 - 1) at the least): "none seen yet".
_NO_MTIME = np.iinfo(np.int64).min
# A row's gid order key when no directory record has named it yet.
_NO_ORDER = np.iinfo(np.int64).max
# A row id for "not reported" (outside the roots or the PATH query, or undecodable).
_NOWHERE = -1
# Records of a block handed to Python at a time.
_BATCH = 2048

Positions = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
Unsigned = npt.NDArray[np.uint64]
Signed = npt.NDArray[np.int64]


def _exact_sum(values: Unsigned) -> int:
    """The sum of uint64 values as a Python int (exact for fewer than 2**32 of them)."""
    high = int((values >> np.uint64(32)).sum(dtype=np.uint64))
    low = int((values & np.uint64(0xFFFFFFFF)).sum(dtype=np.uint64))
    return (high << 32) + low


@dataclass
class UndecodablePaths:
    """Path fields under a root's prefix that could not be decoded (skipped, counted).

    ``examples`` are the (line, reason) of the first few in input order, with the
    record's line number in the file (``mpistat.parallel.valid_runs`` numbers the
    lines after a malformed one).
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


class _ByteCells:
    """Exact byte counts per (row, column) without a Python object per row.

    The cells are int64. ``bound`` is the sum of everything added to them since they
    were last emptied, so while it is below 2**63 neither a cell nor any sum of cells
    of one column (a row and its ancestors, in ``finish``) can overflow. An addition
    that would take it past moves every cell into ``spill`` (Python ints) first and
    starts again from zero: exact for any input, and never needed in practice (it
    takes 8 EiB, or single files of more than 2**63 bytes).
    """

    def __init__(self, columns: int) -> None:
        self.cells: Signed = np.zeros((0, columns), dtype=np.int64)
        self.spill: dict[tuple[int, int], int] = {}
        self.bound = 0

    def resized(self, capacity: int) -> _ByteCells:
        """A copy with room for ``capacity`` rows (the first ones kept)."""
        copy = _ByteCells(self.cells.shape[1])
        columns = self.cells.shape[1]
        copy.cells = mapped_zeros((capacity, columns), np.int64)
        kept = min(capacity, len(self.cells))
        copy.cells[:kept] = self.cells[:kept]
        copy.spill = dict(self.spill)
        copy.bound = self.bound
        return copy

    def _room_for(self, added: int) -> bool:
        """Whether ``added`` more bytes fit the int64 cells (emptying them if need be)."""
        if self.bound + added > _INT64_MAX:
            rows, columns = np.nonzero(self.cells)
            values = self.cells[rows, columns].tolist()
            for row, column, value in zip(rows.tolist(), columns.tolist(), values, strict=True):
                self.spill[row, column] = self.spill.get((row, column), 0) + value
            self.cells[:] = 0
            self.bound = 0
        return added <= _INT64_MAX

    def add(self, rows: Positions, columns: Positions | int, sizes: Unsigned) -> None:
        """Add ``sizes[i]`` to cell ``(rows[i], columns[i])`` (rows may repeat)."""
        if not len(sizes):
            return
        added = _exact_sum(sizes)
        if self._room_for(added):
            flat = rows * self.cells.shape[1] + columns
            np.add.at(self.cells.reshape(-1), flat, sizes.astype(np.int64))
            self.bound += added
            return
        spill = self.spill  # a block of files of more than 2**63 bytes between them
        where = np.broadcast_to(columns, rows.shape)
        for key in zip(rows.tolist(), where.tolist(), sizes.tolist(), strict=True):
            spill[key[:2]] = spill.get(key[:2], 0) + key[2]

    def add_cells(self, mapping: Positions, other: _ByteCells) -> None:
        """Add ``other``'s rows, its row ``i`` to row ``mapping[i]`` (distinct)."""
        self._room_for(other.bound)  # always room: other.bound is below 2**63 too
        self.cells[mapping] += other.cells[: len(mapping)]
        self.bound += other.bound
        for (row, column), value in other.spill.items():
            key = (int(mapping[row]), column)
            self.spill[key] = self.spill.get(key, 0) + value


class _RowTable:
    """One partial's rows: a dict from the cut (its components joined by ``/``, which
    no component contains) to a row id, and numpy columns indexed by the row id.

    Row ids follow the dict's insertion order, so ``list(ids)[r]`` is row ``r``'s cut.
    A row costs about 200 bytes: its key, its id and numpy cells.
    """

    def __init__(self, classes: int) -> None:
        self.ids: dict[bytes, int] = {}
        self.files: Signed = np.zeros(0, dtype=np.int64)
        self.newest: Signed = np.zeros(0, dtype=np.int64)  # mtimes up to the reference
        # The first directory record whose short path is the row's own directory.
        self.gid_order: Signed = np.zeros(0, dtype=np.int64)
        self.gid: Unsigned = np.zeros(0, dtype=np.uint64)
        # Column 0: all bytes; then one per file class. Hard-linked bytes are not here.
        self.sizes = _ByteCells(1 + classes)

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> dict[str, Any]:
        """Without the spare capacity (a helper process sends its partial back pickled)."""
        count = len(self.ids)
        state = dict(self.__dict__)
        for name in ("files", "newest", "gid_order", "gid"):
            state[name] = state[name][:count].copy()
        state["sizes"] = self.sizes.resized(count)
        return state

    def row_of(self, key: bytes) -> int:
        """The row id of a cut, a new row if need be."""
        row = self.ids.get(key)
        if row is None:
            row = self.ids[key] = len(self.ids)
            if row == len(self.files):
                self._grow(max(2 * row, 256))
        return row

    def _grow(self, capacity: int) -> None:
        def grown(values: npt.NDArray[Any], fill: int) -> npt.NDArray[Any]:
            bigger = mapped_zeros(capacity, values.dtype)
            bigger[: len(values)] = values
            if fill:
                bigger[len(values) :] = fill
            return bigger

        self.files = grown(self.files, 0)
        self.newest = grown(self.newest, _NO_MTIME)
        self.gid_order = grown(self.gid_order, _NO_ORDER)
        self.gid = grown(self.gid, 0)
        self.sizes = self.sizes.resized(capacity)

    def add_files(self, rows: Positions, mtimes: Signed) -> None:
        """One file in each of ``rows``; ``mtimes`` already limited to the reference."""
        np.add.at(self.files, rows, 1)
        self.add_mtimes(rows, mtimes)

    def add_mtimes(self, rows: Positions, mtimes: Signed) -> None:
        np.maximum.at(self.newest, rows, mtimes)

    def name_group(self, row: int, order: int, gid: int) -> None:
        """A directory record that is the row's own directory: the earliest names the gid."""
        if order < self.gid_order[row]:
            self.gid_order[row] = order
            self.gid[row] = gid

    def merge(self, other: _RowTable) -> Positions:
        """Fold in another partial's rows; returns the new id of each of its row ids."""
        mapping = np.array([self.row_of(key) for key in other.ids], dtype=np.intp)
        theirs = len(mapping)
        self.files[mapping] += other.files[:theirs]
        self.newest[mapping] = np.maximum(self.newest[mapping], other.newest[:theirs])
        earlier = other.gid_order[:theirs] < self.gid_order[mapping]
        self.gid_order[mapping[earlier]] = other.gid_order[:theirs][earlier]
        self.gid[mapping[earlier]] = other.gid[:theirs][earlier]
        self.sizes.add_cells(mapping, other.sizes)
        return mapping


# One name of a file with nlink > 1: its inode, its order key (line number), and where
# the inode's bytes go if it is the first name: a row id (-1: nowhere, also for 0 bytes),
# the bytes, and the file class (-1: none). 37 bytes a name, one array per field.
_LINK_FIELDS: tuple[tuple[str, type[np.generic]], ...] = (
    ("dev", np.uint64),
    ("inode", np.uint64),
    ("order", np.int64),
    ("size", np.uint64),
    ("row", np.int32),
    ("kind", np.int8),
)
LinkColumns = dict[str, npt.NDArray[Any]]
_MAX_CLASSES = np.iinfo(np.int8).max
# Names waiting to be merged into the link table: at least this many (600 KiB), and
# a sixteenth of the table, so that a merge moves the table for that many new names.
_PENDING_NAMES = 1 << 14
_PENDING_SHARE = 16
_MOVED_AT_ONCE = 1 << 16  # table rows moved up in one step of a merge (512 KiB a column)


def _link_columns(capacity: int) -> LinkColumns:
    return {name: mapped_zeros(capacity, dtype) for name, dtype in _LINK_FIELDS}


class _LinkTable:
    """The earliest name seen of each multi-link inode.

    ``table`` holds one name per inode, sorted by (dev, inode), in its first ``count``
    places; new names wait in ``pending`` and are merged in when it is full: sorted,
    deduplicated, then each either replaces its inode's name when it is earlier, or
    is inserted in place (the table moves up in room it has kept, a slice at a time).
    Memory follows the number of inodes, not of names: 37 bytes each, a sixteenth
    more for the pending names, and temporaries of a column (8 bytes an inode) at
    most. Since ``pending`` grows with the table, a merge moves the table for at
    least a sixteenth as many new names, so the work stays linear. Merging names in
    any order gives the same table, which is what makes merges of partials exact.
    """

    def __init__(self) -> None:
        self.table = _link_columns(0)
        self.count = 0
        self.pending = _link_columns(_PENDING_NAMES)
        self.waiting = 0

    def __getstate__(self) -> dict[str, Any]:
        """The table alone, without spare room (a helper process sends its partial back)."""
        self.compact()
        return {"table": {name: values[: self.count].copy() for name, values in self.table.items()}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.table = state["table"]
        self.count = len(self.table["dev"])
        self.pending = _link_columns(max(_PENDING_NAMES, self.count // _PENDING_SHARE))
        self.waiting = 0

    def add(self, names: LinkColumns) -> None:
        """Names with every field of ``_LINK_FIELDS``, as arrays of one length."""
        total = len(names["dev"])
        done = 0
        while done < total:
            capacity = len(self.pending["dev"])
            room = min(capacity - self.waiting, total - done)
            for name, values in names.items():
                self.pending[name][self.waiting : self.waiting + room] = values[done : done + room]
            self.waiting += room
            done += room
            if self.waiting == capacity:
                self.compact()

    def compact(self) -> LinkColumns:
        """Merge the pending names into the table; returns its columns, trimmed."""
        if self.waiting:
            self._merge_pending()
            wanted = max(_PENDING_NAMES, self.count // _PENDING_SHARE)
            if wanted > len(self.pending["dev"]):
                self.pending = _link_columns(wanted)
        return {name: values[: self.count] for name, values in self.table.items()}

    def _merge_pending(self) -> None:
        waiting, self.waiting = self.waiting, 0
        pending = {name: values[:waiting] for name, values in self.pending.items()}
        by_key = np.lexsort((pending["order"], pending["inode"], pending["dev"]))
        dev, inode = pending["dev"][by_key], pending["inode"][by_key]
        first = np.ones(waiting, dtype=bool)
        first[1:] = (dev[1:] != dev[:-1]) | (inode[1:] != inode[:-1])
        keep = by_key[first]
        del by_key, dev, inode, first
        # Each inode's earliest pending name, by (dev, inode), to the front of pending
        # (in place, a column at a time).
        for values in pending.values():
            values[: len(keep)] = values[keep]
        new = {name: values[: len(keep)] for name, values in pending.items()}
        del pending, keep
        count = self.count
        table = self.table
        at = self._locate(new["dev"], new["inode"])
        found = at < count
        found[found] = (table["dev"][at[found]] == new["dev"][found]) & (
            table["inode"][at[found]] == new["inode"][found]
        )
        if found.any():  # an inode already in the table: the earlier name stays
            slots = at[found]
            earlier = new["order"][found] < table["order"][slots]
            for name, values in table.items():
                values[slots[earlier]] = new[name][found][earlier]
        fresh = ~found
        added = int(np.count_nonzero(fresh))
        if not added:
            return
        positions = at[fresh]  # ascending: before which old name each new one goes
        self._reserve(count + added)
        # Old names move up by the number of new ones before them, last ones first (a
        # name only moves up, onto places already moved or free).
        start = int(positions[0])  # the names before it stay where they are
        for stop in range(count, start, -_MOVED_AT_ONCE):
            low = max(start, stop - _MOVED_AT_ONCE)
            rows = np.arange(low, stop)
            moved = rows + np.searchsorted(positions, rows, side="right")
            for values in self.table.values():
                values[moved] = values[low:stop].copy()
        inserted = positions + np.arange(added)
        for name, values in self.table.items():
            values[inserted] = new[name][fresh]
        self.count = count + added

    def _locate(self, dev: Unsigned, inode: Unsigned) -> Positions:
        """Where each (dev, inode) is, or would go, in the table (sorted by both)."""
        devs = self.table["dev"][: self.count]
        inodes = self.table["inode"][: self.count]
        at = np.empty(len(dev), dtype=np.intp)
        for device in np.unique(dev):  # a volume has a handful of devices
            low = int(np.searchsorted(devs, device, side="left"))
            high = int(np.searchsorted(devs, device, side="right"))
            mine = dev == device
            at[mine] = low + np.searchsorted(inodes[low:high], inode[mine])
        return at

    def _reserve(self, count: int) -> None:
        capacity = len(self.table["dev"])
        if count <= capacity:
            return
        capacity = max(count, 2 * capacity, _PENDING_NAMES)
        for name, values in self.table.items():
            bigger = mapped_zeros(capacity, values.dtype)
            bigger[: self.count] = values[: self.count]
            self.table[name] = bigger  # one column at a time: the old one goes now

    def merge(self, other: _LinkTable, mapping: Positions) -> None:
        """Add another partial's names, their row ids mapped (``other`` is left as it was)."""
        for columns, count in ((other.table, other.count), (other.pending, other.waiting)):
            names = {name: values[:count] for name, values in columns.items()}
            rows = names["row"].copy()
            placed = rows >= 0
            rows[placed] = mapping[rows[placed]]
            names["row"] = rows
            self.add(names)


class ProjectInspector:
    """Aggregates one volume's records into inspector rows.

    ``reference`` is the input file's mtime: newer mtimes count as the reference for
    Last Modified. ``only_under`` (short-path components) keeps only records at or below
    it, for a PATH query that needs a single project.

    It is a partial aggregate in the sense of ``mpistat.parallel``: each process folds
    its blocks in with ``add_block``, and ``merge`` combines the partials of one volume
    exactly. Whatever depends on input order (a hard-linked file's first name, a
    row's first directory record) is kept with its order key, the earliest wins on a
    merge, and hard-linked bytes are only placed by ``finish``.

    No Python object is kept per record or per directory below the cut: per row, a
    dict entry and numpy cells (``_RowTable``); per multi-link inode, a packed row
    (``_LinkTable``).
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
        if len(file_classes) > _MAX_CLASSES:
            raise ValueError(f"at most {_MAX_CLASSES} file classes, got {len(file_classes)}")
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
        # Whole seconds: for an integer mtime, m <= floor(reference) iff m <= reference, and
        # an mtime held at floor(reference) is less than a second old: 0.0 days.
        self._reference_seconds = math.floor(reference)
        self._rows = _RowTable(len(self.class_names))
        self._links = _LinkTable()
        # Files of one directory are usually consecutive: remember the last parent's row.
        self._last_parent: bytes | None = None
        self._last_row = _NOWHERE
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

    def _is_wanted(self, short: list[bytes]) -> bool:
        only = self.only_under
        return not only or tuple(short[: len(only)]) == only

    def _place(self, directory: bytes) -> int:
        """The row id a file in ``directory`` counts in; ``_NOWHERE`` when not reported."""
        short = self.short_path(directory)
        if short is None or not self._is_wanted(short):
            return _NOWHERE
        return self._rows.row_of(b"/".join(directory_cut(short, self.depth)))

    def _known(self, mtimes: Signed) -> Signed:
        """Mtimes after the reference (the input file's mtime) count as the reference
        (0 days): the crawler saw those files being written."""
        return np.minimum(mtimes, self._reference_seconds)

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
        columns = BlockColumns.of(fmt, block)
        separators = columns.separators
        lines = len(columns)
        starts = columns.line_starts()

        def paths(rows: Positions) -> list[bytes]:
            return [
                block[s:e]
                for s, e in zip(starts[rows].tolist(), separators[rows, 0].tolist(), strict=True)
            ]

        kinds = columns.column("type")
        is_file = kinds == _FILE
        inside = self._inside(block, starts)  # None: no prefix filter, every line
        # Files whose nlink is not written "1": 0 (no bytes), > 1 (hard-linked) or odd.
        plain = columns.field_is("nlink", b"1")
        odd = np.flatnonzero(is_file & ~plain)
        files = is_file if inside is None else is_file & inside
        linked = empty = odd[:0]
        if len(odd):
            counts = columns.unsigned("nlink", odd)
            linked = odd[counts > 1]
            empty = odd[counts == 0]
            files[linked] = False  # placed by _add_links

        # In batches: the Python objects of a batch (path fields, row ids) are all
        # that is alive at a time, a fraction of a block's when it lies under a root.
        all_rows = np.flatnonzero(files)
        if len(empty):  # nlink 0 (deleted mid-crawl): a file, but no bytes
            deleted = np.zeros(lines, dtype=bool)
            deleted[empty] = True
        for start in range(0, len(all_rows), _BATCH):
            rows = all_rows[start : start + _BATCH]
            sizes = columns.unsigned("size", rows)
            if len(empty):
                sizes[deleted[rows]] = 0
            self._add_files(rows + first_line, paths(rows), sizes, columns.times("mtime", rows))

        directories = kinds == _DIRECTORY
        all_rows = np.flatnonzero(directories if inside is None else directories & inside)
        for start in range(0, len(all_rows), _BATCH):
            rows = all_rows[start : start + _BATCH]
            self._add_directories(
                rows + first_line,
                paths(rows),
                columns.times("mtime", rows),
                columns.unsigned("gid", rows),
            )

        if len(linked):
            fields: list[bytes | None] = list(paths(linked))
            if inside is not None:
                fields = [
                    f if i else None for f, i in zip(fields, inside[linked].tolist(), strict=True)
                ]
            self._add_links(
                linked + first_line,
                columns.unsigned("dev", linked),
                columns.unsigned("inode", linked),
                fields,
                columns.unsigned("size", linked),
                columns.times("mtime", linked),
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
        links: tuple[list[Any], ...] = ([], [], [], [], [], [])
        for path_field, size, gid, mtime, kind, inode, nlink, dev in records:
            order += 1
            inside = prefixes is None or path_field.startswith(prefixes)
            if kind == b"f":
                count = int(nlink)
                if count > 1:
                    row: tuple[Any, ...] = (
                        order,
                        int(dev),
                        int(inode),
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

        def signed(values: list[int]) -> Signed:
            return np.array(values, dtype=np.int64)

        def unsigned(values: list[int]) -> Unsigned:
            return np.array(values, dtype=np.uint64)

        orders, fields, sizes, mtimes = files
        self._add_files(signed(orders), fields, unsigned(sizes), signed(mtimes))
        orders, fields, mtimes, gids = directories
        self._add_directories(signed(orders), fields, signed(mtimes), unsigned(gids))
        orders, devices, inodes, fields, sizes, mtimes = links
        self._add_links(
            signed(orders),
            unsigned(devices),
            unsigned(inodes),
            fields,
            unsigned(sizes),
            signed(mtimes),
        )

    # -- the hot path -----------------------------------------------------------------

    def _add_files(
        self, orders: Signed, fields: list[bytes], sizes: Unsigned, mtimes: Signed
    ) -> None:
        """Files with nlink 0 or 1 (sizes already 0 for nlink 0) under a root's prefix.

        Python finds each file's row id and class, numpy adds them up.
        """
        # Locals for speed: this loop runs once per record, up to 1e9 times a volume.
        decode = self._decode
        base64 = self._base64
        a2b_base64 = binascii.a2b_base64
        may_match = self._classifier.may_match
        class_of = self._classifier.position
        place = self._place
        undecodable = self.undecodable
        last_parent = self._last_parent
        last_row = self._last_row
        row_ids: list[int] = []
        append = row_ids.append
        classed: list[int] = []  # positions in ``fields`` of the files in a class
        classes: list[int] = []
        for index, path_field in enumerate(fields):
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
                undecodable.add(int(orders[index]), f"undecodable path: {exc}")
                append(_NOWHERE)
                continue
            if b"\0" in path:
                undecodable.add(int(orders[index]), "NUL byte in path")
                append(_NOWHERE)
                continue
            parent, _, name = path.rpartition(b"/")
            if parent != last_parent:
                last_parent = parent
                last_row = place(parent)
            append(last_row)
            if last_row >= 0 and (may_match is None or may_match(name) is not None):
                kind = class_of(name)
                if kind is not None:
                    classed.append(index)
                    classes.append(kind)
        self._last_parent = last_parent
        self._last_row = last_row

        rows = np.array(row_ids, dtype=np.intp)
        table = self._rows
        if classed:
            at = np.array(classed, dtype=np.intp)
            table.sizes.add(rows[at], 1 + np.array(classes, dtype=np.intp), sizes[at])
        placed = rows >= 0
        if not placed.all():
            rows, sizes, mtimes = rows[placed], sizes[placed], mtimes[placed]
        self.records += len(rows)
        table.add_files(rows, self._known(mtimes))
        table.sizes.add(rows, 0, sizes)

    def _add_directories(
        self, orders: Signed, fields: list[bytes], mtimes: Signed, gids: Unsigned
    ) -> None:
        """Directories under a root's prefix: each one's own cut's row (and so its
        ancestors) exists, its mtime counts, and it names the row's group when it is
        the row's own directory."""
        table = self._rows
        rows: list[int] = []
        kept: list[int] = []
        for index, path_field in enumerate(fields):
            try:
                path = self._decode(path_field)
            except PathDecodeError as exc:
                self.undecodable.add(int(orders[index]), str(exc))
                continue
            short = self.short_path(path)
            if short is None or not self._is_wanted(short):
                continue
            cut = directory_cut(short, self.depth)
            row = table.row_of(b"/".join(cut))
            rows.append(row)
            kept.append(index)
            if len(short) == len(cut):
                table.name_group(row, int(orders[index]), int(gids[index]))
        self.records += len(rows)
        table.add_mtimes(np.array(rows, dtype=np.intp), self._known(mtimes[kept]))

    def _add_links(
        self,
        orders: Signed,
        devices: Unsigned,
        inodes: Unsigned,
        fields: list[bytes | None],
        sizes: Unsigned,
        mtimes: Signed,
    ) -> None:
        """Files with nlink > 1, anywhere in the volume (``None`` fields: outside the
        roots' prefixes). Every name counts as a file where it is; the bytes wait in
        the link table with the name (``finish`` places those of each inode's first)."""
        if not fields:
            return
        row_ids = [_NOWHERE] * len(fields)
        kinds = [-1] * len(fields)
        for index, path_field in enumerate(fields):
            if path_field is None:
                continue
            path = self._decode_file_path(int(orders[index]), path_field)
            if path is None:
                continue
            parent, _, name = path.rpartition(b"/")
            row = self._place(parent)
            if row >= 0:
                row_ids[index] = row
                kind = self._classifier.position(name)
                if kind is not None:
                    kinds[index] = kind
        rows = np.array(row_ids, dtype=np.intp)
        placed = rows >= 0
        if placed.any():
            self.records += int(placed.sum())
            self._rows.add_files(rows[placed], self._known(mtimes[placed]))
        self._links.add(
            {
                "dev": devices,
                "inode": inodes,
                "order": orders,
                "size": sizes,
                "row": np.where(sizes > 0, rows, _NOWHERE),
                "kind": np.array(kinds, dtype=np.int8),
            }
        )

    # -- partials ---------------------------------------------------------------------

    def merge(self, other: ProjectInspector) -> None:
        """Fold in another partial aggregate of the same volume (and settings), exactly."""
        mapping = self._rows.merge(other._rows)
        self._links.merge(other._links, mapping)
        self.undecodable.merge(other.undecodable)
        self.records += other.records

    # -- the end ----------------------------------------------------------------------

    def finish(self) -> InspectorRows:
        """Every row with its ancestors' sums, sorted by Project then Directory.

        The partial is left as it was (it can still take blocks and merges).
        """
        table = self._rows
        count = len(table)
        # The output rows: every row's cut and the cuts' ancestors, as short paths
        # joined by "/" (which no component contains), numbered as first met.
        outputs: dict[bytes, int] = {}
        parents = array.array("q")  # each one's parent, 8 bytes rather than a Python int
        output_of = np.empty(count, dtype=np.intp)
        for row, key in enumerate(table.ids):
            parent = -1
            slash = key.find(b"/")
            while True:
                prefix = key if slash < 0 else key[:slash]
                found = outputs.get(prefix)
                if found is None:
                    found = outputs[prefix] = len(parents)
                    parents.append(parent)
                parent = found
                if slash < 0:
                    break
                slash = key.find(b"/", slash + 1)
            output_of[row] = parent
        paths = list(outputs)
        total = len(paths)
        project = np.fromiter(
            (outputs[_project_and_directory(path)[0]] for path in paths),
            dtype=np.intp,
            count=total,
        )
        del outputs
        parent_of = np.frombuffer(parents, dtype=np.int64).astype(np.intp)
        del parents

        files = np.zeros(total, dtype=np.int64)
        files[output_of] = table.files[:count]
        newest = np.full(total, _NO_MTIME, dtype=np.int64)
        newest[output_of] = table.newest[:count]
        own = table.sizes
        sizes = _ByteCells(own.cells.shape[1])
        sizes.cells = np.zeros((total, own.cells.shape[1]), dtype=np.int64)
        sizes.cells[output_of] = own.cells[:count]
        sizes.spill = {(int(output_of[row]), column): v for (row, column), v in own.spill.items()}
        sizes.bound = own.bound
        # Each hard-linked inode's bytes, once, in the row of its first name.
        links = self._links.compact()
        placed = links["row"] >= 0
        if placed.any():
            rows = output_of[links["row"][placed]]
            linked_sizes = links["size"][placed]
            sizes.add(rows, 0, linked_sizes)
            kinds = links["kind"][placed].astype(np.intp)
            classed = kinds >= 0
            sizes.add(rows[classed], 1 + kinds[classed], linked_sizes[classed])
        del links, placed

        # Sums up the tree, deepest level first. Exact: sizes.bound, below 2**63, is at
        # least any sum of one column's cells.
        cells = sizes.cells
        depth = np.fromiter((path.count(b"/") for path in paths), dtype=np.intp, count=total)
        for level in range(int(depth.max(initial=0)), 0, -1):
            deepest = np.flatnonzero(depth == level)
            above = parent_of[deepest]
            np.add.at(files, above, files[deepest])
            np.maximum.at(newest, above, newest[deepest])
            np.add.at(cells, above, cells[deepest])
        exact: npt.NDArray[Any] = cells
        if sizes.spill:  # bytes beyond int64 (see _ByteCells): Python ints from here on
            exact = cells.astype(object)
            for (at, column), value in sizes.spill.items():
                while at >= 0:
                    exact[at, column] += value
                    at = int(parent_of[at])
        named = np.flatnonzero(table.gid_order[:count] < _NO_ORDER)
        gids = np.zeros(total, dtype=np.uint64)
        gids[output_of[named]] = table.gid[named]
        has_gid = np.zeros(total, dtype=bool)
        has_gid[output_of[named]] = True

        # In the table's order, one column at a time (each old one goes as it is replaced).
        order = _table_order(paths, project)
        position = np.empty(total, dtype=np.intp)
        position[order] = np.arange(total)
        project = position[project[order]]
        del position
        paths = [paths[at] for at in order.tolist()]
        files = files[order]
        newest = newest[order]
        exact = exact[order]
        del cells, sizes
        gids = gids[order]
        has_gid = has_gid[order]
        return InspectorRows(
            self.class_names, self.reference, paths, files, newest, exact, gids, has_gid, project
        )


def _project_and_directory(path: bytes) -> tuple[bytes, bytes]:
    """A short path's Project (its first two components, or its one) and Directory."""
    first = path.find(b"/")
    second = path.find(b"/", first + 1) if first >= 0 else -1
    return (path, b"") if second < 0 else (path[:second], path[second + 1 :])


def _table_order(paths: list[bytes], project: Positions) -> Positions:
    """The positions of short paths in the table's order: Project, then Directory
    (``sort_key``: as bytes, a project's own row first). ``project[i]`` is the
    position of path ``i``'s project (its own when it is one, or a root).

    Within a project, a path is the project, ``/`` and the Directory, so paths order
    as their Directories do: the paths are sorted as they are, then grouped by their
    projects' order. No new object a row: object arrays hold pointers to the paths.
    """
    by_path = np.fromiter(paths, dtype=object, count=len(paths)).argsort(kind="stable")
    rank = np.empty(len(paths), dtype=np.intp)
    rank[by_path] = np.arange(len(paths))
    return np.lexsort((rank, rank[project]))


# ------------------------------------------------------------------------ PATH queries


@dataclass(frozen=True)
class PathSelection:
    """What a PATH argument selects: rows of one volume at or below ``short_prefix``;
    with an empty prefix, the rows of the roots whose last component matches one of
    ``root_names`` (every root when that is empty too).

    ``path_root``, when set, is the PATH itself as a root pattern (a PATH under no
    configured root): the volume is aggregated with it instead of its configured roots.
    """

    volume: str
    short_prefix: tuple[bytes, ...] = ()
    root_names: tuple[str, ...] = ()
    path_root: str | None = None

    def roots(self, configured: Sequence[str]) -> tuple[str, ...]:
        """The root patterns to aggregate the volume with."""
        return (self.path_root,) if self.path_root is not None else tuple(configured)

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


def _on_volume(components: Sequence[bytes], root: Sequence[str]) -> bool:
    """The path lies below the volume's mount (the root's first two components)."""
    return (
        len(root) >= 2
        and len(components) > 2
        and _matches(root[0], components[0])
        and _matches(root[1], components[1])
    )


def path_as_root(path: bytes) -> str:
    """A root pattern matching exactly the normalised absolute ``path`` (any bytes:
    those that are not UTF-8 are kept as surrogates, see ``compile_root``)."""
    return re.escape(path.decode("utf-8", "surrogateescape").strip("/"))


def select_path(path: bytes, roots_by_volume: Mapping[str, Sequence[str]]) -> PathSelection | None:
    """Map a normalised absolute path onto the configured roots (volumes in config order).

    In order of preference: the path matches a root pattern itself; it is a root's
    path with some middle components left out; it lies between a volume's mount and
    its roots; it lies elsewhere below a volume's mount, and is then itself the root
    (its short path is its last component, as the legacy allowed). None when it is
    on no configured volume.
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
    for volume, patterns in roots_by_volume.items():
        if any(_on_volume(components, pattern.strip("/").split("/")) for pattern in patterns):
            return PathSelection(volume, (components[-1],), path_root=path_as_root(path))
    return None
