"""The shared mpistat reader: both formats, every escape, bad input rules (spec section 2)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

from humgen_storage.errors import InputError
from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.paths import PathDecodeError, decode_quoted_path, display_name, go_quote
from humgen_storage.mpistat.patterns import Format, record_pattern
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.mpistat.writer import Record
from tests.helpers import row_blocks, write_mpistat

ODD_PATHS = [
    b"/lustre/scratch118/with space/and\ttab",
    b"/lustre/scratch118/new\nline",
    b"/lustre/scratch118/latin1-\xe9-\xff\xfe",
    b'/lustre/scratch118/quote"and\\backslash',
    b"/lustre/scratch118/bell\a\b\f\r\v\x01\x7f",
    b"/lustre/scratch118/caf\xc3\xa9/\xf0\x9f\x98\x80/\xe2\x80\xa8",
]


def read_all(
    path: Path, fields: tuple[str, ...], **kwargs: object
) -> tuple[MpistatReader, list[object]]:
    rows: list[object] = []
    with MpistatReader(InputFile.from_path(path), **kwargs) as reader:  # type: ignore[arg-type]
        for block in row_blocks(reader, fields):
            rows.extend(block)
    return reader, rows


@pytest.mark.parametrize("fmt", list(Format))
def test_odd_paths_round_trip_in_both_formats(tmp_path: Path, fmt: Format) -> None:
    records = [Record(b"/lustre/scratch118", type="d")] + [
        Record(p, size=i, gid=1000 + i, mtime=-5 if i == 2 else 1_700_000_000, inode=i, nlink=i % 3)
        for i, p in enumerate(ODD_PATHS, start=1)
    ]
    path = write_mpistat(tmp_path, "20261120", "118", records, fmt=fmt)
    reader, rows = read_all(path, ("path", "size", "gid", "mtime", "type", "nlink"))
    assert reader.format is fmt
    assert reader.volume_name == "scratch118"
    assert reader.root == b"/lustre/scratch118"
    decoded = [
        (fmt.decode_path(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], int(r[5])) for r in rows
    ]  # type: ignore[index]
    assert decoded == [(r.path, r.size, r.gid, r.mtime, r.type.encode(), r.nlink) for r in records]
    assert reader.lines == len(records) and reader.bad_lines == 0


@pytest.mark.parametrize(
    ("quoted", "raw"),
    [
        (rb'"\a\b\f\n\r\t\v"', b"\a\b\f\n\r\t\v"),
        (rb'"\\ \""', b'\\ "'),
        (rb'"\x00\xff\x41"', b"\x00\xffA"),
        (rb'"\u00e9\u2028"', "\u00e9\u2028".encode()),
        (rb'"\U0001F600"', "\U0001f600".encode()),
        (b'"plain \xc3\xa9"', b"plain \xc3\xa9"),
    ],
)
def test_every_go_escape(quoted: bytes, raw: bytes) -> None:
    if b"\x00" in raw:
        with pytest.raises(PathDecodeError):  # NUL can never be in a path
            decode_quoted_path(quoted)
    else:
        assert decode_quoted_path(quoted) == raw


@pytest.mark.parametrize(
    "bad", [b'"unterminated', b'"bad \\q escape"', b'"\\x4"', b'"\\U00110000"', b"noquotes"]
)
def test_bad_quoted_paths(bad: bytes) -> None:
    with pytest.raises(PathDecodeError):
        decode_quoted_path(bad)


def test_go_quote_matches_go_for_common_cases() -> None:
    assert go_quote(b'a"b\\c\td\ne') == rb'"a\"b\\c\td\ne"'
    assert go_quote(b"\xff") == rb'"\xff"'
    assert go_quote("é".encode()) == '"é"'.encode()


def test_display_name_escapes() -> None:
    assert display_name(b"a\\b\tc\nd\xffe\xc3\xa9") == "a\\\\b\\tc\\nd\\xffeé"


def good_lines(n: int) -> list[Record]:
    return [Record(b"/lustre/scratch118", type="d")] + [
        Record(b"/lustre/scratch118/f%d" % i, size=i, gid=1) for i in range(n - 1)
    ]


BAD_LINES = [
    b"too\tfew\tfields\n",
    b"L2x1c3RyZQ==\tNaN\t0\t0\t0\t0\t0\tf\t1\t1\t1\n",  # non-integer size
    b"L2x1c3RyZQ==\t1\t0\t0\t0\t0\t0\tq\t1\t1\t1\n",  # unknown type
    b"not base64!\t1\t0\t0\t0\t0\t0\tf\t1\t1\t1\n",  # undecodable path
    b"\n",  # empty line
]


def test_malformed_lines_below_the_threshold_are_skipped_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_mpistat(tmp_path, "20261120", "118", good_lines(995), extra_lines=BAD_LINES)
    reader, rows = read_all(path, ("size", "gid"), max_bad_fraction=0.01, log_bad_lines=3)
    assert len(rows) == 995
    assert (reader.lines, reader.bad_lines) == (1000, 5)
    logged = [r.getMessage() for r in caplog.records if "malformed, skipped" in r.getMessage()]
    assert logged == [
        f"{path} line 996: malformed, skipped: expected 11 tab-separated fields, found 3",
        f"{path} line 997: malformed, skipped: bad size field b'NaN'",
        f"{path} line 998: malformed, skipped: bad type field b'q'",
    ]
    assert f"{path}: skipped 5 malformed of 1000 lines" in caplog.text


def test_malformed_lines_above_the_threshold_fail_the_volume(tmp_path: Path) -> None:
    path = write_mpistat(tmp_path, "20261120", "118", good_lines(995), extra_lines=BAD_LINES)
    with pytest.raises(
        InputError, match=r"5 of 1000 lines are malformed, more than max_bad_fraction 0\.001"
    ):
        read_all(path, ("size",), max_bad_fraction=0.001)


def test_line_numbers_stay_right_across_blocks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_mpistat(
        tmp_path,
        "20261120",
        "118",
        good_lines(3000),
        extra_lines=[b"bad\n"] + [Record(b"/lustre/scratch118/after", size=7).line()],
    )
    reader, rows = read_all(path, ("path", "size"), max_bad_fraction=0.01, block_size=1000)
    assert len(rows) == 3001 and reader.lines == 3002
    assert f"{path} line 3001: malformed" in caplog.text


@pytest.mark.parametrize("block_size", [100, 333, 1000, 10**6])
def test_blocks_are_whole_lines_in_order(tmp_path: Path, block_size: int) -> None:
    # Lines shorter and longer than a block (one spans several), the last one unended.
    lines = [r.line() for r in good_lines(40)]
    lines[5] = Record(b"/lustre/scratch118/" + b"x" * 500, size=5).line()
    data = b"".join(lines)
    path = tmp_path / "20261120_118.dat.gz"
    path.write_bytes(gzip.compress(data[:-1]))
    with MpistatReader(InputFile.from_path(path), block_size=block_size) as reader:
        blocks = list(reader.blocks())
    assert b"".join(block for _, block in blocks) == data
    assert all(block.endswith(b"\n") for _, block in blocks)
    expected_first = 1
    for first_line, block in blocks:
        assert first_line == expected_first
        expected_first += block.count(b"\n")


def test_last_line_without_newline_counts(tmp_path: Path) -> None:
    path = tmp_path / "20261120_118.dat.gz"
    data = b"".join(r.line() for r in good_lines(3)).rstrip(b"\n")
    path.write_bytes(gzip.compress(data))
    reader, rows = read_all(path, ("size", "gid"))
    assert len(rows) == 3 and reader.bad_lines == 0


def test_truncated_gzip(tmp_path: Path) -> None:
    path = write_mpistat(tmp_path, "20261120", "118", good_lines(20000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    with pytest.raises(InputError, match=r"20261120_118\.dat\.gz: truncated gzip stream"):
        read_all(path, ("size",))


def test_crc_error(tmp_path: Path) -> None:
    path = write_mpistat(tmp_path, "20261120", "118", good_lines(10))
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the CRC32 in the trailer
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"20261120_118\.dat\.gz: corrupt gzip stream"):
        read_all(path, ("size",))


def test_not_gzip_at_all(tmp_path: Path) -> None:
    path = tmp_path / "20261120_118.dat.gz"
    path.write_bytes(zlib.compress(b"hello") * 10)
    with pytest.raises(InputError, match=r"20261120_118\.dat\.gz: corrupt gzip stream"):
        read_all(path, ("size",))


def test_empty_file_and_empty_stream(tmp_path: Path) -> None:
    path = tmp_path / "20261120_118.dat.gz"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_all(path, ("size",))
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(InputError, match="no records"):
        read_all(path, ("size",))


def test_missing_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_all(tmp_path / "20261120_118.dat.gz", ("size",))
    directory = tmp_path / "20261120_119.dat.gz"
    directory.mkdir()
    with pytest.raises(InputError, match="cannot read"):
        read_all(directory, ("size",))


@pytest.mark.parametrize("root", [b"/lustre/scratch118", b"/lustre/118", b"/lustre/scratch118/"])
def test_volume_names_accepted(tmp_path: Path, root: bytes) -> None:
    path = write_mpistat(tmp_path, "20261120", "118", [Record(root, type="d")])
    reader, _ = read_all(path, ("size",))
    assert reader.volume_name in ("scratch118", "118")


@pytest.mark.parametrize("root", [b"/lustre/scratch119", b"/lustre/scratch1180", b"/lustre", b"/"])
def test_volume_mismatch(tmp_path: Path, root: bytes) -> None:
    path = write_mpistat(tmp_path, "20261120", "118", [Record(root, type="d")])
    with pytest.raises(
        InputError, match=r"20261120_118\.dat\.gz: line 1: root .* file name says volume 118"
    ):
        read_all(path, ("size",))


def test_malformed_first_record(tmp_path: Path) -> None:
    path = write_mpistat(tmp_path, "20261120", "118", [], extra_lines=[b"garbage\n"])
    with pytest.raises(InputError, match=r"line 1: the first record .* is malformed"):
        read_all(path, ("size",))


@pytest.mark.parametrize(
    "name", ["118.dat.gz", "2026112_118.dat.gz", "20261320_118.dat.gz", "20261120_118.dat"]
)
def test_bad_file_names(name: str) -> None:
    with pytest.raises(InputError):
        InputFile.from_path(name)


def test_record_pattern_captures_in_line_order_and_whole_lines() -> None:
    line = Record(
        b"/x/y", size=5, uid=6, gid=7, atime=8, mtime=9, ctime=10, inode=11, nlink=12, dev=13
    ).line()
    pattern = record_pattern(Format.BASE64, ("dev", "size"), whole_line=True)
    assert pattern.findall(line) == [(line[:-1], b"5", b"13")]
