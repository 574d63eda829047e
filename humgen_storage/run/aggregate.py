"""Folding a volume's blocks into partial aggregates, one per process, merged exactly.

``aggregate_file`` gives each block to ``run.blocks.map_raw_blocks``, whose function
validates it (``clean_block``) and folds its valid lines into the process's own
partial; the helpers' partials come back at the end and are merged (the aggregates
define ``merge``; hard-link tables are unions or keep the earliest name, so an inode
seen by two workers still counts once).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from humgen_storage.mpistat.patterns import Format, clean_block
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.run.blocks import Malformed, map_raw_blocks


class Partial(Protocol):
    """A per-volume aggregate that can absorb blocks of valid lines and other partials."""

    def add_block(self, fmt: Format, block: bytes, first_line: int) -> None:
        """Fold in a block of valid lines; ``first_line`` orders blocks in the file
        (lines within a block keep their order)."""
        ...

    def merge(self, other: Any) -> None: ...


def fold_raw(partial: Any, fmt: Format, block: bytes, first_line: int) -> bool:
    """Whether ``partial`` folded in the raw block itself: a partial may define
    ``add_raw_block`` to validate each line as it takes it in (one pass over bytes in
    the cache instead of two), which says False, having added nothing, when some line
    is not valid; the block is then validated and added as usual."""
    add_raw_block = getattr(partial, "add_raw_block", None)
    return add_raw_block is not None and bool(add_raw_block(fmt, block, first_line))


P = TypeVar("P", bound=Partial)


def aggregate_file(
    reader: MpistatReader,
    make_partial: Callable[[], P],
    workers: int = 1,
    on_local_fold: Callable[[P], None] | None = None,
) -> P:
    """Fold every valid line of an open reader into one aggregate, using ``workers`` processes.

    Each process folds the blocks it is given into its own partial aggregate (helpers
    fork with an empty one); the helpers' partials come back at the end and are merged
    exactly. ``on_local_fold(partial)`` is called in this process after each block it
    folds itself (all of them with one worker), so a caller can start work that depends
    on what has been seen so far (the report's quota look-ups) while the file is read.
    """
    partial = make_partial()
    reading_process = os.getpid()

    def fold(fmt: Format, block: bytes, first_line: int) -> tuple[None, Malformed]:
        # In a helper: its own (forked) partial.
        bad: Malformed = []
        if not fold_raw(partial, fmt, block, first_line):
            valid, bad = clean_block(fmt, block, first_line)
            for run_first_line, run in valid_runs(valid, first_line, bad):
                partial.add_block(fmt, run, run_first_line)
        if on_local_fold is not None and os.getpid() == reading_process:
            on_local_fold(partial)
        return None, bad

    finals: list[P] = []
    for _ in map_raw_blocks(reader, fold, workers, final=lambda: partial, finals=finals):
        pass
    for other in finals:
        partial.merge(other)
    return partial


def valid_runs(valid: bytes, first_line: int, bad: Malformed) -> Iterator[tuple[int, bytes]]:
    """A block's valid lines as runs of consecutive lines, each with the number of its
    first line: the whole block when nothing was malformed.

    A partial numbers a block's records from ``first_line``: with malformed lines taken
    out, the lines after them would get numbers too low (in logs, and in the order that
    picks a hard link's first name), so each run of valid lines gets its own.
    """
    if not bad:
        yield first_line, valid
        return
    import numpy as np  # only on this slow path (bad input)

    line_ends = np.flatnonzero(np.frombuffer(valid, dtype=np.uint8) == 10) + 1
    taken = 0  # valid lines already yielded
    line = first_line  # the number of the next valid line
    for bad_line, _ in bad:
        before = bad_line - line  # valid lines between the previous bad line and this one
        if before > 0:
            start = int(line_ends[taken - 1]) if taken else 0
            yield line, valid[start : int(line_ends[taken + before - 1])]
            taken += before
        line = bad_line + 1
    if taken < len(line_ends):
        yield line, valid[int(line_ends[taken - 1]) if taken else 0 :]
