"""BlockColumns: numeric fields cut from a clean block with numpy, exactly."""

from __future__ import annotations

import random

import numpy as np
import pytest

from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.patterns import FIELDS, Format, clean_block

BIG_INODE = 2**64 - 1  # 20 digits: wraps in int64
LINES = [
    b"L2x1c3RyZS9zY3JhdGNoMTE4\t4096\t0\t0\t1\t2\t3\td\t2\t5\t66305\n",
    b"Zg==\t0\t1\t1000\t-5\t-86400\t0\tf\t%d\t2\t1\n" % BIG_INODE,
    b"Zw==\t123456789012345\t1\t7\t9\t1800000000\t9\tl\t3\t1\t18446744073709551614\n",
]


def columns(fmt: Format = Format.BASE64, lines: list[bytes] = LINES) -> BlockColumns:
    block = b"".join(lines)
    valid, bad = clean_block(fmt, block, 1)
    assert not bad and valid == block
    return BlockColumns.of(fmt, block)


def test_every_column_exactly() -> None:
    c = columns()
    assert len(c) == 3
    assert c.column("size").tolist() == [4096, 0, 123456789012345]
    assert c.column("gid").tolist() == [0, 1000, 7]
    assert c.column("mtime").tolist() == [2, -86400, 1800000000]
    assert c.column("atime").tolist() == [1, -5, 9]
    assert c.column("inode").tolist() == [2, BIG_INODE, 3]
    assert c.column("dev").tolist() == [66305, 1, 2**64 - 2]
    assert c.column("type").tolist() == [ord("d"), ord("f"), ord("l")]
    assert c.column("inode").dtype == np.uint64
    assert c.column("mtime").dtype == np.int64


def test_a_column_for_selected_lines_only() -> None:
    c = columns()
    rows = np.array([False, True, True])
    assert c.column("inode", rows).tolist() == [BIG_INODE, 3]
    assert c.column("type", rows).tolist() == [ord("f"), ord("l")]
    assert c.column("size", np.zeros(3, dtype=bool)).tolist() == []


@pytest.mark.parametrize("fmt", list(Format))
def test_wrstat_lines_have_the_same_columns(fmt: Format) -> None:
    lines = LINES
    if fmt is Format.WRSTAT:
        paths = [b'"/lustre/scratch118"', b'"f\\t\\n"', b'"g"']
        lines = [
            p + line[line.index(b"\t") : -1] + b"\t77\n"
            for p, line in zip(paths, LINES, strict=True)
        ]
    c = columns(fmt, lines)
    assert c.column("inode").tolist() == [2, BIG_INODE, 3]
    assert c.column("mtime").tolist() == [2, -86400, 1800000000]


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        (2**64 - 1, True),
        (10**19, True),
        (2**64, False),  # 20 digits, but not a 64-bit number
        (10**20, False),
        (99999999999999999999, False),
    ],
)
def test_numbers_beyond_64_bits_are_malformed(number: int, valid: bool) -> None:
    line = b"Zg==\t1\t%d\t1000\t-5\t-86400\t0\tf\t%d\t2\t1\n" % (number, number)
    kept, bad = clean_block(Format.BASE64, line, 7)
    assert (kept == line) is valid
    assert [n for n, _ in bad] == ([] if valid else [7])
    if valid:
        assert BlockColumns.of(Format.BASE64, kept).column("inode").tolist() == [number]


@pytest.mark.parametrize("mtime", [2**63 - 1, -(2**63 - 1), 2**63])
def test_times_are_64_bit_signed(mtime: int) -> None:
    line = b"Zg==\t1\t1\t1000\t0\t%d\t0\tf\t2\t1\t1\n" % mtime
    kept, bad = clean_block(Format.BASE64, line, 1)
    if mtime == 2**63:
        assert bad and not kept
    else:
        assert BlockColumns.of(Format.BASE64, kept).column("mtime").tolist() == [mtime]


@pytest.mark.parametrize(
    "sizes",
    [
        [10**15 - 1, 5],
        [10**15, 5],
        [2**53 + 1, 2**53 - 1],  # where a floating-point parse would round
        [7, 0],
        [10**8 - 1, 10**8],  # 8 digits: one word; 9: two
        [10**16 - 1, 10**16],  # 16 digits: two words; 17: three
    ],
)
def test_numbers_either_side_of_a_word_boundary_exactly(sizes: list[int]) -> None:
    lines = [b"Zg==\t%d\t1\t2\t3\t4\t5\tf\t6\t1\t8\n" % size for size in sizes]
    assert columns(Format.BASE64, lines).column("size").tolist() == sizes


def test_a_quoted_path_with_control_bytes_is_not_cut_at_them() -> None:
    # wrstat quotes tabs and newlines but may leave other control bytes raw.
    line = b'"a\x01\x08\x0b b"\t42\t1\t2\t3\t4\t5\tf\t6\t1\t8\t9\n'
    c = columns(Format.WRSTAT, [line, line])
    assert c.column("size").tolist() == [42, 42]
    assert c.column("dev").tolist() == [8, 8]


def test_line_starts_and_fields_compared_unparsed() -> None:
    c = columns()
    assert c.line_starts().tolist() == [0, len(LINES[0]), len(LINES[0]) + len(LINES[1])]
    assert c.field_is("nlink", b"2").tolist() == [False, True, False]
    assert c.field_is("nlink", b"1").tolist() == [False, False, True]
    assert c.field_is("type", b"d").tolist() == [True, False, False]
    # The last field of the block's last line, and a value longer than the other lines'.
    assert c.field_is("dev", b"18446744073709551614").tolist() == [False, False, True]
    assert c.field_is("dev", b"1").tolist() == [False, True, False]
    assert c.unsigned("gid", np.array([2, 0])).tolist() == [7, 0]
    assert c.times("mtime", np.array([], dtype=np.intp)).tolist() == []


@pytest.mark.parametrize("seed", range(6))
def test_random_numbers_of_every_width_and_sign(seed: int) -> None:
    """Every number field against Python's int(), for every width from 1 to 20 digits,
    negative times, and fields close to the block's start (the first line's size)."""
    rng = random.Random(seed)

    def number(signed: bool, size: bool = False) -> int:
        digits = rng.randint(1, 20)
        if size:  # an off_t: signed 64-bit, never negative
            return rng.choice((rng.randrange(10 ** min(digits, 19)) % 2**63, 2**63 - 1, 0))
        if signed:
            value = rng.choice((rng.randrange(10 ** min(digits, 18)), 2**63 - 1, 0))
            return -value if rng.random() < 0.3 else value
        top = 2**64 if digits == 20 else 10**digits
        return rng.choice((rng.randrange(top), 2**64 - 1, 0, 10**19, rng.randrange(100)))

    numeric = [name for name in FIELDS[1:] if name != "type"]
    expected = []
    lines = []
    for _ in range(rng.randint(1, 60)):
        row = {
            name: number(name in ("atime", "mtime", "ctime"), name == "size") for name in numeric
        }
        expected.append(row)
        fields = [rng.choice((b"Zg==", b"QUJD", b"L2x1c3RyZS9zY3JhdGNoMTE4"))]
        fields += [b"f" if name == "type" else b"%d" % row[name] for name in FIELDS[1:]]
        lines.append(b"\t".join(fields) + b"\n")
    c = columns(Format.BASE64, lines)
    some = np.array(sorted(rng.sample(range(len(lines)), len(lines) // 2)), dtype=np.intp)
    for name in numeric:
        assert c.column(name).tolist() == [row[name] for row in expected], name
        assert c.column(name, some).tolist() == [expected[i][name] for i in some], name


def test_fields_ending_within_the_first_word_of_the_block() -> None:
    line = b"QQ==\t1\t23\t3\t4\t5\t6\tf\t7\t1\t9\n"  # size ends at byte 6, uid at 9
    c = columns(Format.BASE64, [line, line])
    assert c.column("size").tolist() == [1, 1] and c.column("uid").tolist() == [23, 23]
    assert BlockColumns.of(Format.BASE64, b"").column("size").tolist() == []
