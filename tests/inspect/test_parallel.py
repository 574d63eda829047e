"""The inspector's parallel path (mpistat.parallel) gives exactly the single-process rows.

A generated volume of a few thousand records (two MDTs, users/ trees, every file
class, nlink 0, future mtimes, odd bytes in names, directories of other groups, hard
links whose names lie far apart) is read with tiny blocks by 2 and 3 processes, so
that lines, and the names of one inode, fall in blocks parsed by different processes.
"""

from __future__ import annotations

import binascii
import dataclasses
import gzip
import logging
import os
import pickle
import random
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pytest

from humgen_storage.errors import InputError
from humgen_storage.inspect import job as inspect
from humgen_storage.inspect import tables
from humgen_storage.inspect.aggregate import ProjectInspector
from humgen_storage.inspect.results import InspectorRow, InspectorRows
from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.mpistat.writer import Record
from humgen_storage.run.aggregate import aggregate_file

# Every test runs on the compiled kernel and on the numpy path (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("kernel_path")

REF = 1_700_000_000  # the input file's mtime
ROOTS = (
    "lustre/scratch115/realdata/mdt[0-9]/projects",
    "lustre/scratch115/realdata/mdt[0-9]/teams",
)
CLASSES = (
    ("BAM", r"\.(bam|sam)(\.gz)?$"),
    ("CRAM", r"\.cram(\.gz)?$"),
    ("VCF", r"\.(vcf|bcf|gvcf)(\.gz)?$"),
    ("PEDBED", r"\.(ped|bed)(\.gz)?$"),
)
MDTS = (b"/lustre/scratch115/realdata/mdt0", b"/lustre/scratch115/realdata/mdt1")
ELSEWHERE = b"/lustre/scratch115/elsewhere"  # another encoded prefix altogether
ODD = (b"caf\xe9", b"tab\there", b"new\nline", b"back\\slash", b'quo"te', b"sp ace", b"\xff\xfe")
EXTENSIONS = (
    b".bam",
    b".sam.gz",
    b".cram",
    b".cram.gz",
    b".vcf.gz",
    b".g.vcf.gz",
    b".bcf",
    b".ped",
    b".bed.gz",
    b".BAM",  # not a BAM: the patterns are case-sensitive
    b".bam.bai",
    b".txt",
    b"",
)
# The only file under projects/linked is the second name of an inode whose first name
# lies outside every root, thousands of lines earlier: it counts, its bytes do not.
LINKED_OUTSIDE = (MDTS[0] + b"/other/first-name.bam", MDTS[1] + b"/projects/linked/again.bam")
LINKED_SIZE = 7 * 2**30


def directories(rng: random.Random) -> list[bytes]:
    out = []
    for mdt in MDTS:
        for area in (b"projects", b"teams", b"projects_old", b"other"):
            top = mdt + b"/" + area
            out.append(top)
            for name in (b"p0", b"p1", b"p2", b"caf\xe9 \\x", b"new\nline"):
                project = top + b"/" + name
                users = project + b"/" + rng.choice((b"users", b"Users", b"USERS"))
                out += [
                    project,
                    project + b"/seq",
                    project + b"/seq/deep",
                    project + b"/seq/deep/er",
                    project + b"/tab\tdir",
                    users,
                    users + b"/alice",
                    users + b"/bob",
                    users + b"/bob/x\xff",
                ]
    return out + [ELSEWHERE, ELSEWHERE + b"/d"]


def generate(seed: int = 5, files: int = 3000) -> list[Record]:
    """Records of one volume, in file order (keys sort them: base order, then moved names)."""
    rng = random.Random(seed)
    dirs = directories(rng)
    order = dirs + [MDTS[1] + b"/projects/linked"]  # no other file goes there
    rng.shuffle(order)  # a parallel crawler's order: children may come before parents
    keyed: list[tuple[float, Record]] = [
        (0, Record(b"/lustre/scratch115", 4096, 0, 0, REF, REF - 86400, REF, "d", 1, 2, 1))
    ]
    next_inode = 100
    position = 1

    def add(record: Record) -> None:
        nonlocal position
        keyed.append((position, record))
        position += 1

    pending_dirs = iter(order)
    for i in range(files):
        if i % 12 == 0:
            directory = next(pending_dirs, None)
            if directory is not None:
                gid = rng.choice((1001, 1002, 1003, 2000 + i))  # often another group's
                mtime = REF - rng.randrange(86400 * 400) + (86400 if i % 60 == 0 else 0)
                add(Record(directory, 4096, 7, gid, REF, mtime, REF, "d", next_inode, 3, 1))
                next_inode += 1
        if i == 40:
            path, later = LINKED_OUTSIDE
            inode, next_inode = next_inode, next_inode + 1
            add(Record(path, LINKED_SIZE, 1, 1001, REF, REF - 5000, REF, "f", inode, 2, 2))
            keyed.append(
                (
                    position + 2500.5,
                    Record(later, LINKED_SIZE, 1, 1001, REF, REF - 7000, REF, "f", inode, 2, 2),
                )
            )
            continue
        directory = rng.choice(dirs)
        name = b"f%d" % i
        if rng.random() < 0.1:
            name += rng.choice(ODD)
        name += rng.choice(EXTENSIONS)
        kind = "f" if rng.random() < 0.95 else rng.choice("lsbcFXd")
        size = rng.choice((0, rng.randrange(1, 4096), rng.randrange(10**6, 10**12)))
        mtime = REF - rng.randrange(86400 * 1000)
        if rng.random() < 0.03:
            mtime = REF + rng.randrange(1, 86400 * 30)  # in the future: ignored
        nlink = 1
        draw = rng.random()
        if draw < 0.04:
            nlink = 0  # deleted mid-crawl
        elif draw < 0.12 and kind == "f":
            nlink = rng.choice((2, 3))
        dev = rng.choice((1, 2))
        inode, next_inode = next_inode, next_inode + 1
        if nlink > 1 and rng.random() < 0.2:
            inode = (
                100  # the same number on another device is another file (and 100 is a directory)
            )
        record = Record(
            directory + b"/" + name, size, 1, 1001, REF, mtime, REF, kind, inode, nlink, dev
        )
        add(record)
        for _ in range(nlink - 1 if kind == "f" else 0):
            # Another name of the inode: nearby, or far away (other blocks, other workers).
            distance = rng.choice((1, rng.randrange(2, 30), rng.randrange(30, 3000)))
            other = rng.choice(dirs) + b"/link%d-%d" % (i, distance) + rng.choice(EXTENSIONS)
            mtime = REF - rng.randrange(86400 * 1000)
            keyed.append(
                (
                    position - 1 + distance + 0.5,
                    Record(other, size, 1, 1001, REF, mtime, REF, "f", inode, nlink, dev),
                )
            )
    keyed.sort(key=lambda item: item[0])
    return [record for _, record in keyed]


def write(
    tmp_path: Path, records: list[Record], fmt: Format, extra: dict[int, bytes] | None = None
) -> Path:
    """``<tmp>/20261120_115.dat.gz``; ``extra`` puts raw lines before the record at an index."""
    lines = [record.line(fmt) for record in records]
    for index, line in sorted((extra or {}).items(), reverse=True):
        lines.insert(index, line)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "20261120_115.dat.gz"
    path.write_bytes(gzip.compress(b"".join(lines), compresslevel=1))
    os.utime(path, (REF, REF))
    return path


def with_nlink(record: Record, fmt: Format, nlink: bytes) -> bytes:
    """The record's line with its nlink field written as given (e.g. b"01")."""
    fields = record.line(fmt).rstrip(b"\n").split(b"\t")
    fields[9] = nlink
    return b"\t".join(fields) + b"\n"


def inspect_file(
    path: Path,
    workers: int,
    block_size: int,
    depth: int = 2,
    only_under: tuple[bytes, ...] = (),
) -> tuple[InspectorRows, int, ProjectInspector]:
    with MpistatReader(InputFile.from_path(path), block_size=block_size) as reader:
        make = partial(
            ProjectInspector,
            ROOTS,
            CLASSES,
            reader.mtime,
            reader.format,
            depth=depth,
            only_under=only_under,
        )
        inspector = aggregate_file(reader, make, workers=workers)
    return inspector.finish(), reader.lines, inspector


def inspect_by_records(
    path: Path, depth: int = 2, only_under: tuple[bytes, ...] = ()
) -> InspectorRows:
    """The sequential reference: one record at a time, each line its own block, in
    file order, in one process (every record's state carries across calls)."""
    with MpistatReader(InputFile.from_path(path), block_size=1500) as reader:
        inspector = ProjectInspector(
            ROOTS, CLASSES, reader.mtime, reader.format, depth=depth, only_under=only_under
        )
        for first_line, block in reader.blocks():
            for offset, line in enumerate(block.split(b"\n")[:-1]):
                inspector.add_block(reader.format, line + b"\n", first_line + offset)
    return inspector.finish()


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return generate()


def by_path(rows: Sequence[InspectorRow]) -> dict[bytes, InspectorRow]:
    return {b"/".join(row.short_path): row for row in rows}


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_rows_equal_single_process_rows(
    tmp_path: Path, records: list[Record], fmt: Format, workers: int
) -> None:
    plain = next(i for i, r in enumerate(records) if i > 400 and r.type == "f" and r.nlink == 1)
    extra = {plain: with_nlink(records[plain], fmt, b"01")}  # nlink 1, spelt oddly
    path = write(tmp_path, records, fmt, extra)
    single, lines1, _ = inspect_file(path, 1, 1 << 20)
    # 2000-byte blocks: about a dozen lines each, hundreds of blocks over the processes.
    parallel, lines2, inspector = inspect_file(path, workers, 2000)
    assert parallel == single
    assert lines1 == lines2 == len(records) + 1
    assert inspect_by_records(path) == single
    assert len(single) > 50
    assert inspector.undecodable.count == 0

    rows = by_path(single)
    # The first name outside the roots took the bytes: the second name is only counted.
    linked = rows[b"projects/linked"]
    assert (linked.files, linked.total_bytes) == (1, 0)
    # Hard-linked bytes are counted once: at most the sum of all distinct inodes' sizes.
    assert sum(row.total_bytes for row in single if len(row.short_path) == 1) > 0
    assert {row.gid for row in single if row.gid is not None} & {1001, 1002, 1003}


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_parallel_rows_at_other_depths(tmp_path: Path, records: list[Record], depth: int) -> None:
    path = write(tmp_path, records, Format.BASE64)
    single, _, _ = inspect_file(path, 1, 1 << 20, depth=depth)
    parallel, _, _ = inspect_file(path, 3, 2000, depth=depth)
    assert parallel == single == inspect_by_records(path, depth=depth)


def test_parallel_path_query_equals_full_run(tmp_path: Path, records: list[Record]) -> None:
    path = write(tmp_path, records, Format.BASE64)
    full = by_path(inspect_file(path, 1, 1 << 20)[0])
    project = (b"projects", b"p1")
    query, _, _ = inspect_file(path, 3, 2000, only_under=project)
    assert query == inspect_by_records(path, only_under=project)
    below = [row for row in query if row.short_path[:2] == project]
    assert below
    for row in below:
        assert row == full[b"/".join(row.short_path)]


def blocks_of(path: Path, block_size: int) -> tuple[Format, float, list[tuple[int, bytes]]]:
    with MpistatReader(InputFile.from_path(path), block_size=block_size) as reader:
        return reader.format, reader.mtime, list(reader.blocks())


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_partials_merge_exactly_in_any_order(
    tmp_path: Path, records: list[Record], fmt: Format
) -> None:
    # Deterministic spreads of the blocks over partials, merged in different orders.
    path = write(tmp_path, records, fmt)
    fmt, mtime, blocks = blocks_of(path, 1000)
    expected = inspect_by_records(path)

    def new() -> ProjectInspector:
        return ProjectInspector(ROOTS, CLASSES, mtime, fmt)

    for spread in (2, 3, 5):
        partials = [new() for _ in range(spread)]
        for index, (first_line, block) in enumerate(blocks):
            partials[(index * 7) % spread].add_block(fmt, block, first_line)
        forward = new()
        for partial_ in partials:
            forward.merge(partial_)
        assert forward.finish() == expected
        backward = partials[-1]
        for partial_ in reversed(partials[:-1]):
            backward.merge(partial_)
        assert backward.finish() == expected
    # Blocks added out of file order to one partial: order keys still decide.
    shuffled = new()
    for first_line, block in reversed(blocks):
        shuffled.add_block(fmt, block, first_line)
    assert shuffled.finish() == expected


@pytest.mark.parametrize("workers", [1, 3])
def test_link_table_merged_a_few_names_at_a_time(
    tmp_path: Path, records: list[Record], monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    # The link table takes names in batches; batches of 5 (rather than thousands)
    # merge hundreds of times, within each process and again when partials merge.
    path = write(tmp_path, records, Format.BASE64)
    expected = inspect_by_records(path)
    monkeypatch.setattr(tables, "_PENDING_NAMES", 5)
    monkeypatch.setattr(tables, "_MOVED_AT_ONCE", 3)
    assert inspect_file(path, workers, 300)[0] == expected
    assert inspect_by_records(path) == expected


def test_hard_link_bytes_go_to_the_first_name_across_partials() -> None:
    projects = MDTS[0] + b"/projects"
    lines = [
        Record(projects + b"/a/one.bam", 10, 1, 1, 0, 1, 0, "f", 9, 2, 1),
        Record(projects + b"/b/two.bam", 10, 1, 1, 0, 1, 0, "f", 9, 2, 1),
    ]
    early = ProjectInspector(ROOTS, CLASSES, REF, Format.BASE64)
    late = ProjectInspector(ROOTS, CLASSES, REF, Format.BASE64)
    early.add_block(Format.BASE64, lines[0].line(), 5)
    late.add_block(Format.BASE64, lines[1].line(), 900)
    late.merge(early)  # the later name's partial absorbs the earlier one's
    rows = by_path(late.finish())
    assert (rows[b"projects/a"].files, rows[b"projects/a"].total_bytes) == (1, 10)
    assert (rows[b"projects/b"].files, rows[b"projects/b"].total_bytes) == (1, 0)
    assert rows[b"projects/a"].class_bytes["BAM"] == 10


def test_row_gid_is_the_first_directory_record_across_partials() -> None:
    first = Record(MDTS[1] + b"/projects/p", 4096, 0, 1111, 0, 1, 0, "d", 3, 2, 1)
    second = Record(MDTS[0] + b"/projects/p", 4096, 0, 2222, 0, 1, 0, "d", 4, 2, 1)
    early = ProjectInspector(ROOTS, CLASSES, REF, Format.BASE64)
    late = ProjectInspector(ROOTS, CLASSES, REF, Format.BASE64)
    early.add_block(Format.BASE64, first.line(), 10)
    late.add_block(Format.BASE64, second.line(), 11)
    late.merge(early)
    assert by_path(late.finish())[b"projects/p"].gid == 1111


def undecodable_line(records: list[Record]) -> bytes:
    """Base64 characters under a root's prefix that no padding can fix: the reader's
    pattern refuses them, as every job's does; each counts as a malformed line."""
    directory = MDTS[0] + b"/projects/p0/"
    good = records[1].line(Format.BASE64)
    prefix = binascii.b2a_base64(directory[: len(directory) // 3 * 3], newline=False)
    return prefix + b"QQ" + good[good.index(b"\t") :]


def volume_task(path: Path, log_bad_lines: int, workers: int) -> inspect.VolumeTask:
    return inspect.VolumeTask(
        source=InputFile.from_path(path),
        roots=ROOTS,
        file_classes=CLASSES,
        depth=2,
        max_bad_fraction=0.01,
        log_bad_lines=log_bad_lines,
        block_workers=workers,
    )


def test_undecodable_paths_are_counted_and_logged_with_their_lines(
    tmp_path: Path, records: list[Record], caplog: pytest.LogCaptureFixture
) -> None:
    bad = undecodable_line(records)
    extra = {index: bad for index in (100, 1500, 2900)}
    path = write(tmp_path, records, Format.BASE64, extra)
    task = volume_task(path, log_bad_lines=2, workers=3)
    caplog.set_level(logging.INFO)
    inspection = inspect.inspect_volume(task)
    skipped = [
        r.getMessage()
        for r in caplog.records
        if "malformed, skipped: undecodable base64 path" in r.getMessage()
    ]
    # The line numbers are exact (1-based).
    assert [message.split(": malformed")[0].rsplit(" ", 1)[1] for message in skipped] == [
        "101",
        "1502",
    ]
    single = inspect_file(write(tmp_path / "clean", records, Format.BASE64), 1, 1 << 20)[0]
    assert inspection.rows == single  # the skipped lines add nothing

    strict = dataclasses.replace(task, max_bad_fraction=0.0005)
    with pytest.raises(InputError, match=r"3 of \d+ lines are malformed"):
        inspect.inspect_volume(strict)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_undecodable_path_after_malformed_lines_is_logged_with_its_own_line(
    tmp_path: Path, records: list[Record], caplog: pytest.LogCaptureFixture, workers: int
) -> None:
    # Two malformed lines, then the undecodable path, all in the same block.
    extra = {50: b"bad\n", 55: b"bad\n", 60: undecodable_line(records)}
    path = write(tmp_path, records, Format.BASE64, extra)
    task = volume_task(path, log_bad_lines=5, workers=workers)
    caplog.set_level(logging.INFO)
    inspect.inspect_volume(task)
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{path} line 51: malformed" in m for m in messages)
    assert any(f"{path} line 57: malformed" in m for m in messages)
    assert any(
        f"{path} line 63: malformed, skipped: undecodable base64 path" in m for m in messages
    )


def test_partial_is_picklable_after_blocks(tmp_path: Path, records: list[Record]) -> None:
    path = write(tmp_path, records, Format.WRSTAT)
    fmt, mtime, blocks = blocks_of(path, 4000)
    inspector = ProjectInspector(ROOTS, CLASSES, mtime, fmt)
    for first_line, block in blocks[:20]:
        inspector.add_block(fmt, block, first_line)
    copy = pickle.loads(pickle.dumps(inspector))
    assert copy.finish() == inspector.finish()


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_numbers_too_wide_for_int64_and_negative_mtimes(tmp_path: Path, fmt: Format) -> None:
    projects = MDTS[0] + b"/projects"
    # The largest inode (20 digits, beyond int64) and the largest size (off_t, 19 digits)
    huge_inode, huge_size = 2**64 - 1, 2**63 - 1
    records = [
        Record(b"/lustre/scratch115", 4096, 0, 0, 0, REF, 0, "d", 1, 2, 1),
        Record(projects + b"/old/a.bam", huge_size, 0, 1, 0, -86400, 0, "f", 5, 1, 1),
        Record(projects + b"/new/b.cram", 3, 0, 1, 0, REF - 10, 0, "f", huge_inode, 2, 2**40),
        Record(projects + b"/old/c.cram", 3, 0, 1, 0, -1, 0, "f", huge_inode, 2, 2**40),
        Record(projects + b"/old", 4096, 0, 2**40, 0, -2 * 86400, 0, "d", 7, 2, 1),
    ]
    path = write(tmp_path, records, fmt)
    single = inspect_file(path, 1, 1 << 20)[0]
    assert inspect_file(path, 2, 100)[0] == single == inspect_by_records(path)
    rows = by_path(single)
    assert rows[b"projects/old"].total_bytes == huge_size
    assert rows[b"projects/old"].files == 2
    assert rows[b"projects/old"].gid == 2**40
    assert rows[b"projects/old"].last_modified_days == round((REF + 1) / 86400, 1)
    assert rows[b"projects/new"].total_bytes == 3
