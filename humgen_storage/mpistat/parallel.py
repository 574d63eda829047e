"""Parallelism within one volume: one process decompresses, several parse.

The reading process hands newline-aligned blocks to ``workers - 1`` helper processes
through a bounded queue; when the queue is full it does the block itself, so it never
idles and the number of busy processes stays at ``workers``. Helpers validate each
block (``clean_block``) and then either

- fold it into their own partial aggregate, merged exactly at the end
  (``aggregate_file``: the aggregates define ``merge``; hard-link tables are unions or
  keep the earliest name, so an inode seen by two workers still counts once), or
- map it to a result sent back and yielded in file order (``map_blocks``, for output
  that must keep the input's order).

Memory is bounded: at most ``2 × workers`` blocks are in flight.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from humgen_storage.mpistat.reader import Format, MpistatReader, clean_block


class Partial(Protocol):
    """A per-volume aggregate that can absorb blocks of valid lines and other partials."""

    def add_block(self, fmt: Format, block: bytes, first_line: int) -> None:
        """Fold in a block of valid lines; ``first_line`` orders blocks in the file
        (lines within a block keep their order)."""
        ...

    def merge(self, other: Any) -> None: ...


P = TypeVar("P", bound=Partial)
R = TypeVar("R")

# How many malformed lines each process remembers for the log; the rest are counted.
_KEEP_BAD = 20


@dataclass
class _LineCounts:
    """Lines and malformed lines seen by one process, with the first few for the log."""

    lines: int = 0
    bad: int = 0
    samples: list[tuple[int, str]] = field(default_factory=list)

    def add(self, lines: int, bad: list[tuple[int, str]]) -> None:
        self.lines += lines
        self.bad += len(bad)
        self.samples.extend(bad[: _KEEP_BAD - len(self.samples)])

    def absorb(self, other: _LineCounts) -> None:
        self.lines += other.lines
        self.bad += other.bad
        self.samples.extend(other.samples)

    def settle(self, reader: MpistatReader) -> None:
        """Hand the totals to the reader, which logs and applies the bad-fraction rule."""
        reader.lines += self.lines
        reader.record_bad_lines(sorted(self.samples), total=self.bad)
        reader.check_bad_fraction()


@dataclass
class _Result:
    """What a helper sends back: a block's mapped value, or its final partial."""

    sequence: int = -1
    value: Any = None
    counts: _LineCounts = field(default_factory=_LineCounts)
    error: str | None = None


class _Helpers:
    """Helper processes fed through a bounded queue, answering on another queue."""

    def __init__(
        self, count: int, target: Callable[..., None], args: tuple[Any, ...], path: object
    ) -> None:
        context = multiprocessing.get_context("fork")
        self.path = path
        self.tasks: Any = context.Queue(maxsize=2 * max(1, count))
        self.results: Any = context.Queue()
        # Forked, so the args (closures included) are inherited, not pickled.
        self.processes = [
            context.Process(target=target, args=(*args, self.tasks, self.results), daemon=True)
            for _ in range(count)
        ]
        for process in self.processes:
            process.start()

    def offer(self, item: Any) -> bool:
        """Queue ``item`` for a helper; False when there is none or all are busy."""
        if not self.processes:
            return False
        try:
            self.tasks.put_nowait(item)
        except queue.Full:
            return False
        return True

    def finish(self) -> None:
        for _ in self.processes:
            self.tasks.put(None)

    def get(self) -> _Result:
        """The next result; raises instead of hanging if a helper died."""
        while True:
            try:
                result: _Result = self.results.get(timeout=1.0)
            except queue.Empty:
                dead = [p.exitcode for p in self.processes if not p.is_alive() and p.exitcode != 0]
                if dead:
                    raise RuntimeError(
                        f"{self.path}: a parsing process exited with status {dead}"
                    ) from None
                continue
            if result.error is not None:
                raise RuntimeError(f"{self.path}: a parsing process failed: {result.error}")
            return result

    def close(self) -> None:
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        self.tasks.close()
        self.results.close()


def _serve(
    handle: Callable[[Any], _Result | None],
    done: Callable[[], _Result | None],
    tasks: Any,
    results: Any,
) -> None:
    """A helper's loop: handle tasks until the None sentinel; errors are sent, never hang."""
    try:
        while (item := tasks.get()) is not None:
            answer = handle(item)
            if answer is not None:
                results.put(answer)
        final = done()
        if final is not None:
            results.put(final)
    except BaseException as exc:
        results.put(_Result(error=f"{type(exc).__name__}: {exc}"))


# -- aggregate_file ------------------------------------------------------------------------


@dataclass
class _Folder:
    """Validates blocks and folds them into one partial aggregate."""

    fmt: Format
    partial: Any
    counts: _LineCounts = field(default_factory=_LineCounts)

    def fold(self, item: tuple[int, bytes]) -> None:
        first_line, block = item
        valid, lines, bad = clean_block(self.fmt, block, first_line)
        self.counts.add(lines, bad)
        self.partial.add_block(self.fmt, valid, first_line)

    def serve(self, tasks: Any, results: Any) -> None:
        _serve(
            lambda item: self.fold(item),
            lambda: _Result(value=self.partial, counts=self.counts),
            tasks,
            results,
        )


def aggregate_file(
    reader: MpistatReader,
    make_partial: Callable[[], P],
    workers: int = 1,
    on_local_fold: Callable[[P], None] | None = None,
) -> P:
    """Fold every valid line of an open reader into one aggregate, using ``workers`` processes.

    ``on_local_fold(partial)`` is called in this process after each block it folds
    itself (all of them with one worker), so a caller can start work that depends on
    what has been seen so far (the report's quota look-ups) while the file is read.
    """
    local = _Folder(reader.format, make_partial())
    helpers = _Helpers(
        max(0, workers - 1),
        _Folder.serve,
        (_Folder(reader.format, make_partial()),),
        reader.source.path,
    )
    try:
        for item in reader.blocks():
            if not helpers.offer(item):
                local.fold(item)  # every helper is busy: fold this one here
                if on_local_fold is not None:
                    on_local_fold(local.partial)
        helpers.finish()
        finals = [helpers.get() for _ in helpers.processes]
    finally:
        helpers.close()
    merged: P = local.partial
    for final in finals:
        merged.merge(final.value)
        local.counts.absorb(final.counts)
    local.counts.settle(reader)
    return merged


# -- map_blocks ----------------------------------------------------------------------------


def _map_one(
    fmt: Format, func: Callable[[Format, bytes], Any], item: tuple[int, int, bytes]
) -> _Result:
    sequence, first_line, block = item
    valid, lines, bad = clean_block(fmt, block, first_line)
    counts = _LineCounts()
    counts.add(lines, bad)
    return _Result(sequence, func(fmt, valid), counts)


def _map_serve(fmt: Format, func: Callable[[Format, bytes], Any], tasks: Any, results: Any) -> None:
    _serve(lambda item: _map_one(fmt, func, item), lambda: None, tasks, results)


def map_blocks(
    reader: MpistatReader, func: Callable[[Format, bytes], R], workers: int = 1
) -> Iterator[R]:
    """``func(format, valid_lines)`` for every block, computed by ``workers`` processes,
    yielded in file order (for jobs whose output must keep the input's order).

    At most ``2 × workers`` results wait to be yielded, so memory stays bounded. Bad
    lines are counted and the bad-fraction rule applied at the end, as in ``aggregate_file``.
    """
    fmt = reader.format
    helpers = _Helpers(max(0, workers - 1), _map_serve, (fmt, func), reader.source.path)
    counts = _LineCounts()
    ready: dict[int, _Result] = {}
    limit = 2 * workers  # blocks submitted but not yet yielded
    submitted = next_out = 0

    def take(result: _Result) -> None:
        counts.absorb(result.counts)
        ready[result.sequence] = result

    try:
        for first_line, block in reader.blocks():
            item = (submitted, first_line, block)
            submitted += 1
            if submitted - next_out > limit or not helpers.offer(item):
                take(_map_one(fmt, func, item))  # every helper busy, or none: do it here
            while not helpers.results.empty():  # finished meanwhile (a hint; never blocks)
                take(helpers.get())
            while submitted - next_out > limit and next_out not in ready:
                take(helpers.get())  # too far ahead: wait for the oldest
            while next_out in ready:
                yield ready.pop(next_out).value
                next_out += 1
        helpers.finish()
        while next_out < submitted:
            if next_out not in ready:
                take(helpers.get())
                continue
            yield ready.pop(next_out).value
            next_out += 1
    finally:
        helpers.close()
    counts.settle(reader)
