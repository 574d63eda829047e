"""The split job with block workers (issue 7): exactly what one process writes.

Every output file (group files decompressed, index.txt) must be byte-identical
whatever the number of block workers and the block size: many groups, lines of one
group in runs cut by block boundaries, odd path bytes, special prefixes, unsafe
names, gids spelled with leading zeros, both input formats and malformed lines.
"""

from __future__ import annotations

import binascii
import functools
import gzip
import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from humgen_storage.cli import main
from humgen_storage.mpistat.paths import PathDecodeError, go_quote
from humgen_storage.mpistat.patterns import Format, clean_block
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.mpistat.writer import Record
from humgen_storage.names import unsafe_group_name
from humgen_storage.run.record import EXIT_DEGRADED
from humgen_storage.split import job as split_job
from humgen_storage.split.select import GroupSelector
from tests.helpers import base_sections, treeserve_line, write_ini
from tests.split.sites import ODD_NAMES, write_ldif

DAY = "20261120"
PREFIXES = (
    "/lustre/scratch118/vr/projects",  # 30 bytes: a whole number of base64 groups
    "/lustre/scratch118/tol/x",  # 24 bytes
    "/lustre/scratch118/café",  # not ASCII: Go quoting keeps it, base64 cuts it
    "/lustre/scratch119/vr/projects",
)
# (cn, gid, humgen)
GROUPS: tuple[tuple[str, int, bool], ...] = (
    *((f"hum{n:02d}", 3000 + n, True) for n in range(20)),
    *((f"named{n:02d}", 4000 + n, False) for n in range(15)),
    (".hidden", 5001, True),  # selected, unsafe name
    ("bad/name", 5002, False),  # selected under a prefix, unsafe name
)
UNNAMED = (0, 6000, 6001, 6002)  # no posixGroup
SELECTED_GIDS = [gid for _, gid, _ in GROUPS]
HEADS = (
    b"/vr/projects",
    b"/vr/projects/sub",
    b"/vr/projects2",  # not below the prefix: another component
    b"/vr/project",
    b"/tol/x",
    b"/tol/x/y",
    b"/tol/xy",
    b"/caf\xc3\xa9/a",
    b"/cafe/a",
    b"/humgen/teams/t1",
    b"/other",
)


def volume_records(volume: str, seed: int, count: int) -> list[Record]:
    """The root, then ``count`` records in runs of one gid, as a crawler writes them."""
    rng = random.Random(seed)
    root = f"/lustre/scratch{volume}".encode()
    records = [Record(root, 4096, 0, 0, type="d", inode=2)]
    gids = SELECTED_GIDS + list(UNNAMED)
    while len(records) <= count:
        gid = rng.choice(gids)
        head = rng.choice(HEADS)
        for _ in range(rng.choice((1, 1, 2, 3, 5, 8, 20, 60))):
            name = rng.choice(ODD_NAMES) if rng.random() < 0.2 else b"f%d" % len(records)
            path = root + head + (b"" if rng.random() < 0.05 else b"/" + name)
            kind = rng.choice("ffffdl")
            records.append(
                Record(path, rng.randrange(10**9), 7, gid, 1, 2, 3, kind, len(records), 1)
            )
    return records


def zero_padded_gid(line: bytes) -> bytes:
    """The same record with its gid field spelled with a leading zero."""
    fields = line.split(b"\t")
    fields[3] = b"0" + fields[3]
    return b"\t".join(fields)


def undecodable_line(fmt: Format, volume: str) -> bytes:
    """A valid-looking line of a named gid whose path field cannot be decoded, but
    whose raw field may lie under a prefix (so the prefix check looks at it)."""
    path = f"/lustre/scratch{volume}/vr/projects/undecodable".encode()
    if fmt is Format.WRSTAT:
        field = go_quote(path)[:-1] + b'\\ud800"'  # a surrogate: no code point
    else:
        field = binascii.b2a_base64(path, newline=False)[:-1]  # length not a multiple of 4
    line = Record(b"/x", 1, 2, 4001).line(fmt)
    return field + line[line.index(b"\t") :]


def input_lines(fmt: Format, volume: str, seed: int, count: int) -> tuple[list[bytes], int]:
    """The volume's lines with some malformed ones among them; (lines, malformed)."""
    rng = random.Random(seed + 1)
    lines: list[bytes] = []
    bad = 0
    for n, record in enumerate(volume_records(volume, seed, count)):
        line = record.line(fmt)
        if n and rng.random() < 0.03:
            line = zero_padded_gid(line)
        lines.append(line)
        if n and rng.random() < 0.002:
            lines.append(b"not\ta\tvalid\tline\n")
            bad += 1
        if n % 997 == 0 and n:
            lines.append(undecodable_line(fmt, volume))
    return lines, bad


def write_volume(directory: Path, volume: str, lines: Sequence[bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{DAY}_{volume}.dat.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"".join(lines))
    return path


def write_config(tmp_path: Path, volumes: str) -> str:
    sections = base_sections(tmp_path)
    sections["ldap"]["ldif"] = write_ldif(tmp_path / "groups.ldif", GROUPS)
    sections["volumes"]["splitter"] = volumes
    sections["input"] = {"max_bad_fraction": 0.01, "log_bad_lines": 3}
    sections["splitter"]["special_prefixes"] = " ".join(PREFIXES)
    sections["s3"] = {"bucket": "unused", "prefix": "mpistat/"}
    return str(write_ini(tmp_path / "site.ini", sections))


def split(
    config: str,
    output: Path,
    files: Sequence[Path],
    workers: int,
    block_size: int | None,
    mocker: Any,
    by_id: bool = False,
) -> dict[str, bytes]:
    """Run the split; every output file's bytes by name."""
    if block_size is not None:
        mocker.patch.object(
            split_job, "MpistatReader", functools.partial(MpistatReader, block_size=block_size)
        )
    args = ["--config", config, "split", "--no-upload", "--workers", str(workers), "-o"]
    args += [str(output), *(["--id"] if by_id else []), *(str(f) for f in files)]
    # GROUPS holds unsafe names: dropped by the directory, so the run exits 3.
    assert main(args) == EXIT_DEGRADED
    mocker.stopall()
    return {path.name: path.read_bytes() for path in sorted(output.iterdir())}


def decompressed(files: dict[str, bytes]) -> dict[str, bytes]:
    return {
        name: gzip.decompress(data) if name.endswith(".gz") else data
        for name, data in files.items()
    }


def expected_group_files(
    volumes: Sequence[tuple[list[bytes], Format]], by_id: bool
) -> dict[str, bytes]:
    """The rule of spec section 6, applied line by line to the decoded records."""
    # The directory drops names that are not safe (SPEC §11): such a gid is unnamed.
    names = {gid: cn for cn, gid, _ in GROUPS if unsafe_group_name(cn) is None}
    humgen = {gid for _, gid, is_humgen in GROUPS if is_humgen}
    selector = GroupSelector.create(humgen, PREFIXES, by_id=by_id)
    out: dict[str, list[bytes]] = {}
    for lines, fmt in volumes:
        for line in lines:
            fields = line.split(b"\t")
            if len(fields) != len(fmt.field_names):
                continue  # malformed
            gid = int(fields[3])
            route = selector.route(gid, names.get(gid))
            if route.stem is None or route.rule.name == "NEVER":
                continue
            if route.rule.name == "UNDER_PREFIX":
                try:
                    path = fmt.decode_path(fields[0])
                except ValueError:
                    continue
                if not selector.under_special_prefix(path):
                    continue
            out.setdefault(f"{route.stem}.dat.gz", []).append(treeserve_line(fmt, line))
    return {name: b"".join(lines) for name, lines in out.items()}


@pytest.mark.usefixtures("kernel_path")  # on the compiled kernel and the numpy path
@pytest.mark.parametrize("by_id", [False, True])
@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_block_workers_write_exactly_what_one_process_writes(
    tmp_path: Path, mocker: Any, caplog: pytest.LogCaptureFixture, fmt: Format, by_id: bool
) -> None:
    config = write_config(tmp_path, "118")
    lines, bad = input_lines(fmt, "118", seed=11, count=6000)
    assert bad > 3
    f118 = write_volume(tmp_path / "mpistat", "118", lines)

    def warnings() -> list[str]:
        found = [
            r.getMessage()
            for r in caplog.records
            if r.levelno >= logging.WARNING and "malformed" in r.getMessage()
        ]
        caplog.clear()
        return found

    reference = decompressed(split(config, tmp_path / "w1", [f118], 1, None, mocker, by_id))
    reference_warnings = warnings()
    # An undecodable path makes its line malformed, as in every job (spec 11).
    reason = "invalid code point" if fmt is Format.WRSTAT else "undecodable base64 path"
    assert any(reason in w for w in reference_warnings)
    expected = expected_group_files([(lines, fmt)], by_id)
    assert {n: d for n, d in reference.items() if n.endswith(".dat.gz")} == expected
    assert len(expected) > 30
    assert reference["index.txt"].count(b"\n") == len(expected) + 1

    # 2000-byte blocks: hundreds of them, runs of one group cut at every boundary, and
    # blocks parsed by different processes.
    raw: dict[int, dict[str, bytes]] = {}
    for workers, block_size in ((1, 2000), (2, 2000), (3, 2000), (3, 7777)):
        output = tmp_path / f"w{workers}-b{block_size}"
        files = split(config, output, [f118], workers, block_size, mocker, by_id)
        assert decompressed(files) == reference
        assert [w.split(": ", 1)[1] for w in warnings()] == [
            w.split(": ", 1)[1] for w in reference_warnings
        ]
        if block_size == 2000:
            raw[workers] = files
    # With the same blocks, even the compressed bytes do not depend on the workers.
    assert raw[1] == raw[2] == raw[3]


@pytest.mark.usefixtures("kernel_path")
def test_volumes_at_once_each_with_block_workers(tmp_path: Path, mocker: Any) -> None:
    config = write_config(tmp_path, "118 119")
    files = []
    volumes = []
    for volume, fmt, seed in (("118", Format.WRSTAT, 3), ("119", Format.BASE64, 4)):
        lines, _ = input_lines(fmt, volume, seed=seed, count=4000)
        files.append(write_volume(tmp_path / "mpistat", volume, lines))
        volumes.append((lines, fmt))
    reference = decompressed(split(config, tmp_path / "w1", files, 1, None, mocker))
    assert {n: d for n, d in reference.items() if n.endswith(".dat.gz")} == (
        expected_group_files(volumes, by_id=False)
    )
    # 4 workers for 2 volumes: both at once, each with 2 block workers.
    assert decompressed(split(config, tmp_path / "w4", files, 4, 3000, mocker)) == reference


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_lines_under_prefix_agrees_with_decoding_line_by_line(fmt: Format) -> None:
    selector = GroupSelector.create({1}, PREFIXES)
    lines, _ = input_lines(fmt, "118", seed=5, count=3000)
    lines = [line for line in lines if len(line.split(b"\t")) == len(fmt.field_names)]
    if fmt is Format.WRSTAT:
        # Valid fields that do not decode, although they have no escape (empty, NUL)
        # or an escape only after the prefix.
        tail = Record(b"/x", gid=4001).line(fmt)
        tail = tail[tail.index(b"\t") :]
        odd = [
            b'""',
            b'"/lustre/scratch118/vr/projects/nul\x00"',
            rb'"/lustre/scratch118/caf\ud800"',
        ]
        for n, field in enumerate(odd):
            lines.insert(100 * n + 7, field + tail)
    # The matcher is given lines whose path does not decode directly: the jobs' validation
    # (spec 11) would take them out before it.
    data = b"".join(lines)
    assert clean_block(fmt, data, 1)[1]
    # The oracle, one field at a time: skip a base64 field without a prefix's head
    # (as the matcher does, so the undecodable counts compare), else decode and compare.
    heads = selector.matcher(fmt).field_heads
    undecodable = 0

    def under_prefix(path_field: bytes) -> bool:
        nonlocal undecodable
        if heads is not None and not path_field.startswith(heads):
            return False
        try:
            path = fmt.decode_path(path_field)
        except PathDecodeError:
            undecodable += 1
            return False
        return selector.under_special_prefix(path)

    expected = [line[:-1] for line in lines if under_prefix(line[: line.index(b"\t")])]
    assert 50 < len(expected) < len(lines) // 2
    assert undecodable > 0

    whole = selector.matcher(fmt)
    assert whole.lines_under_prefix(data) == expected
    assert whole.undecodable == undecodable

    # the same over ranges starting and ending at line boundaries anywhere
    ranged = selector.matcher(fmt)
    rng = random.Random(2)
    cuts = sorted({0, len(lines), *(rng.randrange(len(lines)) for _ in range(200))})
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    found = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        found += ranged.lines_under_prefix(data, offsets[a], offsets[b])
    assert found == expected
    assert ranged.undecodable == undecodable


def test_no_special_prefixes_selects_nothing_by_path() -> None:
    matcher = GroupSelector.create({1}, ()).matcher(Format.WRSTAT)
    line = Record(b"/lustre/scratch118/vr/projects/x", gid=4000).line(Format.WRSTAT)
    assert matcher.lines_under_prefix(line * 3) == []
