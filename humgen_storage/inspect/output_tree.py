"""The output rows of one volume's cuts, found with numpy (``results.rolled_up``).

Every cut and every ancestor of one is an output row: each prefix of a cut that ends
before a "/" or at its end. A prefix is the same output as another when their parents
are and their last components have the same bytes, so the outputs are found a level
at a time: each component as a row of numbers (its parent's output, its length, its
bytes, zero-padded in 8-byte words), and the distinct rows are that level's outputs:
found by sorting a number mixed from each row, then confirmed exactly by comparing
every row with its group's first (and found by sorting whole rows when some differ).
The outputs are numbered a level at a time, which ``rolled_up`` does not depend on
(it sorts them).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from humgen_storage.inspect.row_keys import RowKeys

Positions = npt.NDArray[np.intp]
Tree = tuple[list[bytes], Positions, Positions, Positions]

# Numbers in one level's rows at most (8 bytes each, a few copies at once): a level of
# more rows, or of longer components, is left to the per-key Python way.
NUMBERS_AT_ONCE = 1 << 21


def output_tree(keys: RowKeys) -> Tree | None:
    """(the outputs' paths, each one's parent (-1: none), each cut's output, each
    output's project's output), as ``results`` describes them; None when some
    level is too large for this way (``NUMBERS_AT_ONCE``)."""
    if not len(keys):
        return None
    data = keys.joined()
    starts, stops = keys.bounds()
    components = _Components(data, starts, stops)
    output = np.empty(len(components.ends), dtype=np.intp)
    parent_of, representative = [], []
    found = 0
    for level in range(int(components.levels.max()) + 1):
        here = np.flatnonzero(components.levels == level)
        if len(here) * (2 + components.words(here)) > NUMBERS_AT_ONCE:
            return None
        parents = output[here - 1] if level else np.full(len(here), -1, dtype=np.intp)
        described = np.column_stack(
            (parents, components.lengths[here], components.padded_bytes(here))
        )
        first, inverse = _distinct_rows(described)
        output[here] = found + inverse
        parent_of.append(parents[first])
        representative.append(here[first])
        found += len(first)
    chosen = np.concatenate(representative)
    key = components.keys[chosen]
    whole = data.tobytes()
    paths = list(
        map(whole.__getitem__, map(slice, starts[key].tolist(), components.ends[chosen].tolist()))
    )
    # Each output's project: its own at levels 0 and 1, else its key's second component's.
    second = np.minimum(components.first[key] + 1, components.last[key])
    project = np.where(components.levels[chosen] <= 1, np.arange(found), output[second])
    return paths, np.concatenate(parent_of), output[components.last], project


def _distinct_rows(described: npt.NDArray[np.int64]) -> tuple[Positions, Positions]:
    """The first of each distinct row, and each row's distinct one (``np.unique``'s
    index and inverse). The rows are mixed into one number each to sort; rows that
    mix alike are then compared whole, and the rows sorted whole if any differ."""
    mixed = np.zeros(len(described), dtype=np.uint64)
    for column in described.T.astype(np.uint64):
        mixed = (mixed ^ column) * _MIX
        mixed ^= mixed >> np.uint64(29)
    _, first, inverse = np.unique(mixed, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if not (described[first][inverse] == described).all():
        _, first, inverse = np.unique(described, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
    return first, inverse


_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: a multiplication by it loses no bits


class _Components:
    """Every cut's components, in row order then position: where each ends (a "/" or
    the cut's end), its cut, its level (0: the first), its start and length."""

    def __init__(
        self,
        data: npt.NDArray[np.uint8],
        starts: npt.NDArray[np.int64],
        stops: npt.NDArray[np.int64],
    ) -> None:
        slashes = np.flatnonzero(data == ord("/"))
        count = len(stops)
        # A cut's end goes before a "/" at the same place (the next cut's, after an empty cut).
        self.last = np.searchsorted(slashes, stops, side="left") + np.arange(count)
        ends = np.empty(len(slashes) + count, dtype=np.int64)
        is_last = np.zeros(len(ends), dtype=bool)
        is_last[self.last] = True
        ends[self.last] = stops
        ends[~is_last] = slashes
        self.ends = ends
        self.keys = np.cumsum(is_last) - is_last  # cuts ended before it
        self.first = np.append(0, self.last[:-1] + 1)  # each cut's first component
        self.levels = np.arange(len(ends)) - self.first[self.keys]
        previous = np.append(np.int64(-1), ends[:-1]) + 1
        self.starts = np.where(self.levels == 0, starts[self.keys], previous)
        self.lengths = ends - self.starts
        # The bytes with 8 zeros after them, seen as the little-endian 8 bytes from
        # each place on (a view, no copy of the bytes but the padded one).
        padded = np.concatenate((data, np.zeros(8, dtype=np.uint8)))
        self.eights = np.ndarray((len(data) + 1,), dtype="<u8", buffer=padded, strides=(1,))

    def words(self, which: Positions) -> int:
        """8-byte words for the longest of components ``which`` (at least one)."""
        return max(1, -(-int(self.lengths[which].max(initial=0)) // 8))

    def padded_bytes(self, which: Positions) -> npt.NDArray[np.int64]:
        """The bytes of components ``which``, zero-padded to whole 8-byte words: each
        word read at once from a view in which item ``i`` is the 8 bytes from ``i``."""
        words = self.words(which)
        starts, lengths = self.starts[which], self.lengths[which]
        padded = np.empty((len(which), words), dtype=np.uint64)
        for word in range(words):
            left = np.clip(lengths - 8 * word, 0, 8).astype(np.uint64)
            full = left == 8
            mask = (np.uint64(1) << (np.uint64(8) * np.where(full, 0, left))) - np.uint64(1)
            mask[full] = np.uint64(0xFFFFFFFFFFFFFFFF)
            at = np.where(left > 0, starts + 8 * word, 0)
            padded[:, word] = self.eights[at] & mask
        return padded.view(np.int64)
