"""The split job end to end (spec section 6): group files byte for byte, selection,
unsafe names, bounded open files and memory, index.txt, the build directory."""

from __future__ import annotations

import functools
import gzip
import os
import re
import shutil
import subprocess
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.mpistat.writer import Record
from humgen_storage.run.record import EXIT_DEGRADED
from humgen_storage.split import groupfiles
from humgen_storage.split import job as split_job
from humgen_storage.split.groupfiles import GroupPartWriter
from humgen_storage.split.index import index_row
from tests.helpers import default_index_constants, write_mpistat
from tests.split.sites import DAY, GROUPS, ODD_NAMES, UNSAFE_GROUPS, make_site, root

INDEX_HEADER = "Group\tBuild time (sec)\tMemory use (bytes)"


def records_118() -> list[Record]:
    base = b"/lustre/scratch118/humgen"
    records = [root("118"), Record(base + b"/hgi", 4096, 1, 1001, type="d", inode=3)]
    for n, name in enumerate(ODD_NAMES):
        gid = (1001, 1002, 4242, 1006)[n % 4]
        records.append(Record(base + b"/mixed/" + name, 100 + n, 1, gid, 1, 2, 3, "f", 10 + n))
        records.append(Record(base + b"/hgi/" + name, n, 1, 1001, 4, 5, 6, "f", 100 + n))
    records.append(Record(base + b"/team113/dir", 4096, 2, 1002, type="d", inode=500))
    records.append(
        Record(base + b"/team113/dir/x.cram", 2**40, 2, 1002, type="f", inode=501, nlink=0)
    )
    return records


def records_119() -> list[Record]:
    base = b"/lustre/scratch119/realdata"
    records = [root("119")]
    for n, name in enumerate(reversed(ODD_NAMES)):
        records.append(
            Record(base + b"/" + name, n, 7, (1002, 1001, 1003)[n % 3], type="fdl"[n % 3], inode=n)
        )
    return records


def expected_lines(volumes: Sequence[tuple[list[Record], Format]], gid: int) -> bytes:
    """What a group file must hold: its records' lines, volume by volume, in input order,
    in TreeServe's format: a base64 line as read, a wrstat line as the base64 line of
    the same record."""
    return b"".join(
        r.line(Format.BASE64) for records, _ in volumes for r in records if r.gid == gid
    )


def index_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == INDEX_HEADER
    return lines[1:]


def leftovers(output_dir: Path) -> list[str]:
    return sorted(p.name for p in output_dir.iterdir()) if output_dir.exists() else []


# ------------------------------------------------------------------ byte for byte


@pytest.mark.parametrize(
    "fmt_118, fmt_119, workers",
    [
        (Format.BASE64, Format.BASE64, 1),
        (Format.WRSTAT, Format.WRSTAT, 2),  # also through the process pool
        (Format.BASE64, Format.WRSTAT, 1),
    ],
)
def test_group_files_hold_the_input_lines_byte_for_byte(
    tmp_path: Path, fmt_118: Format, fmt_119: Format, workers: int
) -> None:
    site = make_site(tmp_path, workers=workers)
    volumes = [(records_118(), fmt_118), (records_119(), fmt_119)]
    files = [
        write_mpistat(site.mpistat, DAY, v, recs, fmt)
        for v, (recs, fmt) in zip(("118", "119"), volumes, strict=True)
    ]

    assert site.split("--no-upload", *files) == 0

    names = sorted(p.name for p in site.dated.iterdir())
    assert names == ["groupfile", "hgi.dat.gz", "index.txt", "passwdfile", "team113.dat.gz"]
    for name, gid in (("hgi", 1001), ("team113", 1002)):
        data = (site.dated / f"{name}.dat.gz").read_bytes()
        assert gzip.decompress(data) == expected_lines(volumes, gid)
    # nothing but the finished directory is left next to it
    assert leftovers(site.output_dir) == [DAY]


def test_one_group_across_two_volumes_is_in_volume_order(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    a = [
        root("118"),
        Record(b"/lustre/scratch118/a1", gid=1001),
        Record(b"/lustre/scratch118/a2", gid=1001),
    ]
    b = [root("119"), Record(b"/lustre/scratch119/b1", gid=1001)]
    # given in the "wrong" order on the command line: the configured volume order still
    # decides, as the files are joined in the order of the input set
    f118 = write_mpistat(site.mpistat, DAY, "118", a)
    f119 = write_mpistat(site.mpistat, DAY, "119", b)
    assert site.split("--no-upload", f118, f119) == 0
    assert gzip.decompress((site.dated / "hgi.dat.gz").read_bytes()) == b"".join(
        r.line() for r in a[1:] + b[1:]
    )


def test_index_rows_for_the_groups(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    volumes = [(records_118(), Format.BASE64), (records_119(), Format.BASE64)]
    files = [
        write_mpistat(site.mpistat, DAY, v, recs)
        for v, (recs, _) in zip(("118", "119"), volumes, strict=True)
    ]
    assert site.split("--no-upload", *files) == 0
    rows = index_lines(site.dated / "index.txt")
    every = [r for recs, _ in volumes for r in recs]
    expected = []
    for name, gid in (("hgi", 1001), ("team113", 1002)):
        mine = [r for r in every if r.gid == gid]
        dirs = sum(r.type == "d" for r in mine)
        expected.append(
            index_row(name, len(mine), dirs, default_index_constants()).line().rstrip("\n")
        )
    assert rows == expected
    # and by hand for team113: 4 + 3 lines, 1 directory (14 %): 8000 bytes per node
    assert rows[1] == "team113\t100.00063636363636\t416000"  # 7 / 11000 + 100; (2 + 50) * 8000


def test_getent_files(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    f118 = write_mpistat(site.mpistat, DAY, "118", [root("118")])
    assert site.split("--no-upload", f118) == 0
    groups = (site.dated / "groupfile").read_bytes().splitlines()
    users = (site.dated / "passwdfile").read_bytes().splitlines()
    assert any(line.startswith(b"root:x:0:") for line in groups)
    assert any(line.startswith(b"root:x:0:0:") for line in users)
    getent = shutil.which("getent")
    if getent:  # the same lines as getent prints, but the password field is always x
        for database, ours in (("group", groups), ("passwd", users)):
            theirs = subprocess.run(
                [getent, database], capture_output=True, check=True
            ).stdout.splitlines()
            assert ours == [re.sub(rb"^([^:]*):[^:]*:", rb"\1:x:", line) for line in theirs]
    assert all(re.fullmatch(rb"[^:\n]*:x:\d+:[^:\n]*", line) for line in groups)
    assert all(re.fullmatch(rb"[^:\n]*:x:\d+:\d+:[^:\n]*:[^:\n]*:[^:\n]*", line) for line in users)
    # only the index header: no record of a selected group
    assert index_lines(site.dated / "index.txt") == []


# ------------------------------------------------------------------ selection


def test_special_prefixes_whole_components_and_named_gids(
    tmp_path: Path, mocker: Any, kernel_path: str
) -> None:
    site = make_site(
        tmp_path,
        splitter={
            "special_prefixes": "/lustre/scratch116/vr/projects /lustre/scratch116/tol/projects"
        },
        volumes="116",
    )
    base = b"/lustre/scratch116"
    records = [
        root("116"),
        Record(base + b"/vr/projects", gid=1003, type="d"),  # the prefix itself
        Record(base + b"/vr/projects/x\ty", gid=1003),  # below it
        Record(base + b"/vr/projects2/x", gid=1003),  # NOT below: another component
        Record(base + b"/vr/projects/y", gid=4242),  # no posixGroup: skipped
        Record(base + b"/vr/projects/z", gid=1006),  # another named group
        Record(base + b"/tol/projects/q", gid=1003),  # the second prefix
        Record(base + b"/other/a", gid=1006),  # named, elsewhere: skipped
        Record(base + b"/other/b", gid=1001),  # humgen: anywhere
    ]
    spy = mocker.spy(Format, "decode_path")
    f116 = write_mpistat(site.mpistat, DAY, "116", records)
    assert site.split("--no-upload", f116) == 0

    files = {p.name: p for p in site.dated.glob("*.dat.gz")}
    assert sorted(files) == ["hgi.dat.gz", "users.dat.gz", "vr-projects.dat.gz"]

    def content(name: str) -> bytes:
        return gzip.decompress(files[name].read_bytes())

    assert content("vr-projects.dat.gz") == b"".join(records[i].line() for i in (1, 2, 6))
    assert content("users.dat.gz") == records[5].line()
    assert content("hgi.dat.gz") == records[8].line()
    # On the numpy path, paths are only decoded for named, non-humgen gids, and only
    # when their raw field can start with a prefix: never for humgen records, nor for
    # gids without a posixGroup (root's gid 0, and 4242 although it is under the
    # prefix), nor for /other/a (gid 1006). The compiled kernel decodes in C: only the
    # reader's check of the root is left.
    assert spy.call_count == (6 if kernel_path == kernel.NUMPY else 1)


def test_unsafe_group_names_are_skipped_with_a_warning_and_written_with_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = make_site(tmp_path, GROUPS + UNSAFE_GROUPS)
    records = [
        root("118"),
        Record(b"/lustre/scratch118/a", gid=2001),
        Record(b"/lustre/scratch118/b", gid=2002, type="d"),
        Record(b"/lustre/scratch118/c", gid=1001),
        Record(b"/lustre/scratch118/d", gid=2001),
    ]
    f118 = write_mpistat(site.mpistat, DAY, "118", records)
    assert site.split("--no-upload", f118) == EXIT_DEGRADED
    assert sorted(p.name for p in site.dated.glob("*.dat.gz")) == ["hgi.dat.gz"]
    assert [row.split("\t")[0] for row in index_lines(site.dated / "index.txt")] == ["hgi"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any('group name ".hidden"' in w and "gid 2001" in w for w in warnings), warnings
    assert any("gid 2001" in w and "2 records" in w and "--id" in w for w in warnings), warnings
    assert any("gid 2002" in w and "1 records" in w for w in warnings), warnings

    by_id = tmp_path / "by-id"
    # --id writes every record, but the directory still holds unsafe names: exit 3.
    assert site.split("--no-upload", "--id", "-o", by_id, f118) == EXIT_DEGRADED
    assert sorted(p.name for p in by_id.glob("*.dat.gz")) == [
        "1001.dat.gz",
        "2001.dat.gz",
        "2002.dat.gz",
    ]
    assert (
        gzip.decompress((by_id / "2001.dat.gz").read_bytes())
        == records[1].line() + records[4].line()
    )
    assert gzip.decompress((by_id / "2002.dat.gz").read_bytes()) == records[2].line()
    assert [row.split("\t")[0] for row in index_lines(by_id / "index.txt")] == [
        "1001",
        "2001",
        "2002",
    ]


# ------------------------------------------------------------------ bounded resources


def _count_open_parts(mocker: Any) -> dict[str, int]:
    """Wrap the part opener: how many parts are open at once, and process fds."""
    real = groupfiles.open_part_file
    state = {"open": 0, "max_open": 0, "opens": 0, "max_fds": 0, "max_output_fds": 0}

    def counting(path: Path) -> Any:
        stream = real(path)
        state["opens"] += 1
        state["open"] += 1
        state["max_open"] = max(state["max_open"], state["open"])
        fds = os.listdir("/proc/self/fd")
        state["max_fds"] = max(state["max_fds"], len(fds))
        outputs = 0
        for fd in fds:
            try:
                outputs += ".building-" in os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                pass  # the directory listing's own descriptor, already closed
        state["max_output_fds"] = max(state["max_output_fds"], outputs)
        close = stream.close

        def counted_close() -> None:
            close()
            state["open"] -= 1

        stream.close = counted_close  # type: ignore[method-assign]
        return stream

    mocker.patch.object(groupfiles, "open_part_file", counting)
    return state


def test_more_groups_than_open_files(tmp_path: Path, mocker: Any) -> None:
    many = [(f"g{n:02d}", 3000 + n, True) for n in range(30)]
    site = make_site(
        tmp_path,
        groups=many,
        splitter={"max_open_files": 4, "group_flush_bytes": 4096, "buffer_bytes": 2**20},
    )
    volumes = []
    for volume in ("118", "119"):
        records = [root(volume)]
        for n in range(6_000):
            records.append(
                Record(f"/lustre/scratch{volume}/{'p' * 150}/{n}".encode(), n, 1, 3000 + n % 30)
            )
        volumes.append((records, Format.BASE64))
    files = [
        write_mpistat(site.mpistat, DAY, v, recs)
        for v, (recs, _) in zip(("118", "119"), volumes, strict=True)
    ]
    state = _count_open_parts(mocker)
    # Small read blocks: groups are flushed (a gzip member each), evicted and reopened
    # many times, as with a real volume of many 4 MiB blocks.
    mocker.patch.object(
        split_job, "MpistatReader", functools.partial(MpistatReader, block_size=64 * 1024)
    )
    baseline = len(os.listdir("/proc/self/fd"))

    assert site.split("--no-upload", *files) == 0

    assert state["max_open"] <= 4
    assert state["opens"] > 2 * 30  # streams were closed and parts reopened
    # every descriptor of the process: the output files plus a small constant
    # (the input file, the job lock, the progress counter's shared memory, the pipes
    # of the block pipeline's two queues)
    assert state["max_output_fds"] <= 4
    assert state["max_fds"] - baseline <= 4 + 4 + 4
    assert len(list(site.dated.glob("*.dat.gz"))) == 30
    for name, gid in (("g00", 3000), ("g17", 3017), ("g29", 3029)):
        data = (site.dated / f"{name}.dat.gz").read_bytes()
        assert gzip.decompress(data) == expected_lines(volumes, gid)
        assert _gzip_members(data) > 2


def _gzip_members(data: bytes) -> int:
    members = 0
    while data:
        decompressor = zlib.decompressobj(wbits=31)
        decompressor.decompress(data)
        data = decompressor.unused_data
        members += 1
    return members


def test_part_writer_bounds_memory_and_open_files(tmp_path: Path, mocker: Any) -> None:
    state = _count_open_parts(mocker)
    writer = GroupPartWriter(
        tmp_path / "parts",
        max_open_files=3,
        compress_level=1,
        buffer_bytes=64 * 1024,
        group_flush_bytes=32 * 1024,
    )
    expected: dict[str, list[bytes]] = {}
    slots = [writer.slot(f"g{n}") for n in range(20)]
    for block in range(60):
        lines_by_slot = {}
        for slot in slots:
            lines = [b"x" * 90 + b" %d %d" % (block, slot) for _ in range(30)]  # ~3 KiB per group
            lines_by_slot[slot] = lines
            expected.setdefault(f"g{slot}", []).extend(lines)
        writer.add_joined(
            (slot, b"".join(line + b"\n" for line in lines), len(lines), 0)
            for slot, lines in lines_by_slot.items()
        )
        # the buffers never hold more than the budget, whatever the input size
        assert writer.buffered_bytes <= writer.buffer_bytes <= 64 * 1024
    parts = writer.close()
    assert state["max_open"] <= 3 and state["open"] == 0
    for stem, part in parts.items():
        assert gzip.decompress(part.path.read_bytes()) == b"".join(
            line + b"\n" for line in expected[stem]
        )
        assert part.lines == 60 * 30


# ------------------------------------------------------------------ failures and the build directory


def test_truncated_volume_fails_leaves_nothing_and_uploads_nothing(
    tmp_path: Path, s3_proxy_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = s3_proxy_factory(0)
    site = make_site(tmp_path, s3={"endpoint_url": proxy.url})
    f118 = write_mpistat(site.mpistat, DAY, "118", records_118())
    f119 = write_mpistat(site.mpistat, DAY, "119", records_119() * 50)
    f119.write_bytes(f119.read_bytes()[:-30])  # cut the end: truncated gzip stream

    assert site.split(f118, f119) == 1

    assert leftovers(site.output_dir) == []  # no dated directory, no half-built one
    assert proxy.requests == []
    err = capsys.readouterr().err
    assert f"{f119}: truncated gzip stream" in err or f"{f119}: corrupt gzip stream" in err
    assert "Traceback" not in err


def test_rerun_replaces_a_previous_output(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    first = [
        root("118"),
        Record(b"/lustre/scratch118/a", gid=1001),
        Record(b"/lustre/scratch118/b", gid=1002),
    ]
    f118 = write_mpistat(site.mpistat, DAY, "118", first)
    assert site.split("--no-upload", f118) == 0
    assert (site.dated / "team113.dat.gz").exists()
    second = first[:2]
    write_mpistat(site.mpistat, DAY, "118", second)
    assert site.split("--no-upload", f118) == 0
    assert sorted(p.name for p in site.dated.glob("*.dat.gz")) == ["hgi.dat.gz"]
    assert leftovers(site.output_dir) == [DAY]


def test_output_dir_that_is_not_a_split_output_is_not_replaced(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    f118 = write_mpistat(
        site.mpistat, DAY, "118", [root("118"), Record(b"/lustre/scratch118/a", gid=1001)]
    )
    assert site.split("--no-upload", "-o", precious, f118) == 1
    assert sorted(p.name for p in precious.iterdir()) == ["thesis.tex"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".precious")) == []


def test_crashed_build_leftovers_are_removed(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    crashed = site.output_dir / f".{DAY}.building-deadbeef"
    (crashed / ".parts" / "118").mkdir(parents=True)
    f118 = write_mpistat(
        site.mpistat, DAY, "118", [root("118"), Record(b"/lustre/scratch118/a", gid=1001)]
    )
    assert site.split("--no-upload", f118) == 0
    assert leftovers(site.output_dir) == [DAY]
