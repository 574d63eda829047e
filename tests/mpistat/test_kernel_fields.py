"""More edges of the compiled kernel's number fields (_kernel.c, valid_fields), beside
tests/mpistat/test_kernel_edges.py's: a number decided by its first 16 bytes or by the
next 16, lines whose fields end at every offset some 64 bytes after the path, fields
of no digits, of a lone or misplaced '-', type fields of every byte and of two bytes,
and too few or too many fields, against the numpy path and the reference of
test_kernel_edges.py, in both formats.
"""

from __future__ import annotations

import pytest

from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.patterns import Format, clean_block
from tests.helpers import on_kernel_path
from tests.mpistat.test_kernel_edges import GOOD, NON_DIGITS, check, numbers_of_every_length, record

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
