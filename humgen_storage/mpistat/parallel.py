"""Parallelism within one volume: one process decompresses, several parse and aggregate.

The reading process hands newline-aligned blocks to ``workers - 1`` helper processes
through a bounded queue; when the queue is full it parses the block itself, so it
never idles and the number of busy processes stays at ``workers``. Each process
folds its blocks into its own partial aggregate; the partials are merged exactly at
the end (the aggregates define ``merge``; hard-link tables are unions, so an inode
seen by two workers still counts once).

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
class _WorkerResult:
    partial: Any
    lines: int = 0
    bad_count: int = 0
    bad_first: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None


@dataclass
class _Parser:
    """Validates blocks and folds them into one partial aggregate, counting bad lines."""

    fmt: Format
    partial: Any
    result: _WorkerResult = field(init=False)

    def __post_init__(self) -> None:
        self.result = _WorkerResult(self.partial)

    def parse(self, first_line: int, block: bytes) -> None:
        valid, lines, bad = clean_block(self.fmt, block, first_line)
        self.result.lines += lines
        if bad:
            self.result.bad_count += len(bad)
            room = _KEEP_BAD - len(self.result.bad_first)
            self.result.bad_first.extend(bad[:room])
        self.partial.add_block(self.fmt, valid, first_line)


def _worker_main(parser: _Parser, tasks: Any, results: Any) -> None:
    try:
        while True:
            item = tasks.get()
            if item is None:
                break
            parser.parse(*item)
        results.put(parser.result)
    except BaseException as exc:  # report, never hang the reader
        results.put(_WorkerResult(None, error=f"{type(exc).__name__}: {exc}"))


def aggregate_file(reader: MpistatReader, make_partial: Callable[[], P], workers: int = 1) -> P:
    """Fold every valid line of an open reader into one aggregate, using ``workers`` processes."""
    local = _Parser(reader.format, make_partial())
    helpers: list[Any] = []  # the fork context's Process objects
    context = multiprocessing.get_context("fork")
    tasks: Any = context.Queue(maxsize=2 * workers)
    results: Any = context.Queue()
    try:
        for _ in range(max(0, workers - 1)):
            process = context.Process(
                target=_worker_main,
                args=(_Parser(reader.format, make_partial()), tasks, results),
                daemon=True,
            )
            process.start()
            helpers.append(process)
        for first_line, block in reader.blocks():
            if helpers:
                try:
                    tasks.put_nowait((first_line, block))
                    continue
                except queue.Full:
                    pass  # every helper is busy: parse this one here
            local.parse(first_line, block)
        for _ in helpers:
            tasks.put(None)
        outcomes = [local.result] + [_collect(results, helpers) for _ in helpers]
    finally:
        for process in helpers:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        tasks.close()
        results.close()
    errors = [o.error for o in outcomes if o.error]
    if errors:
        raise RuntimeError(f"{reader.source.path}: a parsing process failed: {errors[0]}")
    merged: P = local.partial
    bad_first: list[tuple[int, str]] = []
    for outcome in outcomes:
        if outcome is not local.result:
            merged.merge(outcome.partial)
        reader.lines += outcome.lines
        bad_first.extend(outcome.bad_first)
    bad_total = sum(o.bad_count for o in outcomes)
    bad_first.sort()
    reader.record_bad_lines(bad_first, total=bad_total)
    reader.check_bad_fraction()
    return merged


def _collect(results: Any, helpers: list[multiprocessing.process.BaseProcess]) -> _WorkerResult:
    """The next helper's result; fails instead of hanging if a helper died."""
    while True:
        try:
            result: _WorkerResult = results.get(timeout=1.0)
            return result
        except queue.Empty:
            if not all(p.is_alive() or p.exitcode == 0 for p in helpers):
                dead = [p.exitcode for p in helpers if not p.is_alive()]
                return _WorkerResult(None, error=f"a parsing process exited with status {dead}")


@dataclass
class _Mapped:
    sequence: int
    lines: int
    bad_count: int
    bad_first: list[tuple[int, str]]
    value: Any = None
    error: str | None = None


def _map_one(
    fmt: Format, func: Callable[[Format, bytes], Any], sequence: int, first_line: int, block: bytes
) -> _Mapped:
    valid, lines, bad = clean_block(fmt, block, first_line)
    return _Mapped(sequence, lines, len(bad), bad[:_KEEP_BAD], func(fmt, valid))


def _map_worker(
    fmt: Format, func: Callable[[Format, bytes], Any], tasks: Any, results: Any
) -> None:
    try:
        while True:
            item = tasks.get()
            if item is None:
                break
            results.put(_map_one(fmt, func, *item))
    except BaseException as exc:  # report, never hang the reader
        results.put(_Mapped(-1, 0, 0, [], error=f"{type(exc).__name__}: {exc}"))


def map_blocks(
    reader: MpistatReader, func: Callable[[Format, bytes], R], workers: int = 1
) -> Iterator[R]:
    """``func(format, valid_lines)`` for every block, computed by ``workers`` processes,
    yielded in file order (for jobs whose output must keep the input's order).

    The reading process computes a block itself when every helper is busy, and at most
    ``2 × workers`` results wait to be yielded, so memory stays bounded. Bad lines are
    counted and the bad-fraction rule applied at the end, as ``aggregate_file`` does.
    """
    fmt = reader.format
    context = multiprocessing.get_context("fork")
    helpers: list[Any] = []
    tasks: Any = context.Queue(maxsize=2 * workers)
    results: Any = context.Queue()
    ready: dict[int, _Mapped] = {}
    bad_first: list[tuple[int, str]] = []
    bad_total = 0
    next_out = 0
    submitted = 0

    def take(mapped: _Mapped) -> None:
        nonlocal bad_total
        if mapped.error is not None:
            raise RuntimeError(f"{reader.source.path}: a parsing process failed: {mapped.error}")
        reader.lines += mapped.lines
        bad_total += mapped.bad_count
        bad_first.extend(mapped.bad_first)
        ready[mapped.sequence] = mapped

    try:
        for _ in range(max(0, workers - 1)):
            process = context.Process(
                target=_map_worker, args=(fmt, func, tasks, results), daemon=True
            )
            process.start()
            helpers.append(process)
        limit = 2 * workers  # blocks submitted but not yet yielded
        for first_line, block in reader.blocks():
            sequence = submitted
            submitted += 1
            handed = False
            if helpers and submitted - next_out <= limit:
                try:
                    tasks.put_nowait((sequence, first_line, block))
                    handed = True
                except queue.Full:
                    pass
            if not handed:  # every helper busy, or none: compute it here
                take(_map_one(fmt, func, sequence, first_line, block))
            while not results.empty():  # finished meanwhile (a hint; never blocks)
                take(_collect_mapped(results, helpers))
            while submitted - next_out > limit and next_out not in ready:
                take(_collect_mapped(results, helpers))  # too far ahead: wait for the oldest
            while next_out in ready:
                yield ready.pop(next_out).value
                next_out += 1
        for _ in helpers:
            tasks.put(None)
        while next_out < submitted:
            if next_out not in ready:
                take(_collect_mapped(results, helpers))
                continue
            yield ready.pop(next_out).value
            next_out += 1
    finally:
        for process in helpers:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        tasks.close()
        results.close()
    bad_first.sort()
    reader.record_bad_lines(bad_first, total=bad_total)
    reader.check_bad_fraction()


def _collect_mapped(results: Any, helpers: list[Any]) -> _Mapped:
    while True:
        try:
            mapped: _Mapped = results.get(timeout=1.0)
            return mapped
        except queue.Empty:
            if not all(p.is_alive() or p.exitcode == 0 for p in helpers):
                dead = [p.exitcode for p in helpers if not p.is_alive()]
                return _Mapped(-1, 0, 0, [], error=f"a parsing process exited with status {dead}")
