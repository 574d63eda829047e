"""More edges of the compiled kernel's number fields (_kernel.c, valid_fields), beside
tests/mpistat/test_kernel_edges.py's: a number decided by its first 16 bytes or by the
next 16, lines whose fields end at every offset some 64 bytes after the path, fields
of no digits, of a lone or misplaced '-', type fields of every byte and of two bytes,
and too few or too many fields, against the numpy path and a reference written here
from SPEC 2.2, in both formats (wrstat: the two paths).
"""

from __future__ import annotations

import pytest

from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.patterns import Format, clean_block
from tests.helpers import on_kernel_path

TYPES = b"fdlsbcFX"
UNSIGNED_MAX = 2**64 - 1
SIGNED_MAX = 2**63 - 1
# The number fields (index in the line): the most each holds, and whether a '-' may lead.
NUMBER_FIELDS = {1: (SIGNED_MAX, False), 2: (UNSIGNED_MAX, False), 3: (UNSIGNED_MAX, False)}
NUMBER_FIELDS |= {4: (SIGNED_MAX, True), 5: (SIGNED_MAX, True), 6: (SIGNED_MAX, True)}
NUMBER_FIELDS |= {8: (UNSIGNED_MAX, False), 9: (UNSIGNED_MAX, False), 10: (UNSIGNED_MAX, False)}
GOOD = [b"QQ==", b"1", b"2", b"3", b"-4", b"5", b"6", b"f", b"7", b"8", b"9"]
NON_DIGITS = b"\x00\t\n /:-+a\x7f\x80\xaf\xb0\xb9\xba\xff"


def number_ok(field: bytes, most: int, signed: bool) -> bool:
    digits = field[1:] if signed and field[:1] == b"-" else field
    return 0 < len(digits) <= len(str(most)) and digits.isdigit() and int(digits) <= most


def line_ok(line: bytes) -> bool:
    """SPEC 2.2 for a line whose path is GOOD's."""
    fields = line.split(b"\t")
    return (
        len(fields) == 11
        and fields[0] == GOOD[0]
        and len(fields[7]) == 1
        and fields[7][0] in TYPES
        and all(number_ok(fields[i], *NUMBER_FIELDS[i]) for i in NUMBER_FIELDS)
    )


def check(block: bytes) -> list[int]:
    """The block's malformed line numbers, the same on both paths and the reference."""
    cleaned = []
    for path in (kernel.COMPILED, kernel.NUMPY):
        with on_kernel_path(path):
            cleaned.append(clean_block(Format.BASE64, block, 0))
    assert cleaned[0] == cleaned[1]
    numbers = [number for number, _ in cleaned[0][1]]
    lines = block.split(b"\n")[:-1]
    assert numbers == [n for n, line in enumerate(lines) if not line_ok(line)]
    return numbers


def record(index: int = 0, value: bytes = b"") -> bytes:
    """A good line with field ``index`` (1 or more) replaced by ``value``."""
    fields = list(GOOD)
    if index:
        fields[index] = value
    return b"\t".join(fields) + b"\n"


def numbers_of_every_length() -> list[bytes]:
    """1 to 21 digits, and the limits of both kinds of number with their neighbours."""
    values = []
    for n in range(1, 22):
        values += [b"9" * n, b"1" + b"0" * (n - 1), b"0" * n, b"-" + b"9" * n]
    for limit in (UNSIGNED_MAX, SIGNED_MAX):
        for value in (limit - 1, limit, limit + 1, 10 * limit):
            values += [str(value).encode(), b"-" + str(value).encode(), b"0" + str(value).encode()]
    return values


ODD_VALUES = (
    b"", b"-", b"--1", b"1-", b"-0", b"0-1", b"f", b"f5", b"5f", b"ff", b"\t", b"1\t2", b"+1",
    b"1\n", b" 1", b"1 ", b"12345678901234567890123", b"-9223372036854775808",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _both_kernel_paths() -> None:
    """Each test runs both paths itself (``check``), so it runs once."""


def test_odd_values_in_every_field() -> None:
    lines = [record(index=index, value=value) for index in range(1, 11) for value in ODD_VALUES]
    assert len(check(b"".join(lines))) > 150


def test_type_fields_of_every_byte_and_of_two() -> None:
    lines = [record(index=7, value=bytes([byte])) for byte in range(256) if byte != 10]
    lines += [record(index=7, value=b"f" + bytes([byte])) for byte in b"05-fd\x00\xff"]
    lines += [record(index=7, value=bytes([byte]) + b"f") for byte in b"05-"]
    assert len(check(b"".join(lines))) == 256 - 1 - 8 + 10


def test_fields_ending_at_every_offset_around_the_window() -> None:
    """Numbers of every length in each field move the newline (and every separator
    after that field) across the 64 bytes after the path, with a field more or less."""
    lines = []
    for index in (1, 2, 5, 8, 10):
        for value in numbers_of_every_length():
            for other in (b"7", b"12345678901234567", b"-123456789012345678"):
                line = record(index=index, value=value)
                lines.append(line)
                lines.append(line.replace(b"\t" + GOOD[4] + b"\t", b"\t" + other + b"\t"))
                lines.append(line[:-1] + b"\t1\n")  # a field more
                lines.append(line[: line.rindex(b"\t")] + b"\n")  # a field less
    check(b"".join(lines))


def test_wrstat_lines_on_both_paths() -> None:
    """The 12th field of wrstat lines, and the cases above, in the other format."""
    lines = []
    for index in range(1, 12):
        for value in ODD_VALUES + tuple(numbers_of_every_length()[::3]):
            fields = [b'"/a/b"', *GOOD[1:], b"11"]
            fields[index] = value
            lines.append(b"\t".join(fields) + b"\n")
    block = b"".join(lines)
    cleaned = []
    for path in (kernel.COMPILED, kernel.NUMPY):
        with on_kernel_path(path):
            cleaned.append(clean_block(Format.WRSTAT, block, 0))
    assert cleaned[0] == cleaned[1]
    assert 0 < len(cleaned[0][1]) < len(lines)


def test_non_digits_at_every_place_of_a_short_line() -> None:
    lines = []
    for index in range(1, 11):
        for byte in NON_DIGITS:
            for at in range(3):
                value = bytearray(b"123")
                value[at] = byte
                lines.append(record(index=index, value=bytes(value)))
    check(b"".join(lines))
