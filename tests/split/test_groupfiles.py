"""GroupPartWriter on its own: one gzip member per write, a fixed buffer pool whose
chunks are reused, lines kept in order when the pool fills mid-block; and fed from a
thread of its own, the same bytes."""

from __future__ import annotations

import gzip
import itertools
import os
import zlib
from pathlib import Path

import pytest

from humgen_storage.split import groupfiles
from humgen_storage.split.blocks import BlockSplit
from humgen_storage.split.groupfiles import GroupPartWriter
from humgen_storage.split.writer_thread import PartWriterThread


def _members(data: bytes) -> list[bytes]:
    """Each gzip member of ``data``, decompressed on its own."""
    members = []
    while data:
        decompressor = zlib.decompressobj(wbits=31)
        members.append(decompressor.decompress(data))
        assert decompressor.eof, "a member without its trailer"
        data = decompressor.unused_data
    return members


def _writer(tmp_path: Path, buffer_bytes: int, group_flush_bytes: int) -> GroupPartWriter:
    return GroupPartWriter(
        tmp_path / "parts",
        max_open_files=4,
        compress_level=1,
        buffer_bytes=buffer_bytes,
        group_flush_bytes=group_flush_bytes,
    )


def _lines(tag: bytes, count: int, width: int = 100) -> bytes:
    return b"".join(b"%s %06d " % (tag, n) + b"x" * width + b"\n" for n in range(count))


def test_each_write_is_one_complete_gzip_member(tmp_path: Path) -> None:
    writer = _writer(tmp_path, buffer_bytes=1 << 20, group_flush_bytes=32 * 1024)
    slot = writer.slot("g")
    big = [_lines(b"big%d" % n, 400) for n in range(3)]  # ~44 KiB: past the flush size
    small = _lines(b"small", 10)
    for data in (*big, small):
        writer.add_joined([(slot, data, data.count(b"\n"), 0)])
    parts = writer.close()

    # written as given (no buffering for the large ones), the rest at close: each a
    # member that decompresses on its own, so no compressor is kept between writes
    assert _members(parts["g"].path.read_bytes()) == [*big, small]
    assert parts["g"].lines == 3 * 400 + 10


def test_lines_beyond_the_pool_are_written_in_order(tmp_path: Path) -> None:
    # A pool of 64 KiB and a flush size it never reaches: the pool fills in the middle
    # of a group's lines, and the largest groups (this one too) are written to make room.
    writer = _writer(tmp_path, buffer_bytes=64 * 1024, group_flush_bytes=1 << 20)
    a, b = writer.slot("a"), writer.slot("b")
    expected: dict[str, list[bytes]] = {"a": [], "b": []}
    for block in range(12):
        big = _lines(b"a%02d" % block, 1500)  # ~170 KiB: more than the whole pool
        small = _lines(b"b%02d" % block, 30)
        writer.add_joined([(a, big, 1500, 0), (b, small, 30, 0)])
        expected["a"].append(big)
        expected["b"].append(small)
        assert writer.buffered_bytes <= writer.buffer_bytes <= 64 * 1024
    parts = writer.close()

    for stem in ("a", "b"):
        data = parts[stem].path.read_bytes()
        assert gzip.decompress(data) == b"".join(expected[stem])
    assert len(_members(parts["a"].path.read_bytes())) > 12
    assert parts["a"].lines == 12 * 1500 and parts["b"].lines == 12 * 30


def test_the_pool_is_reused_not_grown(tmp_path: Path) -> None:
    writer = _writer(tmp_path, buffer_bytes=256 * 1024, group_flush_bytes=16 * 1024)
    budget = writer.buffer_bytes
    slots = [writer.slot(f"g{n}") for n in range(40)]
    expected: dict[int, list[bytes]] = {slot: [] for slot in slots}
    for block in range(200):
        groups = []
        for slot in slots:
            data = _lines(b"%d-%d" % (block, slot), 1 + (block * 7 + slot) % 23, width=60)
            groups.append((slot, data, data.count(b"\n"), 0))
            expected[slot].append(data)
        writer.add_joined(groups)
        assert writer.buffer_bytes == budget
        assert 0 < writer.buffered_bytes <= budget
    parts = writer.close()
    # many times the pool went through it: its chunks were given back and reused
    assert sum(len(d) for datas in expected.values() for d in datas) > 20 * budget
    for slot in slots:
        data = parts[f"g{slot}"].path.read_bytes()
        assert gzip.decompress(data) == b"".join(expected[slot])


def test_abort_closes_every_part_and_frees_the_pool(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    writer = _writer(tmp_path, buffer_bytes=64 * 1024, group_flush_bytes=4096)
    for n in range(6):
        data = _lines(b"%d" % n, 100)
        writer.add_joined([(writer.slot(f"g{n}"), data, 100, 0)])
    assert len(os.listdir("/proc/self/fd")) > before  # parts were written and kept open
    writer.abort()
    writer.abort()  # twice is harmless (close() aborts too)
    assert len(os.listdir("/proc/self/fd")) == before
    assert writer._pool is None


def _block(*groups: tuple[int, bytes]) -> BlockSplit:
    """A block's split of (group number, its lines)."""
    ends = list(itertools.accumulate(len(data) for _, data in groups))
    rows = [(n, end, data.count(b"\n"), 0) for (n, data), end in zip(groups, ends, strict=True)]
    return BlockSplit(b"".join(data for _, data in groups), rows, {}, 0)


def test_the_writer_thread_writes_the_bytes_the_caller_would(tmp_path: Path) -> None:
    blocks = [
        _block((n % 3, _lines(b"a%d" % n, 300)), (2, _lines(b"b%d" % n, 7))) for n in range(9)
    ]
    written = {}
    for threaded in (False, True):
        writer = _writer(tmp_path / str(threaded), buffer_bytes=1 << 16, group_flush_bytes=20_000)
        output = PartWriterThread(writer, ("x", "y", "z"), threaded)
        for block in blocks:
            output.add(block)
        written[threaded] = {s: p.path.read_bytes() for s, p in output.close().items()}
    assert written[True] == written[False]
    assert len(_members(written[True]["z"])) > 3


def test_an_error_in_the_writer_thread_is_raised_in_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_room(path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(groupfiles, "open_part_file", no_room)
    writer = _writer(tmp_path, buffer_bytes=1 << 16, group_flush_bytes=1000)
    output = PartWriterThread(writer, ("x",), threaded=True)
    output.add(_block((0, _lines(b"a", 100))))
    with pytest.raises(OSError, match="No space"):
        for _ in range(20):  # more than the queue holds: the thread drops them, never hangs
            output.add(_block((0, _lines(b"a", 100))))
        output.close()
    output.abandon()
    writer.abort()
