"""Parallelism within one volume: one process decompresses, several parse.

The reading process hands newline-aligned blocks to ``workers - 1`` helper processes;
when they all have enough waiting it does the block itself, so it never idles and the
number of busy processes stays at ``workers``. Blocks and results travel through
shared memory (``_MapHelpers``), not pickled through a queue; for a function that does
its work without the GIL (the split's compiled kernel) the helpers may be threads of
the reading process instead (``run/block_threads.py``), and nothing is copied. Blocks
are either

- mapped to a result that is yielded in file order (``map_raw_blocks``, for output
  that must keep the input's order; the function validates the block itself, in the
  pass it makes anyway), or
- validated and folded into each process's own partial aggregate, merged exactly at
  the end (``run.aggregate.aggregate_file``, through ``map_raw_blocks``' ``final``).

Memory is bounded: at most ``4 × (workers - 1) + 2`` blocks are in flight.
"""

from __future__ import annotations

import enum
import functools
import mmap
import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from humgen_storage.mpistat.patterns import Format, Malformed
from humgen_storage.mpistat.reader import BlockParts, MpistatReader
from humgen_storage.run.block_slots import Placed, placed_blocks
from humgen_storage.run.block_threads import ThreadHelpers
from humgen_storage.run.helper_pipe import Sender, received
from humgen_storage.run.line_counts import LineCounts
from humgen_storage.run.processes import die_with_parent

R = TypeVar("R")


@dataclass
class _Result:
    """What a helper sends back: a block's mapped value, or its final partial."""

    sequence: int = -1
    value: Any = None
    counts: LineCounts = field(default_factory=LineCounts)
    error: str | None = None


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


# -- map_blocks ----------------------------------------------------------------------------

# A block as a function is given it: bytes, or (``Helpers.VIEWING``) a view of a
# helper's slot, valid while the function runs.
Block = bytes | memoryview


class Helpers(enum.Enum):
    """What a volume's block helpers are, and how a block reaches its function there."""

    COPYING = "processes; the function gets a copy of its block (it may keep it)"
    VIEWING = "processes; the function reads its block where it was copied to, keeping nothing"
    THREADS = "threads of the reading process, for a function that works without the GIL"


BlockFunc = Callable[[Format, Block, int], tuple[Any, Malformed]]

# Blocks waiting for each helper besides the one it is on: enough that it does not wait
# for the next while the reading process parses a block of its own and writes the
# results in (with 2 the helper of a 2-worker split waited a sixth of its time).
_WAITING_PER_HELPER = 3
# Room in a slot beyond the reader's block size: a block is the block size plus the
# end of the line it cut (a longer block is done by the reading process).
_SLOT_MARGIN = 256 * 1024


class _MapHelpers:
    """``map_raw_blocks``' helper processes, given blocks through shared memory.

    Through a ``multiprocessing.Queue``, a 4 MiB block is pickled, written into a pipe
    64 KiB at a time, read out and unpickled, and so is its result: a quarter of every
    process's time went there. And a queue sends from a thread that needs the GIL,
    which the sender's main thread holds for the whole of a block's regular expression
    scan, so blocks and results arrived late and processes waited for them.

    Instead a block is copied into a free *slot* (or, for a function that views it,
    decompressed there: ``run/block_slots.py``), an anonymous shared mapping made
    before the helpers fork (so it is theirs too), and only the slot's number goes
    through a pipe, written at once; the helper pickles its value into the same slot
    (split's is never larger than its block; a larger one goes through the pipe), and
    the slot is free again once this process has unpickled it. A helper owns a slot
    from the block's offer to its result, so the slots bound the blocks at helpers: the
    one each is on and ``_WAITING_PER_HELPER`` more.
    """

    def __init__(
        self,
        count: int,
        reader: MpistatReader,
        func: BlockFunc,
        final: Callable[[], Any] | None = None,
        viewing: bool = False,
    ) -> None:
        context = multiprocessing.get_context("fork")
        self.fmt = reader.format
        self.func = func
        self.viewing = viewing  # func reads its block in the slot itself
        self.final = final  # each helper's last word, e.g. its partial aggregate
        self.finals: list[Any] = []
        self.path = reader.source.path
        self.size = reader.block_size + _SLOT_MARGIN
        slots = (1 + _WAITING_PER_HELPER) * count
        self.memory = [mmap.mmap(-1, self.size) for _ in range(slots)]
        self.free = list(range(slots))
        self.tasks: Any = context.SimpleQueue()
        self.results, sending_end = context.Pipe(duplex=False)
        self.sender = Sender(sending_end, context.Lock())
        self.finished = False
        self.parent_pid = os.getpid()
        # Forked: the function (a closure or bound method) is inherited, not pickled.
        self.processes = [context.Process(target=self._serve, daemon=True) for _ in range(count)]
        for process in self.processes:
            process.start()
        self.own = mmap.mmap(-1, self.size) if viewing else None  # after the fork: ``here``'s

    def here(self, sequence: int, first_line: int, parts: BlockParts | Placed) -> _Result:
        """A block this process does itself. A function that views its block gets it in
        a mapping made for the file, as a helper its slot, not joined anew: a new block
        in the C heap each time was given back to the system and faulted in again."""
        if isinstance(parts, Placed):  # read where it is (``run/block_slots.py``)
            memory = self.own if parts.slot is None else self.memory[parts.slot]
            assert memory is not None
            result = _map_viewed(self.fmt, self.func, (sequence, first_line, memory), parts.length)
            if parts.slot is not None:  # the helpers too far behind to be given it
                self.free.append(parts.slot)
            return result
        if self.own is None or len(parts) > self.size:
            return _map_parts(self.fmt, self.func, sequence, first_line, parts)
        parts.copy_into(self.own)
        return _map_viewed(self.fmt, self.func, (sequence, first_line, self.own), len(parts))

    def offer(self, sequence: int, first_line: int, parts: BlockParts | Placed) -> bool:
        """Give a block to a helper; False when every slot is taken or it does not fit
        (or, read in place, it is in this process's mapping)."""
        if isinstance(parts, Placed):
            if parts.slot is None:
                return False
            slot, length = parts.slot, parts.length
        elif not self.free or len(parts) > self.size:
            return False
        else:
            slot, length = self.free.pop(), len(parts)
            parts.copy_into(self.memory[slot])
        self.tasks.put((sequence, first_line, slot, length))  # a few bytes: never waits
        return True

    def ready(self) -> bool:
        """True when a result has arrived (never waits)."""
        return bool(self.processes) and self.results.poll()

    def _receive(self) -> _Result:
        """The next message from a helper; raises instead of hanging if a helper died."""
        while not self.results.poll(1.0):
            dead = [p.exitcode for p in self.processes if not p.is_alive() and p.exitcode != 0]
            if dead:
                raise RuntimeError(f"{self.path}: a parsing process exited with status {dead}")
        result: _Result = received(self.results)
        if result.error is not None:
            raise RuntimeError(f"{self.path}: a parsing process failed: {result.error}")
        return result

    def get(self) -> tuple[int, Any, LineCounts]:
        """(sequence, value, line counts) of the next block's result; its slot is free
        again. Final values (sent after ``finish``) met on the way are kept in ``finals``."""
        result = self._receive()
        while result.sequence < 0:
            self.finals.append(result.value)
            result = self._receive()
        slot, size, value = result.value
        if size:  # pickled into the slot
            with memoryview(self.memory[slot]) as memory, memory[:size] as pickled:
                value = pickle.loads(pickled)
        self.free.append(slot)
        return result.sequence, value, result.counts

    def collect_finals(self) -> list[Any]:
        """Every helper's final value, once every block's result has been taken. The
        slots are given back first: no block is in one now, and a helper's partial, as
        large as it will be, arrives next."""
        for memory in self.memory:
            memory.close()
        self.memory, self.free = [], []
        while self.final is not None and len(self.finals) < len(self.processes):
            result = self._receive()
            assert result.sequence < 0, "a block result after the last block"
            self.finals.append(result.value)
        return self.finals

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            for _ in self.processes:
                self.tasks.put(None)

    def close(self, abort: bool = False) -> None:
        """``abort``: interrupted, or the reading failed; nobody waits for the helpers'
        blocks, so they are killed rather than let finish."""
        if abort:
            for process in self.processes:
                process.kill()
        self.finish()
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        self.tasks.close()
        self.results.close()
        self.sender.connection.close()
        for memory in self.memory:
            memory.close()
        if self.own is not None:
            self.own.close()

    # -- in a helper

    def _serve(self) -> None:
        die_with_parent(self.parent_pid)
        _serve(self._handle, self._last_word, self.tasks, self.sender)

    def _last_word(self) -> _Result | None:
        return None if self.final is None else _Result(sequence=-1, value=self.final())

    def _handle(self, task: tuple[int, int, int, int]) -> _Result:
        sequence, first_line, slot, length = task
        memory = self.memory[slot]
        if self.viewing:  # a view, released before the value is written over the block
            result = _map_viewed(self.fmt, self.func, (sequence, first_line, memory), length)
        else:  # a copy: the value, which may refer to its block, goes into the same slot
            result = _map_one(self.fmt, self.func, (sequence, first_line, memory[:length]))
        memory.seek(0)
        try:
            # Large bytes objects are written straight into the slot, not copied first.
            pickle.dump(result.value, memory, protocol=pickle.HIGHEST_PROTOCOL)
        except ValueError:  # larger than the slot: through the pipe
            result.value = (slot, 0, result.value)
        else:
            result.value = (slot, memory.tell(), None)
        return result


def _map_one(fmt: Format, func: BlockFunc, item: tuple[int, int, Block]) -> _Result:
    sequence, first_line, block = item
    value, bad = func(fmt, block, first_line)
    counts = LineCounts()
    counts.add(0, bad)  # the reading process counts the lines (see map_raw_blocks)
    return _Result(sequence, value, counts)


def _map_viewed(
    fmt: Format, func: BlockFunc, item: tuple[int, int, mmap.mmap], length: int
) -> _Result:
    """``_map_one`` on a mapping's first ``length`` bytes, through a view released after."""
    with memoryview(item[2]) as whole, whole[:length] as view:  # item: sequence, line, mapping
        return _map_one(fmt, func, (item[0], item[1], view))


def _map_parts(
    fmt: Format, func: BlockFunc, sequence: int, first_line: int, parts: BlockParts
) -> _Result:
    return _map_one(fmt, func, (sequence, first_line, parts.joined()))


def _helpers(
    reader: MpistatReader,
    func: BlockFunc,
    count: int,
    final: Callable[[], Any] | None,
    kind: Helpers,
) -> _MapHelpers | ThreadHelpers:
    count = max(0, count)
    if kind is Helpers.THREADS:
        assert final is None, "helper threads keep no partial aggregates"
        # A thread takes its next block as soon as it is free, with no pipe in between:
        # one block waiting for each keeps it busy, and each block more held memory.
        room = 2 * count
        return ThreadHelpers(count, room, functools.partial(_map_parts, reader.format, func))
    return _MapHelpers(count, reader, func, final, viewing=kind is Helpers.VIEWING)


def _read(
    reader: MpistatReader, helpers: _MapHelpers | ThreadHelpers
) -> Iterator[tuple[int, BlockParts | Placed]]:
    """The blocks, decompressed where they will be parsed when the helpers view their
    blocks in shared memory (``run/block_slots.py``), which spares the reading
    process a copy of each; else as read, for helpers given bytes."""
    if isinstance(helpers, _MapHelpers) and helpers.own is not None:
        return placed_blocks(reader, helpers)
    return reader.block_parts()


def map_raw_blocks(
    reader: MpistatReader,
    func: Callable[[Format, bytes, int], tuple[R, Malformed]],
    workers: int = 1,
    final: Callable[[], Any] | None = None,
    finals: list[Any] | None = None,
    helpers_are: Helpers = Helpers.COPYING,
) -> Iterator[R]:
    """``func(format, block, first_line)`` for every block as read, computed by
    ``workers`` processes, yielded in file order (for jobs whose output must keep the
    input's order).

    ``func`` validates the block itself and returns (its value, the block's malformed
    lines): a job that scans every line anyway can check them in the same pass
    (``reader.field_runs``) instead of a separate ``clean_block``. At most ``4 ×
    (workers - 1) + 2`` blocks are in flight (at helpers, or done and waiting for an
    earlier one), so memory stays bounded. Bad lines are counted and the bad-fraction
    rule applied at the end.

    With ``final``, each helper calls it after its last block and its value is
    appended to ``finals`` (``aggregate_file``: each helper's partial aggregate).
    ``helpers_are`` says what the helpers are (``Helpers``): threads of this process
    for a ``func`` that releases the GIL for its work (no ``final``), or processes that
    give ``func`` a copy of its block or, for a ``func`` that only reads it while it
    runs and keeps nothing of it, a view of the block where it was copied to.
    """
    # Blocks submitted but not yet yielded: those at helpers, and two more, so that this
    # process can go on with its own while a helper finishes an earlier one.
    limit = (1 + _WAITING_PER_HELPER) * (workers - 1) + 2
    # A function given views takes them as well as bytes (``aggregate_file``'s).
    helpers = _helpers(reader, cast(BlockFunc, func), workers - 1, final, helpers_are)
    counts = LineCounts()
    ready: dict[int, Any] = {}
    submitted = next_out = 0
    lines = 0  # up to the end of the last block read
    completed = False

    def take(sequence: int, value: Any, block_counts: LineCounts) -> None:
        counts.absorb(block_counts)
        ready[sequence] = value

    try:
        for first_line, parts in _read(reader, helpers):
            lines = first_line - 1 + parts.lines
            sequence = submitted
            submitted += 1
            if submitted - next_out > limit or not helpers.offer(sequence, first_line, parts):
                # Every helper busy, or none: do it here.
                local = helpers.here(sequence, first_line, parts)
                take(local.sequence, local.value, local.counts)
            while helpers.ready():  # finished meanwhile
                take(*helpers.get())
            while submitted - next_out > limit and next_out not in ready:
                take(*helpers.get())  # too far ahead: wait for the oldest
            while next_out in ready:
                yield ready.pop(next_out)
                next_out += 1
        helpers.finish()
        while next_out < submitted:
            if next_out not in ready:
                take(*helpers.get())
                continue
            yield ready.pop(next_out)
            next_out += 1
        if finals is not None:
            finals.extend(helpers.collect_finals())
        completed = True
    finally:
        # Not completed: an error, an interrupt, or the consumer stopped reading.
        helpers.close(abort=not completed)
    counts.lines = lines
    counts.settle(reader)
