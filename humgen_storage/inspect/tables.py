"""The bounded-memory tables behind one partial ``ProjectInspector``.

No Python object is kept per record, per directory below the cut, or per row: a row
is its cut's bytes in ``RowKeys`` and a few numpy cells (``RowTable``, its bytes in
``ByteCells``); a multi-link inode is one packed row of 37 bytes in a sorted table
(``LinkTable``). Memory grows with the number of rows and of multi-link inodes, never
with the number of records; the tables that grow live in mappings of their own
(``run.mapped``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from humgen_storage.inspect.row_keys import RowKeys
from humgen_storage.run.mapped import mapped_zeros
from humgen_storage.units import NO_MTIME

_INT64_MAX = (1 << 63) - 1
# A row's gid order key when no directory record has named it yet.
NO_ORDER = np.iinfo(np.int64).max

Positions = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]
Unsigned = npt.NDArray[np.uint64]
Signed = npt.NDArray[np.int64]


def _exact_sum(values: Unsigned) -> int:
    """The sum of uint64 values as a Python int (exact for fewer than 2**32 of them)."""
    high = int((values >> np.uint64(32)).sum(dtype=np.uint64))
    low = int((values & np.uint64(0xFFFFFFFF)).sum(dtype=np.uint64))
    return (high << 32) + low


class ByteCells:
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

    def resized(self, capacity: int) -> ByteCells:
        """A copy with room for ``capacity`` rows (the first ones kept)."""
        copy = ByteCells(self.cells.shape[1])
        columns = self.cells.shape[1]
        copy.cells = mapped_zeros((capacity, columns), np.int64)
        kept = min(capacity, len(self.cells))
        copy.cells[:kept] = self.cells[:kept]
        copy.spill = dict(self.spill)
        copy.bound = self.bound
        return copy

    def first(self, count: int) -> ByteCells:
        """The first ``count`` rows, their cells shared, not copied (a partial is sent
        without its spare room, and without a copy of itself)."""
        part = ByteCells(self.cells.shape[1])
        part.cells, part.spill, part.bound = self.cells[:count], self.spill, self.bound
        return part

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

    def add_cells(self, mapping: Positions, other: ByteCells) -> None:
        """Add ``other``'s rows, its row ``i`` to row ``mapping[i]`` (distinct)."""
        self._room_for(other.bound)  # always room: other.bound is below 2**63 too
        self.cells[mapping] += other.cells[: len(mapping)]
        self.bound += other.bound
        for (row, column), value in other.spill.items():
            key = (int(mapping[row]), column)
            self.spill[key] = self.spill.get(key, 0) + value


class RowTable:
    """One partial's rows: the cuts (their components joined by ``/``, which no
    component contains) and their row ids in ``keys``, and numpy columns indexed by
    the row id."""

    def __init__(self, classes: int) -> None:
        self.keys = RowKeys()
        self.files: Signed = np.zeros(0, dtype=np.int64)
        self.newest: Signed = np.zeros(0, dtype=np.int64)  # mtimes up to the reference
        # The first directory record whose short path is the row's own directory.
        self.gid_order: Signed = np.zeros(0, dtype=np.int64)
        self.gid: Unsigned = np.zeros(0, dtype=np.uint64)
        # Column 0: all bytes; then one per file class. Hard-linked bytes are not here.
        self.sizes = ByteCells(1 + classes)

    def __len__(self) -> int:
        return len(self.keys)

    def __getstate__(self) -> dict[str, Any]:
        """Without the spare capacity (a helper process sends its partial back pickled):
        views of the rows in use, which pickle only those, and are not copied first."""
        count = len(self.keys)
        state = dict(self.__dict__)
        for name in ("files", "newest", "gid_order", "gid"):
            state[name] = state[name][:count]
        state["sizes"] = self.sizes.first(count)
        return state

    def row_of(self, key: bytes) -> int:
        """The row id of a cut, a new row if need be."""
        row = self.keys.add(key)
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
        self.newest = grown(self.newest, NO_MTIME)
        self.gid_order = grown(self.gid_order, NO_ORDER)
        self.gid = grown(self.gid, 0)
        self.sizes = self.sizes.resized(capacity)

    def add_files(self, rows: Positions, mtimes: Signed) -> None:
        """One file in each of ``rows``; ``mtimes`` already limited to the reference."""
        np.add.at(self.files, rows, 1)
        self.add_mtimes(rows, mtimes)

    def add_mtimes(self, rows: Positions, mtimes: Signed) -> None:
        np.maximum.at(self.newest, rows, mtimes)

    def name_groups(self, rows: Positions, orders: Signed, gids: Unsigned) -> None:
        """Directory records that are their row's own directory (``orders``: their order
        keys): the earliest of each row names its gid."""
        by_row = np.lexsort((orders, rows))
        rows, orders, gids = rows[by_row], orders[by_row], gids[by_row]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        rows, orders, gids = rows[first], orders[first], gids[first]
        earlier = orders < self.gid_order[rows]
        self.gid_order[rows[earlier]] = orders[earlier]
        self.gid[rows[earlier]] = gids[earlier]

    def add_sums(self, files: Unsigned, newest: Signed, low: Unsigned, high: Unsigned) -> None:
        """Sums of rows 0 to ``len(files) - 1`` made elsewhere (the compiled placer's): files,
        newest mtimes, and bytes by column as 128 bits, ``low + high * 2**64``."""
        count = len(files)
        self.files[:count] += files.view(np.int64)
        np.maximum(self.newest[:count], newest, out=self.newest[:count])
        rows, columns = np.nonzero(low)
        self.sizes.add(rows, columns, low[rows, columns])
        spill = self.sizes.spill  # past 2**64 bytes in a cell: exact, as ByteCells' rule
        for row, column in zip(*np.nonzero(high), strict=True):
            key = (int(row), int(column))
            spill[key] = spill.get(key, 0) + (int(high[row, column]) << 64)

    def merge(self, other: RowTable) -> Positions:
        """Fold in another partial's rows; returns the new id of each of its row ids."""
        mapping = self.keys.add_all(other.keys)
        if len(self.keys) > len(self.files):
            self._grow(max(2 * len(self.files), len(self.keys), 256))
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
MAX_CLASSES = np.iinfo(np.int8).max
# Names waiting to be merged into the link table: at least this many (600 KiB), and
# a sixteenth of the table, so that a merge moves the table for that many new names.
_PENDING_NAMES = 1 << 14
_PENDING_SHARE = 16
_MOVED_AT_ONCE = 1 << 16  # table rows moved up in one step of a merge (512 KiB a column)
# Pending names of at least a quarter of the table are merged by sorting both together.
_REBUILT_SHARE = 4


def _link_columns(capacity: int) -> LinkColumns:
    return {name: mapped_zeros(capacity, dtype) for name, dtype in _LINK_FIELDS}


class LinkTable:
    """The earliest name seen of each multi-link inode.

    ``table`` holds one name per inode, sorted by (dev, inode), in its first ``count``
    places; new names wait in ``pending`` and are merged in when it is full: sorted,
    deduplicated, then each either replaces its inode's name when it is earlier, or
    is inserted in place (the table moves up in room it has kept, a slice at a time).
    Memory follows the number of inodes, not of names: 37 bytes each, a sixteenth
    more for the pending names, and temporaries of a column (8 bytes an inode) at
    most. Since ``pending`` grows with the table, a merge moves the table for at
    least a sixteenth as many new names, so the work stays linear. Another partial's
    table (``merge``) goes in as one batch, sorted together with this one: that needs
    both tables' worth of temporaries once, at the end of a volume, instead of moving
    this table sixteen times. Merging names in any order gives the same table, which
    is what makes merges of partials exact.
    """

    def __init__(self) -> None:
        self.table = _link_columns(0)
        self.count = 0
        self.pending = _link_columns(_PENDING_NAMES)
        self.waiting = 0

    def __getstate__(self) -> dict[str, Any]:
        """The table alone, without spare room (a helper process sends its partial back):
        views, as ``RowTable``'s."""
        return {"table": self.compact()}

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
        if waiting * _REBUILT_SHARE >= self.count:
            self._rebuild(pending)
            return
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

    def _rebuild(self, pending: LinkColumns) -> None:
        """Merge many pending names (another partial's table) by sorting them with the
        table: inserting them in place would move the table once per pending batch."""
        count = self.count
        every = {
            name: np.concatenate((values[:count], pending[name]))
            for name, values in self.table.items()
        }
        by_key = np.lexsort((every["order"], every["inode"], every["dev"]))
        dev, inode = every["dev"][by_key], every["inode"][by_key]
        first = np.ones(len(by_key), dtype=bool)
        first[1:] = (dev[1:] != dev[:-1]) | (inode[1:] != inode[:-1])
        keep = by_key[first]
        del by_key, dev, inode, first
        self.count = 0  # nothing of the old table is kept by _reserve
        self._reserve(len(keep))
        for name, values in self.table.items():
            values[: len(keep)] = every.pop(name)[keep]
        self.count = len(keep)

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

    def merge(self, other: LinkTable, mapping: Positions) -> None:
        """Add another partial's names, their row ids mapped (``other`` is left as it was).

        They are merged in one batch (``_rebuild``): the pending names make room for
        them for as long as the merge lasts."""
        self.compact()
        room = len(self.pending["dev"])
        if other.count + other.waiting > room:
            self.pending = _link_columns(other.count + other.waiting)
        for columns, count in ((other.table, other.count), (other.pending, other.waiting)):
            names = {name: values[:count] for name, values in columns.items()}
            rows = names["row"].copy()
            placed = rows >= 0
            rows[placed] = mapping[rows[placed]]
            names["row"] = rows
            self.add(names)
        self.compact()
        if len(self.pending["dev"]) > room:
            self.pending = _link_columns(max(room, self.count // _PENDING_SHARE))
