"""Folding a volume's blocks into partial aggregates, one per process, merged exactly.

``aggregate_file`` gives each block to ``run.blocks.map_raw_blocks``, whose function
validates it (``clean_block``) and folds its valid lines into the process's own
partial; the helpers' partials come back at the end and are merged (the aggregates
define ``merge``; hard-link tables are unions or keep the earliest name, so an inode
seen by two workers still counts once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar, cast

from humgen_storage.mpistat.patterns import Format, Malformed, clean_block
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.run.blocks import Block, Helpers, map_raw_blocks


class Partial(Protocol):
    """A per-volume aggregate that can absorb blocks of valid lines and other partials."""

    def add_block(self, fmt: Format, block: bytes, first_line: int) -> None:
        """Fold in a block of valid lines; ``first_line`` orders blocks in the file
        (lines within a block keep their order)."""
        ...

    def merge(self, other: Any) -> None: ...


def fold_raw(partial: Any, fmt: Format, block: Block, first_line: int) -> Malformed | None:
    """The block's malformed lines when ``partial`` folded in the raw block itself, else
    None. A partial may define ``add_raw_block`` to validate each line as it takes it
    in (one pass over bytes in the cache instead of two): it adds the valid lines and
    returns the malformed ones (numbered and explained, as ``clean_block`` gives them),
    or returns None, having added nothing, for a block it leaves to the usual way
    (validated apart, then added)."""
    add_raw_block = getattr(partial, "add_raw_block", None)
    return None if add_raw_block is None else add_raw_block(fmt, block, first_line)


class Newsworthy(Protocol):
    """A partial that says what it has met for the first time (``aggregate_file``)."""

    def take_news(self) -> Any: ...


P = TypeVar("P", bound=Partial)


def aggregate_file(
    reader: MpistatReader,
    make_partial: Callable[[], P],
    workers: int = 1,
    on_news: Callable[[Any], None] | None = None,
) -> P:
    """Fold every valid line of an open reader into one aggregate, using ``workers`` processes.

    Each process folds the blocks it is given into its own partial aggregate (helpers
    fork with an empty one); the helpers' partials come back at the end and are merged
    exactly. With ``on_news``, after each block the partial's ``take_news()`` (which it
    must define: what it has met for the first time in that process, e.g. the report's
    new gids; falsy for nothing) travels back with the block's result, and
    ``on_news(news)`` is called with it in this process as the results come in: a
    caller can start work that depends on what has been seen (the report's quota
    look-ups) while the file is still read, whichever process folded the block.
    """
    partial = make_partial()
    # A partial given ``on_news`` has news to take (``Newsworthy``).
    take_news = cast(Newsworthy, partial).take_news if on_news is not None else None

    def fold(fmt: Format, block: Block, first_line: int) -> tuple[Any, Malformed]:
        # In a helper: its own (forked) partial, and a view of the block it borrows.
        bad = fold_raw(partial, fmt, block, first_line)
        if bad is None:
            valid, bad = clean_block(fmt, bytes(block), first_line)
            for run_first_line, run in valid_runs(valid, first_line, bad):
                partial.add_block(fmt, run, run_first_line)
        return (take_news() if take_news is not None else None), bad

    finals: list[P] = []
    blocks = map_raw_blocks(
        reader, fold, workers, final=lambda: partial, finals=finals, helpers_are=Helpers.VIEWING
    )
    for news in blocks:
        if news:
            assert on_news is not None
            on_news(news)
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
