"""Each inspector row's cut (its short path's components joined by ``/``, which no
component contains) and its row id, numbered as first met, without a Python object a
row (``inspect/tables.py``' ``RowTable`` keeps its numbers by these ids)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from humgen_storage.run.mapped import mapped_zeros

Signed = npt.NDArray[np.int64]
Positions = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]

# Room for this many cuts (and this many of their bytes) at first; it doubles as it fills.
_FIRST_KEYS = 256
_FIRST_KEY_BYTES = 16 * 1024


class RowKeys:
    """The rows' cuts and their row ids, numbered as first added: a dict of bytes to
    ids without its Python objects (a bytes object, an int and a dict entry a row,
    which cost several times the cut's own bytes, and are kept to the end).

    The cuts' bytes lie end to end in one array, with where each ends and its hash;
    an open-addressing table (at most half full, linear probing) holds each row id
    plus one at the first free slot from its hash on (0: free). Single look-ups go
    through memoryviews, whose items are Python ints where numpy would make scalars.
    """

    def __init__(self) -> None:
        self._count = 0
        self._size = 0  # bytes used
        self._set_arrays(
            mapped_zeros(_FIRST_KEY_BYTES, np.uint8),
            mapped_zeros(_FIRST_KEYS, np.int64),
            mapped_zeros(_FIRST_KEYS, np.int64),
        )
        self._set_slots(mapped_zeros(2 * _FIRST_KEYS, np.int32))

    def _set_arrays(self, data: npt.NDArray[np.uint8], ends: Signed, hashes: Signed) -> None:
        self._data, self._ends, self._hashes = data, ends, hashes
        self._data_view = data.data
        self._end_view = ends.data
        self._hash_view = hashes.data

    def _set_slots(self, slots: npt.NDArray[np.int32]) -> None:
        self._slots = slots
        self._slot_view = slots.data

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[bytes]:
        """The cuts by row id, each made a bytes object as it is reached."""
        data, ends = self._data_view, self._end_view
        start = 0
        for row in range(self._count):
            end = ends[row]
            yield data[start:end].tobytes()
            start = end

    def __getstate__(self) -> dict[str, Any]:
        """The cuts alone; the hashes and the table are made again where it is loaded
        (a process may hash bytes its own way)."""
        return {"data": self._data[: self._size], "ends": self._ends[: self._count]}

    def __setstate__(self, state: dict[str, Any]) -> None:
        data, ends = state["data"], state["ends"]
        self._count, self._size = len(ends), len(data)
        self._set_arrays(
            _with_room(data, max(self._size, _FIRST_KEY_BYTES)),
            _with_room(ends, max(self._count, _FIRST_KEYS)),
            mapped_zeros(max(self._count, _FIRST_KEYS), np.int64),
        )
        for row, key in enumerate(self):
            self._hash_view[row] = hash(key)
        self._rehash(max(2 * _FIRST_KEYS, 1 << (2 * self._count).bit_length()))

    def add(self, key: bytes) -> int:
        """The row id of ``key``: the next one if it is new."""
        code = hash(key)
        slots = self._slot_view
        mask = len(slots) - 1
        at = code & mask
        while found := slots[at]:
            row = found - 1
            if self._hash_view[row] == code and self._key_is(row, key):
                return row
            at = (at + 1) & mask
        row = self._count
        self._append(key, code)
        if 2 * self._count > len(slots):
            self._rehash(2 * len(slots))
        else:
            slots[at] = row + 1
        return row

    def add_all(self, other: RowKeys) -> Positions:
        """The row id of each of ``other``'s cuts, the new ones numbered in ``other``'s
        order: what ``add`` of each in turn gives, found with numpy (``other``'s hashes
        are this process's, as made when it was loaded)."""
        found = self._find_all(other)
        new = np.flatnonzero(found < 0)
        if len(new):
            found[new] = self._count + np.arange(len(new))
            self._append_all(other, new)
        return found

    def _find_all(self, other: RowKeys) -> Positions:
        """Each of ``other``'s cuts' row id here, -1 for none: every cut probes the
        table a slot further at a time, as ``add`` does, until an empty slot or its
        cut (the same hash and bytes)."""
        found = np.full(len(other), -1, dtype=np.intp)
        mask = len(self._slots) - 1
        theirs = np.arange(len(other))
        at = other._hashes[: len(other)] & mask
        while len(theirs):
            row = self._slots[at].astype(np.intp) - 1
            used = row >= 0
            theirs, at, row = theirs[used], at[used], row[used]
            same = self._hashes[row] == other._hashes[theirs]
            same[same] = _same_bytes(self, row[same], other, theirs[same])
            found[theirs[same]] = row[same]
            theirs, at = theirs[~same], (at[~same] + 1) & mask
        return found

    def _append_all(self, other: RowKeys, rows: Positions) -> None:
        """``other``'s cuts ``rows`` (ascending) after this one's, then a new table."""
        starts, stops = other.bounds()
        taken = np.zeros(len(other), dtype=bool)
        taken[rows] = True
        data = other._data[: other._size][np.repeat(taken, stops - starts)]
        count, size = self._count + len(rows), self._size + len(data)
        self._set_arrays(
            _with_room(self._data[: self._size], max(size, len(self._data))),
            _with_room(self._ends[: self._count], max(count, len(self._ends))),
            _with_room(self._hashes[: self._count], max(count, len(self._hashes))),
        )
        self._data[self._size : size] = data
        self._ends[self._count : count] = self._size + np.cumsum(stops[rows] - starts[rows])
        self._hashes[self._count : count] = other._hashes[rows]
        self._count, self._size = count, size
        self._rehash(max(len(self._slots), 1 << (2 * count - 1).bit_length()))

    def joined(self) -> npt.NDArray[np.uint8]:
        """The cuts' bytes end to end, in row order (a view: it changes with the keys)."""
        return self._data[: self._size]

    def bounds(self) -> tuple[Signed, Signed]:
        """Where each cut starts and ends in the bytes."""
        stops = self._ends[: self._count]
        return np.append(np.int64(0), stops[:-1]), stops

    def _key_is(self, row: int, key: bytes) -> bool:
        start = self._end_view[row - 1] if row else 0
        return self._data_view[start : self._end_view[row]] == key

    def _append(self, key: bytes, code: int) -> None:
        row, start = self._count, self._size
        end = start + len(key)
        data, ends, hashes = self._data, self._ends, self._hashes
        if end > len(data):
            data = _with_room(data[:start], max(end, 2 * len(data)))
        if row == len(ends):
            ends, hashes = _with_room(ends, 2 * row), _with_room(hashes, 2 * row)
        if data is not self._data or ends is not self._ends:
            self._set_arrays(data, ends, hashes)
        self._data_view[start:end] = key
        self._end_view[row] = end
        self._hash_view[row] = code
        self._count, self._size = row + 1, end

    def _rehash(self, size: int) -> None:
        """A new table of ``size`` slots (a power of two): every row placed at the first
        free slot from its hash on. In order of their first slots, each row takes its
        own or the one after the row before it, whichever is later; the few pushed past
        the end go on from the start, one step further at a time."""
        slots = mapped_zeros(size, np.int32)
        homes = self._hashes[: self._count] & (size - 1)
        rows = np.argsort(homes, kind="stable")
        steps = np.arange(self._count)
        places = np.maximum.accumulate(homes[rows] - steps) + steps
        inside = places < size
        slots[places[inside]] = rows[inside] + 1
        # Every slot from their first to the end is taken: they probe on from slot 0.
        waiting = rows[~inside]
        at = np.zeros(len(waiting), dtype=homes.dtype)
        while len(waiting):
            free = slots[at] == 0
            # The first row at each free slot takes it; the others go on to the next slot.
            taken, first = np.unique(at[free], return_index=True)
            slots[taken] = waiting[free][first] + 1
            left = np.ones(len(waiting), dtype=bool)
            left[np.flatnonzero(free)[first]] = False
            waiting, at = waiting[left], (at[left] + 1) & (size - 1)
        self._set_slots(slots)


def _with_room(values: npt.NDArray[Any], capacity: int) -> npt.NDArray[Any]:
    """``values`` at the start of a new array of ``capacity`` (zeros after them)."""
    bigger = mapped_zeros(capacity, values.dtype)
    bigger[: len(values)] = values
    return bigger


# Bytes of cuts compared at once (their index arrays take 8 bytes a byte).
_BYTES_AT_ONCE = 1 << 18


def _same_bytes(mine: RowKeys, rows: Positions, other: RowKeys, theirs: Positions) -> Mask:
    """Whether each cut ``rows[i]`` here has the bytes of ``other``'s ``theirs[i]``."""
    my_starts, my_stops = mine.bounds()
    their_starts, their_stops = other.bounds()
    lengths = my_stops[rows] - my_starts[rows]
    same = lengths == their_stops[theirs] - their_starts[theirs]
    pairs = np.flatnonzero(same)
    ends = np.cumsum(lengths[pairs])
    done = 0
    while done < len(pairs):
        stop = int(np.searchsorted(ends, ends[done] - lengths[pairs[done]] + _BYTES_AT_ONCE))
        part = pairs[done : max(stop, done + 1)]
        sizes = lengths[part]
        pair_of = np.repeat(np.arange(len(part)), sizes)
        offset = np.arange(len(pair_of)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        mine_bytes = mine._data[np.repeat(my_starts[rows[part]], sizes) + offset]
        their_bytes = other._data[np.repeat(their_starts[theirs[part]], sizes) + offset]
        differ = np.bincount(pair_of[mine_bytes != their_bytes], minlength=len(part))
        same[part[differ > 0]] = False
        done += len(part)
    return same
