"""Blocks decompressed straight into the memory they are parsed in (``run/blocks.py``).

The reading process, the one serial part of a volume, spends nearly all its time
decompressing. Read as bytes, each block was then copied into a helper's shared slot,
or into the reading process's own mapping for a block it does itself. Here the
destination is chosen before the chunk is read: a free slot if there is one (a
helper's block, unless the helpers are too far behind: then the reading process does
it where it is), else the reading process's own mapping. The reader
(``mpistat.reader.BlocksInPlace``) decompresses the chunk there, after the end of the
line the previous chunk cut, the one thing still copied.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from humgen_storage.mpistat.reader import BlockParts, BlocksInPlace, MpistatReader


@dataclass(frozen=True)
class Placed:
    """A block at the start of helper slot ``slot``, or of the reading process's own
    mapping (``slot`` None): ``length`` bytes, ``lines`` lines."""

    slot: int | None
    length: int
    lines: int


class Slots(Protocol):
    """Where blocks may go: helpers' shared slots (``free``: those holding nothing),
    and the reading process's own mapping."""

    memory: list[mmap.mmap]
    free: list[int]
    own: mmap.mmap | None


def placed_blocks(reader: MpistatReader, slots: Slots) -> Iterator[tuple[int, Placed | BlockParts]]:
    """``reader.block_parts()``' blocks, each decompressed into a free slot (taken from
    ``slots.free``; the caller gives it back) or else into ``slots.own``. A block
    longer than a slot comes as its parts, and takes no slot."""
    assert slots.own is not None, "in place needs the reading process's own mapping"
    blocks = BlocksInPlace(reader)
    while True:
        slot = slots.free.pop() if slots.free else None
        read = blocks.next_into(slots.own if slot is None else slots.memory[slot])
        if slot is not None and (read is None or isinstance(read[1], BlockParts)):
            slots.free.append(slot)  # it holds nothing
        if read is None:
            return
        first_line, block = read
        if isinstance(block, BlockParts):
            yield first_line, block
        else:
            yield first_line, Placed(slot, block.length, block.lines)
