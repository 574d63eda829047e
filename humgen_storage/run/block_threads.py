"""``map_raw_blocks``' helpers as threads of the reading process, for a block function
that does its work without the GIL (the compiled kernel's split): a block and its
result are handed over as they are, where a helper process costs a copy of each block
into shared memory and back out, and a pickled result.

The same interface as the helper processes (``run/blocks.py``' ``_MapHelpers``): the
reading process offers blocks while there is room, takes results as they come, and
does a block itself when every helper has enough waiting.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from humgen_storage.mpistat.reader import BlockParts
from humgen_storage.run.block_slots import Placed


class ThreadHelpers:
    """``count`` helper threads, with at most ``room`` blocks given to them and not yet
    taken back. ``handle(sequence, first_line, parts)`` returns a result with
    ``sequence``, ``value`` and ``counts``, as a helper process sends them."""

    def __init__(
        self, count: int, room: int, handle: Callable[[int, int, BlockParts], Any]
    ) -> None:
        self.room = room
        self.handle = handle
        self.pool = ThreadPoolExecutor(count, "block-helper") if count else None
        self.done: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        self.busy = 0

    def offer(self, sequence: int, first_line: int, parts: BlockParts | Placed) -> bool:
        """Give a block to a helper; False when there is no room (or no helper)."""
        assert isinstance(parts, BlockParts), "threads are given their blocks as read"
        if self.pool is None or self.busy >= self.room:
            return False
        self.busy += 1
        self.pool.submit(self.handle, sequence, first_line, parts).add_done_callback(self.done.put)
        return True

    def here(self, sequence: int, first_line: int, parts: BlockParts | Placed) -> Any:
        """A block done by the reading process itself, as a helper does it."""
        assert isinstance(parts, BlockParts), "threads are given their blocks as read"
        return self.handle(sequence, first_line, parts)

    def ready(self) -> bool:
        """True when a result has arrived (never waits)."""
        return not self.done.empty()

    def get(self) -> tuple[int, Any, Any]:
        """(sequence, value, line counts) of the next block done; a helper's error is
        raised here."""
        result = self.done.get().result()
        self.busy -= 1
        return result.sequence, result.value, result.counts

    def finish(self) -> None:
        """Nothing to tell threads: the pool ends with ``close``."""

    def collect_finals(self) -> list[Any]:
        return []  # threads keep no partial aggregates

    def close(self, abort: bool = False) -> None:
        """``abort``: blocks not started are dropped; a block being split takes
        milliseconds, and is waited for."""
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=abort)
