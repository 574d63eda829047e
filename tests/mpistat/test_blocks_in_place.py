"""Blocks decompressed into the memory they are parsed in (``BlocksInPlace``, and
``run/block_slots.py``'s slots) are ``blocks()``' blocks, at every edge."""

from __future__ import annotations

import gzip
import itertools
import mmap
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from humgen_storage.errors import InputError
from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.reader import BlockInPlace, BlockParts, BlocksInPlace, MpistatReader
from humgen_storage.mpistat.writer import Record
from humgen_storage.run.block_slots import Placed, placed_blocks
from humgen_storage.run.blocks import Helpers, map_raw_blocks

ROOT = Record(b"/lustre/scratch118", 4096, 0, 0, 1, 1, 1, "d", 1, 1).line()
BLOCK = 100  # more than the root's line, which ``open`` checks in the first chunk
MARGIN = 50  # a destination's room beyond the block size, as a helper's slot has


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "20261120_118.dat.gz"
    path.write_bytes(gzip.compress(data))
    return path


def reader_of(path: Path, **kwargs: object) -> MpistatReader:
    return MpistatReader(InputFile.from_path(path), block_size=BLOCK, **kwargs)  # type: ignore[arg-type]


def as_read(path: Path) -> list[tuple[int, bytes]]:
    with reader_of(path) as reader:
        return list(reader.blocks())


def placed(reader: MpistatReader, destinations: int = 3) -> Iterator[tuple[int, bytes]]:
    """Every block read into the next of a few destinations in turn, as it is there."""
    memories = [mmap.mmap(-1, BLOCK + MARGIN) for _ in range(destinations)]
    reading = BlocksInPlace(reader)
    for turn in itertools.count():
        memory = memories[turn % destinations]
        if (read := reading.next_into(memory)) is None:
            return
        first_line, block = read
        if isinstance(block, BlockInPlace):
            data = memory[: block.length]
        else:  # longer than the destination
            data = block.joined()
            assert len(data) > BLOCK + MARGIN
        assert block.lines == data.count(b"\n")
        yield first_line, data


def in_place(path: Path, destinations: int = 3) -> list[tuple[int, bytes]]:
    with reader_of(path) as reader:
        return list(placed(reader, destinations))


def lines_of(*lengths: int) -> bytes:
    """The root's line, then lines of these lengths (newline included)."""
    return ROOT + b"".join(b"x" * (n - 1) + b"\n" for n in lengths)


@pytest.mark.parametrize(
    "data",
    [
        # the first block exactly full, and the next one too (no cut line carried)
        lines_of(BLOCK - len(ROOT), 30, 30, 40, 7),
        # a line straddling two destinations, every chunk
        lines_of(*[37] * 20),
        # a line longer than a block but not than a destination: read on into the same one
        lines_of(10, 120, 10, 130, 5),
        # a line longer than a destination: handed back as its parts
        lines_of(10, 400, 20, 1000, 3),
        # lines longer than the block size in a row, then short ones
        lines_of(140, 140, 300, 1, 1, 5),
        # the root alone
        ROOT,
    ],
    ids=["full", "straddling", "longer-than-a-block", "longer-than-a-slot", "long-run", "root"],
)
@pytest.mark.parametrize("unended", [False, True], ids=["ended", "last-line-unended"])
def test_blocks_in_place_are_the_blocks_read(tmp_path: Path, data: bytes, unended: bool) -> None:
    path = write(tmp_path, data[:-1] if unended else data)
    expected = as_read(path)
    assert b"".join(block for _, block in expected) == data
    assert in_place(path) == expected
    assert in_place(path, destinations=1) == expected  # the reading process's own, each time


def test_random_lines_at_every_cut(tmp_path: Path) -> None:
    rng = random.Random(3)
    lengths = [
        rng.choice([1, 2, rng.randrange(1, 60), rng.randrange(90, 420)]) for _ in range(3000)
    ]
    path = write(tmp_path, lines_of(*lengths))
    assert in_place(path) == as_read(path)


def test_an_empty_stream_fails_at_open_as_before(tmp_path: Path) -> None:
    path = write(tmp_path, b"")
    with pytest.raises(InputError, match="no records"):
        in_place(path)


def _corrupt_midway(tmp_path: Path, truncate: bool) -> Path:
    rng = random.Random(5)
    # Random lines compress poorly: the damage is many chunks in.
    data = ROOT + b"".join(b"%x\n" % rng.getrandbits(rng.randrange(8, 400)) for _ in range(4000))
    path = write(tmp_path, data)
    compressed = bytearray(path.read_bytes())
    if truncate:
        del compressed[len(compressed) // 2 :]
    else:
        for at in range(len(compressed) // 2, len(compressed) // 2 + 64):
            compressed[at] ^= 0x5A
    path.write_bytes(bytes(compressed))
    return path


def _until_error(path: Path, in_place: bool) -> tuple[list[tuple[int, bytes]], str]:
    """The blocks read before the error, and the error."""
    blocks: list[tuple[int, bytes]] = []
    with pytest.raises(InputError) as error, reader_of(path) as reader:
        for block in placed(reader) if in_place else reader.blocks():
            blocks.append(block)
    return blocks, str(error.value)


@pytest.mark.parametrize("truncate", [False, True], ids=["corrupt", "truncated"])
def test_a_damaged_stream_fails_mid_block_as_before(tmp_path: Path, truncate: bool) -> None:
    path = _corrupt_midway(tmp_path, truncate)
    read, message = _until_error(path, in_place=False)
    read_in_place, message_in_place = _until_error(path, in_place=True)
    assert message_in_place == message
    assert ("truncated gzip stream" if truncate else "corrupt gzip stream") in message
    assert read_in_place == read and len(read) > 100


def test_progress_is_the_whole_file_either_way(tmp_path: Path) -> None:
    path = write(tmp_path, lines_of(*[37] * 2000))
    for read in (as_read, in_place):
        seen: list[int] = []
        with reader_of(path, on_progress=seen.append) as reader:
            list(reader.blocks() if read is as_read else placed(reader))
        assert sum(seen) == path.stat().st_size and len(seen) > 10


class _Slots:
    """A helper's slots and the reading process's own mapping, as ``_MapHelpers`` has."""

    def __init__(self, count: int) -> None:
        self.memory = [mmap.mmap(-1, BLOCK + MARGIN) for _ in range(count)]
        self.free = list(range(count))
        self.own: mmap.mmap | None = mmap.mmap(-1, BLOCK + MARGIN)


def test_placed_blocks_take_free_slots_and_else_the_own_mapping(tmp_path: Path) -> None:
    """A block goes to a free slot if there is one, else to the own mapping; the caller
    gives slots back when it likes. Each is the block read, where it says it is."""
    path = write(tmp_path, lines_of(10, 400, *[37] * 300, 1000, 5)[:-1])
    slots = _Slots(2)
    rng = random.Random(1)
    held: list[int] = []
    blocks: list[tuple[int, bytes]] = []
    with reader_of(path) as reader:
        for first_line, block in placed_blocks(reader, slots):
            if isinstance(block, BlockParts):
                blocks.append((first_line, block.joined()))
                continue
            assert isinstance(block, Placed)
            if block.slot is None:
                assert not slots.free  # the own mapping only when every slot is held
                memory = slots.own
            else:
                assert block.slot not in held and block.slot not in slots.free
                held.append(block.slot)
                memory = slots.memory[block.slot]
            assert memory is not None
            blocks.append((first_line, memory[: block.length]))
            while held and rng.random() < 0.4:  # helpers finish now and then
                slots.free.append(held.pop(rng.randrange(len(held))))
    assert sorted(slots.free + held) == [0, 1]
    assert blocks == as_read(path)


def _block_as_given(
    fmt: object, block: bytes | memoryview, first_line: int
) -> tuple[Any, list[Any]]:
    return (first_line, bytes(block)), []


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_viewing_helpers_get_the_blocks_read(tmp_path: Path, workers: int) -> None:
    """Through ``map_raw_blocks``: helpers' slots, the reading process's mapping, and a
    line longer than a slot (its margin is 256 KiB), with the lines counted."""
    rng = random.Random(4)
    lengths = [rng.choice([1, rng.randrange(1, 60), rng.randrange(90, 420)]) for _ in range(3000)]
    lengths[1500], lengths[-1] = 300_000, 50  # the last line unended below
    path = write(tmp_path, lines_of(*lengths)[:-1])
    with reader_of(path) as reader:
        got = list(map_raw_blocks(reader, _block_as_given, workers, helpers_are=Helpers.VIEWING))
    assert got == as_read(path)
    assert reader.lines == 3001


def _slow_on_the_first_blocks(
    fmt: object, block: bytes | memoryview, first_line: int
) -> tuple[Any, list[Any]]:
    if first_line < 20 and os.getpid() != _READING_PROCESS[0]:
        time.sleep(0.3)  # a helper held up: the others' slots come free meanwhile
    return (first_line, bytes(block)), []


_READING_PROCESS = [0]


def test_blocks_past_the_in_flight_bound_are_done_where_they_were_read(tmp_path: Path) -> None:
    """A helper stuck on an early block: later blocks, decompressed into slots other
    helpers freed, wait for it past the bound, and the reading process does them in
    those slots (and gives the slots back)."""
    _READING_PROCESS[0] = os.getpid()
    path = write(tmp_path, lines_of(*[37] * 3000))
    with reader_of(path) as reader:
        got = list(
            map_raw_blocks(reader, _slow_on_the_first_blocks, 3, helpers_are=Helpers.VIEWING)
        )
    assert got == as_read(path)
