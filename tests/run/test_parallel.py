"""The parallel block path gives exactly the single-process result (issue 7)."""

from __future__ import annotations

import gzip
import multiprocessing
import random
import threading
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.patterns import Format, clean_block
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.mpistat.writer import Record
from humgen_storage.report.aggregate import UsageAggregate
from humgen_storage.run.aggregate import aggregate_file, valid_runs
from humgen_storage.run.blocks import Helpers, Malformed, map_raw_blocks
from humgen_storage.run.helper_pipe import Sender, received
from tests.helpers import write_mpistat

R = 1_800_000_000


def records(n: int) -> list[Record]:
    rng = random.Random(7)
    out = [Record(b"/lustre/scratch118", 4096, 0, 0, R, R, R, "d", 1, 1)]
    links: list[tuple[int, int, int]] = []
    for i in range(n):
        gid = 1000 + rng.randrange(30)
        if links and rng.random() < 0.05:  # a later name of an earlier multi-link inode
            inode, size, gid = links[rng.randrange(len(links))]
            nlink = 2
        else:
            inode, size = 10 + i, rng.randrange(10**9)
            nlink = rng.choice([1] * 20 + [0, 2, 3])
            if nlink > 1:
                links.append((inode, size, gid))
        mtime = R - rng.randrange(10**8) + (10**6 if rng.random() < 0.01 else 0)
        name = b"/lustre/scratch118/d%d/f%d%s" % (i % 97, i, b"\t\n\xff" if i % 50 == 0 else b"")
        out.append(Record(name, size, 1, gid, R, mtime, R, "f", inode, nlink, 1 + i % 2))
    return out


def aggregate(
    path: Path, workers: int, block_size: int, **kwargs: object
) -> tuple[UsageAggregate, int, int]:
    with MpistatReader(InputFile.from_path(path), block_size=block_size, **kwargs) as reader:  # type: ignore[arg-type]
        result = aggregate_file(reader, partial(UsageAggregate, R), workers=workers)
    return result, reader.lines, reader.bad_lines


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_equals_single_process(tmp_path: Path, workers: int) -> None:
    path = write_mpistat(tmp_path, "20261120", "118", records(20000))
    # 3 KiB blocks: thousands of blocks, lines cut at every boundary position over the
    # run, and the names of one inode spread over blocks parsed by different workers.
    single, lines1, _ = aggregate(path, 1, 1 << 20)
    parallel, lines2, _ = aggregate(path, workers, 3000)
    assert parallel.totals() == single.totals()
    assert lines1 == lines2 == 20001
    assert parallel.records == single.records == 20001


def test_parallel_counts_bad_lines_and_logs_the_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = records(3000)
    bad = [b"bad line %d\n" % i for i in range(3)]
    path = write_mpistat(
        tmp_path, "20261120", "118", good[:1000], extra_lines=bad + [r.line() for r in good[1000:]]
    )
    result, lines, bad_lines = aggregate(path, 2, 2000, max_bad_fraction=0.01, log_bad_lines=2)
    assert (lines, bad_lines) == (3004, 3)
    logged = [r.getMessage() for r in caplog.records if "malformed, skipped" in r.getMessage()]
    assert [m.split(": malformed")[0][-9:] for m in logged] == ["line 1001", "line 1002"]
    assert result.records == 3001


def test_directories_are_never_kept_in_the_link_table(tmp_path: Path) -> None:
    # Directories have nlink >= 2 but cannot be hard-linked: keeping them aside would
    # make memory grow with the input. Two names of one file are the only link entry.
    recs = [Record(b"/lustre/scratch118", 4096, 0, 5, R, R, R, "d", 1, 7)]
    recs += [
        Record(b"/lustre/scratch118/d%d" % i, 4096, 0, 5, R, R, R, "d", 10 + i, 2 + i % 3)
        for i in range(500)
    ]
    recs += [
        Record(b"/lustre/scratch118/f%d" % i, 100, 0, 5, R, R, R, "f", 9999, 2) for i in range(2)
    ]
    path = write_mpistat(tmp_path, "20261120", "118", recs)
    result, _, _ = aggregate(path, 1, 1 << 20)
    assert len(result.link_rows()) == 1
    assert result.totals()[5].used == 501 * 4096 + 100


def _clean_lines(fmt: Format, block: bytes, first_line: int) -> tuple[list[bytes], Malformed]:
    valid, bad = clean_block(fmt, block, first_line)
    return [line for line in valid.split(b"\n") if line], bad


@pytest.mark.parametrize("threads", [False, True])  # helper processes, or threads
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_map_raw_blocks_keeps_file_order_and_counts_bad_lines(
    tmp_path: Path, workers: int, threads: bool
) -> None:
    good = records(5000)
    path = write_mpistat(
        tmp_path,
        "20261120",
        "118",
        good[:2000],
        extra_lines=[b"bad\n"] + [r.line() for r in good[2000:]],
    )
    with MpistatReader(InputFile.from_path(path), block_size=1500, max_bad_fraction=0.01) as reader:
        chunks = map_raw_blocks(
            reader,
            _clean_lines,
            workers,
            helpers_are=Helpers.THREADS if threads else Helpers.COPYING,
        )
        lines = [line for chunk in chunks for line in chunk]
    assert lines == [r.line()[:-1] for r in good]  # byte for byte, in input order
    assert (reader.lines, reader.bad_lines) == (5002, 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_news_of_every_block_reaches_the_reading_process(tmp_path: Path, workers: int) -> None:
    """The hook the report uses to start quota look-ups while the file is still read:
    the gids each process meets come back with its blocks, whichever process folded them."""
    path = write_mpistat(tmp_path, "20261120", "118", records(5000))
    news: list[set[int]] = []
    with MpistatReader(InputFile.from_path(path), block_size=3000) as reader:
        result = aggregate_file(reader, partial(UsageAggregate, R), workers, news.append)
    assert set().union(*news) == result.gids and len(result.gids) == 31  # gid 0 and 30 more
    assert 1 < len(news) < 31  # of about 170 blocks: nothing to tell for most
    if workers == 1:  # one process: each gid is news once
        assert sum(map(len, news)) == 31


def _lines_and_sizes(
    fmt: object, block: bytes | memoryview, first_line: int
) -> tuple[Any, list[Any]]:
    """A value with bytes of every size (some travel in the slot, some pickled) and the
    block's malformed lines as this function sees them (given a view, it copies)."""
    lines = [line for line in bytes(block).split(b"\n") if line]
    bad = [(first_line + n, "bad") for n, line in enumerate(lines) if line.startswith(b"bad")]
    good = [line for line in lines if not line.startswith(b"bad")]
    return (first_line, b"\n".join(good), [b"x" * 2000, b"y"], len(block)), bad


@pytest.mark.parametrize("kind", list(Helpers))
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_map_raw_blocks_yields_in_order_through_shared_memory(
    tmp_path: Path, workers: int, kind: Helpers
) -> None:
    """Whatever the helpers, and the blocks the reading process does itself (for a
    function given views, in a mapping of its own; a block longer than it, joined)."""
    good = records(4000)
    huge = Record(b"/lustre/scratch118/" + b"h" * 400_000, gid=5)  # longer than a slot
    extra = [r.line() for r in good[2000:3000]] + [huge.line()] + [b"bad one\n"]
    extra += [r.line() for r in good[3000:]]
    path = write_mpistat(tmp_path, "20261120", "118", good[:2000], extra_lines=extra)
    with MpistatReader(InputFile.from_path(path), block_size=1500, max_bad_fraction=0.01) as reader:
        values = list(map_raw_blocks(reader, _lines_and_sizes, workers, helpers_are=kind))
    firsts = [first for first, _, _, _ in values]
    assert firsts == sorted(firsts) and firsts[0] == 1 and len(values) > 100
    assert all(big == [b"x" * 2000, b"y"] for _, _, big, _ in values)
    joined = b"\n".join(data for _, data, _, _ in values if data)
    assert joined + b"\n" == b"".join(r.line() for r in good[:3000]) + huge.line() + b"".join(
        r.line() for r in good[3000:]
    )
    assert max(size for _, _, _, size in values) > 400_000
    assert (reader.lines, reader.bad_lines) == (4003, 1)


def _fails_on_line_one_thousand(
    fmt: object, block: bytes, first_line: int
) -> tuple[int, list[Any]]:
    if first_line > 1000:
        raise ValueError("broken")
    return first_line, []


@pytest.mark.parametrize("threads", [False, True])
def test_map_raw_blocks_reports_a_failing_helper(tmp_path: Path, threads: bool) -> None:
    path = write_mpistat(tmp_path, "20261120", "118", records(3000))
    with MpistatReader(InputFile.from_path(path), block_size=1500) as reader:
        with pytest.raises((RuntimeError, ValueError), match="broken"):
            list(
                map_raw_blocks(
                    reader,
                    _fails_on_line_one_thousand,
                    2,
                    helpers_are=Helpers.THREADS if threads else Helpers.COPYING,
                )
            )


def _larger_than_its_block(fmt: object, block: bytes, first_line: int) -> tuple[bytes, list[Any]]:
    return block * 200, []  # more than a slot holds: sent through the pipe


def test_map_raw_blocks_values_larger_than_a_slot(tmp_path: Path) -> None:
    path = write_mpistat(tmp_path, "20261120", "118", records(2000))
    with MpistatReader(InputFile.from_path(path), block_size=1500) as reader:
        values = list(map_raw_blocks(reader, _larger_than_its_block, 2))
    assert b"".join(v[: len(v) // 200] for v in values) == gzip.decompress(path.read_bytes())
    assert max(map(len, values)) > 1500 + 256 * 1024


def test_bad_line_samples_stay_bounded_and_keep_the_first() -> None:
    """Thousands of blocks with bad lines: only the first few lines are remembered."""
    from humgen_storage.run.line_counts import KEEP_BAD, LineCounts

    total = LineCounts()
    for block in reversed(range(5000)):  # results may arrive out of file order
        part = LineCounts()
        part.add(100, [(block * 100 + n, "bad") for n in range(30)])
        total.absorb(part)
    assert total.bad == 5000 * 30
    assert len(total.samples) == KEEP_BAD
    assert [n for n, _ in total.samples] == list(range(KEEP_BAD))


def test_valid_runs_number_the_lines_after_malformed_ones() -> None:
    lines = [b"%d\n" % n for n in range(1, 11)]  # line n holds n
    block = b"".join(lines)
    assert list(valid_runs(block, 1, [])) == [(1, block)]
    for bad in ([1], [3], [10], [3, 4], [2, 5, 9], [1, 10], list(range(1, 11))):
        valid = b"".join(line for n, line in enumerate(lines, 1) if n not in bad)
        runs = list(valid_runs(valid, 1, [(n, "bad") for n in bad]))
        numbered = [
            (first + offset, line)
            for first, run in runs
            for offset, line in enumerate(run.splitlines(keepends=True))
        ]
        assert numbered == [(int(line), line) for line in lines if int(line) not in bad]
        assert all(run for _, run in runs)
    assert list(valid_runs(b"7\n", 5, [(6, "bad")])) == [(5, b"7\n")]


def test_a_helper_sends_arrays_apart_and_they_arrive_writable() -> None:
    """A partial's numpy columns travel beside its pickle, not in it, and arrive in
    memory of their own that a partial loaded from them may write to."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    columns = {"big": np.arange(100_000, dtype=np.int64)[10:], "small": np.arange(5)}
    item = {"columns": columns, "bytes": b"x" * 100_000}
    sender = threading.Thread(target=Sender(sending, threading.Lock()).put, args=(item,))
    sender.start()  # the pipe holds less than the item: both ends run at once
    got = received(receiving)
    sender.join()
    assert got["bytes"] == item["bytes"]
    for name, values in columns.items():
        assert np.array_equal(got["columns"][name], values)
        got["columns"][name][0] = -1  # writable
