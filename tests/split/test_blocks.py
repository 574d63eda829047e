"""The one-pass check-and-cut that split's block workers use (issue 7): ``field_runs``
gives exactly the lines ``clean_block`` keeps, cut into runs of one gid, and the same
malformed lines; and the counts split takes from a group's lines."""

from __future__ import annotations

import random

import pytest

from humgen_storage.directory import Group, GroupDirectory
from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.patterns import (
    Format,
    clean_block,
    count_lines,
    field_runs,
    record_pattern,
    run_pattern,
)
from humgen_storage.mpistat.writer import Record
from humgen_storage.split.blocks import BlockSplitter, count_directories
from humgen_storage.split.select import GroupSelector, Rule
from tests.helpers import treeserve_line

# Valid numbers the fast pattern leaves to the exact one: 20 digits up to 2**64 - 1,
# 19-digit times up to 2**63 - 1, and a 20-digit number with a leading zero.
WIDE_VALID = (b"18446744073709551615", b"10000000000000000000", b"09999999999999999999")
WIDE_TIME = b"-9223372036854775807"
BAD_LINES = (
    b"not\ta\tvalid\tline",
    b"",
    b"QUJD\t1\t2\t3\t4\t5\t6\tf\t7\t8",  # a field short
    b"QUJD\t1\t2\t3\t4\t5\t6\tf\t7\t8\t9\t10",  # a field too many (base64)
    b"QU!D\t1\t2\t3\t4\t5\t6\tf\t7\t8\t9",  # not base64
    b"QUJD\t1\t2\tx3\t4\t5\t6\tf\t7\t8\t9",  # gid not a number
    b"QUJD\t18446744073709551616\t2\t3\t4\t5\t6\tf\t7\t8\t9",  # 2**64: out of range
    b"QUJD\t1\t2\t3\t9223372036854775808\t5\t6\tf\t7\t8\t9",  # time past 2**63 - 1
    b"QUJD\t1\t2\t3\t4\t5\t6\tq\t7\t8\t9",  # no such type
)


def lines_of(fmt: Format, seed: int, count: int) -> list[bytes]:
    """Valid lines in runs of one gid (some spelled with a leading zero), with wide
    numbers and malformed lines among them."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    while len(lines) < count:
        gid = rng.choice((0, 7, 42, 1000, 65534))
        for _ in range(rng.choice((1, 1, 2, 5, 30))):
            record = Record(
                b"/lustre/scratch118/\t\n\xff/f%d" % len(lines),
                size=rng.randrange(10**12),
                gid=gid,
                mtime=rng.choice((-5, 1_700_000_000)),
                type=rng.choice("fdl"),
                inode=rng.randrange(10**18),
            )
            line = record.line(fmt)
            fields = line.split(b"\t")
            if rng.random() < 0.05:
                fields[3] = b"0" + fields[3]  # another spelling: another run
            if rng.random() < 0.01:
                fields[1] = rng.choice(WIDE_VALID)
            if rng.random() < 0.01:
                fields[5] = WIDE_TIME
            lines.append(b"\t".join(fields))
        if rng.random() < 0.05:
            lines.append(rng.choice(BAD_LINES) + b"\n")
    return lines


def expected_runs(fmt: Format, valid: bytes) -> list[tuple[bytes, bytes]]:
    """The valid lines grouped line by line into runs of the same gid field."""
    runs: list[tuple[bytes, bytes]] = []
    for line in valid.splitlines(keepends=True):
        gid = line.split(b"\t")[3]
        if runs and runs[-1][1] == gid:
            runs[-1] = (runs[-1][0] + line, gid)
        else:
            runs.append((line, gid))
    return runs


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_field_runs_equal_clean_block_then_grouping(fmt: Format) -> None:
    lines = lines_of(fmt, seed=3, count=20000)
    rng = random.Random(4)
    # Blocks of every kind: clean ones (one pass), ones with malformed lines or wide
    # numbers (the fallback), single lines.
    cuts = sorted({0, len(lines), *(rng.randrange(len(lines)) for _ in range(300))})
    fallback = fast = 0
    for start, end in zip(cuts, cuts[1:], strict=False):
        block = b"".join(lines[start:end])
        runs, bad = field_runs(fmt, "gid", block, start + 1)
        valid, expected_bad = clean_block(fmt, block, start + 1)
        assert bad == expected_bad
        assert runs == expected_runs(fmt, valid)
        if run_pattern(fmt, "gid", common=True).fullmatch(block) is None:
            fallback += 1
        else:
            fast += 1
    assert fallback > 20 and fast > 20


def test_field_runs_reports_line_numbers() -> None:
    good = Record(b"/a", gid=5).line()
    block = good + b"bad\n" + good + good + b"\t\n"
    runs, bad = field_runs(Format.BASE64, "gid", block, 100)
    assert [line for line, _ in bad] == [101, 104]
    assert runs == [(good * 3, b"5")]


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_common_pattern_accepts_only_valid_lines(fmt: Format) -> None:
    """The fast pattern may leave valid lines to the exact one, never accept a bad one."""
    exact = record_pattern(fmt, ()).fullmatch
    common = run_pattern(fmt, "gid", common=True).fullmatch
    lines = [line for line in lines_of(fmt, seed=5, count=5000) if line.count(b"\n") == 1]
    numbers = (b"0", b"-1", b"1" * 18, b"9" * 19, b"9" * 20, *WIDE_VALID, WIDE_TIME, b"")
    rng = random.Random(6)
    accepted = 0
    for line in lines:
        fields = line[:-1].split(b"\t")
        if len(fields) == len(fmt.field_names):
            fields[rng.randrange(1, len(fields))] = rng.choice(numbers)
        candidate = b"\t".join(fields)
        if common(candidate + b"\n"):
            accepted += 1
            assert exact(candidate), candidate
    assert accepted > 1000


def test_run_pattern_names_a_field_of_the_format() -> None:
    with pytest.raises(ValueError):
        run_pattern(Format.BASE64, "apparent_size")


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_group_counts(fmt: Format) -> None:
    lines = [line for line in lines_of(fmt, seed=8, count=3000) if line.count(b"\t") >= 10]
    valid, _ = clean_block(fmt, b"".join(lines), 1)
    kinds = [line.split(b"\t")[7] for line in valid.splitlines()]
    assert count_directories(valid) == kinds.count(b"d") == valid.count(b"\td\t") > 100
    assert count_lines(valid) == len(kinds)
    for data in (b"", b"\n", b"\t", b"\td", b"x\td\n", valid[:1], valid[1:]):
        assert count_lines(data) == data.count(b"\n")
        assert count_directories(data) == data.count(b"\td")


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_two_gids_of_one_name_keep_their_lines_in_order(fmt: Format) -> None:
    """A humgen gid (every line) and a named gid (lines under a prefix only) that share a
    name write one file: the splitter cuts its runs into segments of one kind, and
    keeps their order across segments."""
    directory = GroupDirectory(
        {
            7: Group(7, "team", True, None),
            8: Group(8, "team", False, None),
            9: Group(9, "x", False, None),
        }
    )
    selector = GroupSelector.create({7}, ["/lustre/scratch118/vr/projects"])
    rng = random.Random(9)
    lines = []
    for n in range(3000):
        under = rng.random() < 0.5
        path = b"/lustre/scratch118/%s/f%d" % (b"vr/projects" if under else b"other", n)
        gid = rng.choice((7, 7, 8, 8, 8, 9))
        lines.append(Record(path, gid=gid).line(fmt))
    expected = [
        line
        for line in lines
        if (gid := int(line.split(b"\t")[3])) == 7
        or (gid == 8 and b"vr/projects" in fmt.decode_path(line.split(b"\t")[0]))
    ]
    splitter = BlockSplitter(selector, directory, fmt)
    split, bad = splitter(fmt, b"".join(lines), 1)
    assert bad == []
    groups = {splitter.table.stems[n]: (bytes(d), c, dirs) for n, d, c, dirs in split.pieces()}
    data, count, dirs = groups["team"]
    assert data == b"".join(treeserve_line(fmt, line) for line in expected)
    assert count == len(expected) and dirs == 0
    assert sorted(groups) == ["team", "x"]  # x: its lines under the prefix


# Paths whose Go quoting has escapes of every kind, and lengths of every remainder
# modulo 3 (base64 padding).
ESCAPED = (
    b"a",
    b"ab",
    b"abc",
    b't\tn\nq"b\\',
    b"\xff\xfe",
    b"\x01\x7f",
    "é\u2028\U000e0041".encode(),
)
HEADS = (
    b"/lustre/scratch118/vr/projects",  # the prefix itself
    b"/lustre/scratch118/vr/projects/",
    b"/lustre/scratch118/vr/projects2/",  # another component
    b"/lustre/scratch118/vr/project",
    b"/lustre/scratch118/tol/x/",  # configured with a trailing slash
    b"/lustre/scratch118/caf\xc3\xa9/",  # not ASCII
    b"/lustre/scratch118/other/",
)


def selector_and_directory(by_id: bool) -> tuple[GroupSelector, GroupDirectory]:
    """Gids of every kind of route: humgen, named (under a prefix only), humgen and
    named without a file name (counted), two gids of one name with different rules,
    and (in the lines) gids the directory does not know."""
    groups = [
        Group(7, "team", True, None),
        Group(8, "team", False, None),
        Group(9, "named", False, None),
        Group(10, None, True, None, unsafe=True),
        Group(11, ".hidden", False, None),
        Group(12, "hum", True, None),
    ]
    prefixes = [
        "/lustre/scratch118/vr/projects",
        "/lustre/scratch118/tol/x/",
        "/lustre/scratch118/café",
    ]
    directory = GroupDirectory({group.gid: group for group in groups})
    return GroupSelector.create(directory.humgen_gids(), prefixes, by_id=by_id), directory


def routed_lines(fmt: Format, seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    lines: list[bytes] = []
    while len(lines) < count:
        gid = rng.choice((7, 8, 9, 10, 11, 12, 0, 4242, 2**64 - 1))
        for _ in range(rng.choice((1, 1, 2, 5, 30))):
            name = rng.choice(ESCAPED) if rng.random() < 0.3 else b"f%d" % len(lines)
            path = rng.choice(HEADS) + (b"" if rng.random() < 0.1 else name)
            line = Record(path, len(lines), 1, gid, type=rng.choice("fdl")).line(fmt)
            if rng.random() < 0.05:
                line = zero_padded(line)
            lines.append(line)
        if rng.random() < 0.05:
            lines.append(rng.choice(BAD_LINES) + b"\n")
    return lines


def zero_padded(line: bytes) -> bytes:
    fields = line.split(b"\t")
    fields[3] = b"0" + fields[3]
    return b"\t".join(fields)


@pytest.mark.parametrize("by_id", [False, True])
@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_the_kernel_splits_blocks_as_the_numpy_path_does(
    fmt: Format, by_id: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    selector, directory = selector_and_directory(by_id)
    lines = routed_lines(fmt, seed=12, count=6000)
    rng = random.Random(13)
    cuts = sorted({0, len(lines), *(rng.randrange(len(lines)) for _ in range(60))})
    blocks = [b"".join(lines[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    splits = {}
    try:
        for path in (kernel.COMPILED, kernel.NUMPY):
            monkeypatch.setenv(kernel.KERNEL_ENV, path)
            kernel.reset()
            assert kernel.active() == path
            splitter = BlockSplitter(selector, directory, fmt)
            splits[path] = [
                splitter(fmt, block, cut + 1) for block, cut in zip(blocks, cuts, strict=False)
            ]
    finally:
        monkeypatch.delenv(kernel.KERNEL_ENV)
        kernel.reset()
    assert splits[kernel.COMPILED] == splits[kernel.NUMPY]
    every = [split for split, _ in splits[kernel.COMPILED]]
    assert sum(len(bad) for _, bad in splits[kernel.COMPILED]) > 10
    assert all(len(split.groups) >= 2 for split in every if len(split.data) > 10000)
    unsafe = [sum(split.unsafe.get(gid, 0) for split in every) for gid in (10, 11)]
    # Without a file name, counted (11: under a prefix only); with --id, written.
    assert unsafe[0] > 100 and unsafe[1] > 10 if not by_id else unsafe == [0, 0]
    written = b"".join(bytes(d) for split in every for _, d, _, _ in split.pieces())
    expected = b"".join(
        treeserve_line(fmt, line)
        for line in lines
        if record_pattern(fmt, ()).fullmatch(line[:-1]) and selected(selector, directory, fmt, line)
    )
    assert sorted(written.splitlines()) == sorted(expected.splitlines())


def selected(selector: GroupSelector, directory: GroupDirectory, fmt: Format, line: bytes) -> bool:
    """The rule of spec 6, line by line from the decoded path: written to a file."""
    fields = line.split(b"\t")
    gid = int(fields[3])
    route = selector.route(gid, directory.name(gid))
    if route.stem is None or route.rule is Rule.NEVER:
        return False
    return route.rule is Rule.ALWAYS or selector.under_special_prefix(fmt.decode_path(fields[0]))
