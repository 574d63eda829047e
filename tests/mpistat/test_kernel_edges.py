"""The edges of the compiled kernel's wide scans: base64 paths checked 16 characters at
a time and numbers scanned 16 bytes at a time (8 in builds without SSE2), each while
that many bytes are left in the block's whole lines, byte by byte after.

Each block goes through ``clean_block`` on both paths, which must agree, and the
malformed line numbers must also be those of a small reference written here from SPEC
2.2, 2.3 and 11: paths of every length (the 16-byte rounds ending at every offset),
every byte at every position of a chunk and just after it, every pair of characters
that can make a group decode to a NUL byte, numbers of 1 to 21 digits around the
64-bit limits with a non-digit at every offset, lines at the very end of a block, and
blocks that end right before a page that cannot be read.
"""

from __future__ import annotations

import binascii
import ctypes
import mmap
import random
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.patterns import Format, clean_block
from tests.helpers import on_kernel_path

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
TYPES = b"fdlsbcFX"
UNSIGNED_MAX = 2**64 - 1
SIGNED_MAX = 2**63 - 1
# The number fields (index in the line): the most each holds, and whether a '-' may lead.
NUMBER_FIELDS = {
    1: (SIGNED_MAX, False),  # size: off_t, never negative
    2: (UNSIGNED_MAX, False),
    3: (UNSIGNED_MAX, False),
    4: (SIGNED_MAX, True),  # atime, mtime, ctime
    5: (SIGNED_MAX, True),
    6: (SIGNED_MAX, True),
    8: (UNSIGNED_MAX, False),  # inode, nlink, dev
    9: (UNSIGNED_MAX, False),
    10: (UNSIGNED_MAX, False),
}
GOOD = [b"QQ==", b"1", b"2", b"3", b"-4", b"5", b"6", b"f", b"7", b"8", b"9"]
# Bytes around the edges of the digit range and of the tests' 7-bit arithmetic.
NON_DIGITS = b"\x00\t\n /:-+a\x7f\x80\xaf\xb0\xb9\xba\xff"
FILLER = b"xxxx"  # a group that decodes to no NUL byte: 0xC7 0x1C 0x71


@pytest.fixture(autouse=True)
def _both_kernel_paths() -> None:
    """Each test runs both paths itself (``check``), so it runs once."""


# ------------------------------------------------------------------ the reference


def path_ok(field: bytes) -> bool:
    """Standard alphabet, padded, zero padding bits (the canonical encoding), no NUL."""
    if not field or not re.fullmatch(
        rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?", field
    ):
        return False
    raw = binascii.a2b_base64(field)
    return b"\0" not in raw and binascii.b2a_base64(raw, newline=False) == field


def number_ok(field: bytes, most: int, signed: bool) -> bool:
    digits = field[1:] if signed and field[:1] == b"-" else field
    return (
        0 < len(digits) <= len(str(most))
        and all(48 <= byte <= 57 for byte in digits)
        and int(digits) <= most
    )


def line_ok(line: bytes) -> bool:
    fields = line.split(b"\t")
    return (
        len(fields) == 11
        and path_ok(fields[0])
        and len(fields[7]) == 1
        and fields[7][0] in TYPES
        and all(number_ok(fields[i], *NUMBER_FIELDS[i]) for i in NUMBER_FIELDS)
    )


def expected_bad(block: bytes) -> list[int]:
    return [n for n, line in enumerate(block.split(b"\n")[:-1]) if not line_ok(line)]


def check(block: bytes) -> list[int]:
    """The block's malformed line numbers, the same on both paths and the reference."""
    cleaned = []
    for path in (kernel.COMPILED, kernel.NUMPY):
        with on_kernel_path(path):
            cleaned.append(clean_block(Format.BASE64, block, 0))
    compiled, numpy_path = cleaned
    assert compiled == numpy_path
    numbers = [number for number, _ in compiled[1]]
    assert numbers == expected_bad(block)
    return numbers


# ------------------------------------------------------------------ making lines


def record(path: bytes = GOOD[0], index: int = 0, value: bytes = b"") -> bytes:
    """A good line with its path, and field ``index`` (1 or more) replaced by ``value``."""
    fields = [path, *GOOD[1:]]
    if index:
        fields[index] = value
    return b"\t".join(fields) + b"\n"


def encoded(raw_length: int) -> bytes:
    """The base64 of ``raw_length`` bytes without a NUL."""
    return binascii.b2a_base64(bytes(1 + i * 37 % 255 for i in range(raw_length)), newline=False)


def paths_of_every_length() -> list[bytes]:
    """Paths of 4 to 84 characters, padded every way, and each with a character more or
    its padding dropped: the 16-character rounds end at every offset of a chunk."""
    paths = []
    for raw_length in range(1, 64):
        path = encoded(raw_length)
        paths += [path, path + b"A", path + b"=", path + b"-", path.rstrip(b"=")]
    return paths


def numbers_of_every_length() -> list[bytes]:
    """1 to 21 digits, and the limits of both kinds of number with their neighbours."""
    values = []
    for n in range(1, 22):
        values += [b"9" * n, b"1" + b"0" * (n - 1), b"0" * n, b"-" + b"9" * n, b"-" + b"0" * n]
    for limit in (UNSIGNED_MAX, SIGNED_MAX):
        for value in (limit - 1, limit, limit + 1, 2 * limit + 1, 10 * limit):
            values += [str(value).encode(), b"-" + str(value).encode(), b"0" + str(value).encode()]
    return values + [b"", b"-", b"--1", b"-0", b"+1"]


def numbers_with_a_non_digit() -> list[bytes]:
    """A non-digit at every offset of numbers of 1 to 20 digits: the first byte of every
    word or chunk and the ones after, and just past the last digit."""
    digits = b"12345678901234567890"
    return [
        digits[:offset] + bytes([byte]) + digits[offset:length]
        for length in range(1, 21)
        for offset in range(length + 1)
        for byte in NON_DIGITS
    ]


# ------------------------------------------------------------------ paths


def test_paths_of_every_length() -> None:
    block = b"".join(record(path) for path in paths_of_every_length())
    assert 0 < len(check(block)) < block.count(b"\n")


def test_every_byte_at_every_position_of_a_chunk_and_after() -> None:
    path = encoded(36)  # 48 characters: three chunks of 16
    lines = [
        record(path[:position] + bytes([byte]) + path[position + 1 :])
        for position in range(40)
        for byte in range(256)
    ]
    bad = check(b"".join(lines))
    assert len(bad) > 40 * (256 - 64)  # each position: every byte outside the alphabet


def nul_candidates(first: int) -> Iterator[bytes]:
    """Groups whose characters ``first`` and ``first + 1`` are every pair of the
    alphabet, the others "x": the group decodes to a NUL byte exactly when that pair
    makes byte ``first`` zero."""
    for a in ALPHABET:
        for b in ALPHABET:
            group = bytearray(b"xxxx")
            group[first : first + 2] = bytes([a, b])
            yield bytes(group)


@pytest.mark.parametrize("first", [0, 1, 2])
def test_every_group_that_could_decode_to_nul_at_every_position(first: int) -> None:
    # Group 0 to 3 of the first chunk, 4 to 7 of the second, 8 and 9 of the last,
    # partial one; then the same group as the path's padded last group.
    lines = []
    for n, group in enumerate(nul_candidates(first)):
        at = n % 10
        lines.append(record(FILLER * at + group + FILLER * (9 - at)))
        padded = group[:3] + b"=" if first else group[:2] + b"=="
        lines.append(record(FILLER * (n % 5) + padded))
    bad = check(b"".join(lines))
    assert bad


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize("index", sorted(NUMBER_FIELDS))
def test_numbers_of_every_length_at_the_limits(index: int) -> None:
    check(b"".join(record(index=index, value=value) for value in numbers_of_every_length()))


@pytest.mark.parametrize("index", [1, 2, 4, 8, 10])
def test_a_non_digit_at_every_offset_of_a_word(index: int) -> None:
    check(b"".join(record(index=index, value=value) for value in numbers_with_a_non_digit()))


# ------------------------------------------------------------------ the block's end


def last_lines() -> list[bytes]:
    """Lines to end a block with, their fields a few bytes from its end: short paths
    alone or with some fields, and numbers of every length in the last fields."""
    lines = [path + b"\n" for path in paths_of_every_length()[::3]]
    lines += [path + b"\t1\t2\n" for path in paths_of_every_length()[1::3]]
    lines += [record(path) for path in paths_of_every_length()[2::3]]
    short = encoded(6)[:4] + b"@" + encoded(6)[5:]  # a bad character in the last 16 bytes
    lines += [short + b"\n", short + b"\t1\n"]
    for value in numbers_of_every_length()[::2] + numbers_with_a_non_digit()[::17]:
        lines += [record(index=10, value=value), record(index=9, value=value)]
        lines.append(b"\t".join(GOOD[:6]) + b"\t" + value + b"\n")  # too few fields
    return lines


def test_the_last_line_of_a_block() -> None:
    for last in last_lines():
        for tail in (b"", b"9\t9"):  # bytes after the last newline are no line
            check(record() + last + tail)


@contextmanager
def before_a_guard_page(data: bytes) -> Iterator[memoryview]:
    """``data`` ending right before a page that cannot be read: a read past the end of
    the block faults instead of finding more bytes."""
    page = mmap.PAGESIZE
    size = (len(data) // page + 2) * page
    region = mmap.mmap(-1, size)
    anchor = ctypes.c_char.from_buffer(region)
    address = ctypes.addressof(anchor)
    del anchor  # the address is kept; the export must go before the region closes
    mprotect = ctypes.CDLL(None, use_errno=True).mprotect
    mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    guard = size - page
    if mprotect(address + guard, page, 0) != 0:
        region.close()
        pytest.fail(f"mprotect: errno {ctypes.get_errno()}")  # a test that could not run
    region[guard - len(data) : guard] = data
    view = memoryview(region)[guard - len(data) : guard]
    try:
        yield view
    finally:
        view.release()
        region.close()


@pytest.mark.skipif(sys.platform != "linux", reason="mprotect on an anonymous map")
def test_no_scan_reads_past_the_block() -> None:
    with on_kernel_path(kernel.COMPILED):
        compiled = kernel.compiled()
        assert compiled is not None
        for last in last_lines():
            block = record() + last
            expected = expected_bad(block)
            with before_a_guard_page(block) as view:
                assert compiled.validate(view, False, True)[0] == expected
                _, bad = compiled.PairSums().add_raw_block(view, False, 1_800_000_000)
                assert bad == expected


# ------------------------------------------------------------------ generated


def generated_line(rng: random.Random) -> bytes:
    """Long paths and numbers of every length, now and then broken at a random byte."""
    raw = bytes(
        0 if rng.random() < 0.002 else rng.choice(b"\x01\x10\x40/0ap\xff")
        for _ in range(rng.randrange(0, 60))
    )
    fields = [binascii.b2a_base64(raw, newline=False)]
    for index in range(1, 11):
        if index == 7:
            fields.append(bytes([rng.choice(TYPES)]))
        else:
            fields.append(str(rng.randrange(10 ** rng.randrange(1, 21))).encode())
    if rng.random() < 0.3:
        index = rng.randrange(11)
        field = bytearray(fields[index])
        at = rng.randrange(len(field) + 1)
        field[at : at + 1] = bytes([rng.randrange(256)])
        fields[index] = bytes(field)
    return b"\t".join(fields) + b"\n"


@pytest.mark.parametrize("seed", range(4))
def test_generated_blocks_of_long_fields(seed: int) -> None:
    rng = random.Random(seed)
    check(b"".join(generated_line(rng) for _ in range(3000)))
