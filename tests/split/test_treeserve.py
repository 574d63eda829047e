"""Split files in TreeServe's format (spec 6, issue 13): TreeServe decodes every path
as base64, so a wrstat line is written as the 11-field base64 line of the same record
and a base64 line byte for byte. Checked from TreeServe's side: every line of a group
file is decoded as TreeServe does it."""

from __future__ import annotations

import binascii
import gzip
import logging
from pathlib import Path

import pytest

from humgen_storage.mpistat.paths import go_quote, wrstat_to_base64_lines
from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record
from tests.helpers import write_mpistat
from tests.split.sites import DAY, ODD_NAMES, make_site, root

# Paths whose Go quoting uses every escape: \t \n \" \\ \xNN (non-UTF-8 bytes,
# control bytes, DEL), \uNNNN and \UNNNNNNNN (non-printable code points), \a \b \f \r
# \v; printable UTF-8 kept as it is; lengths of every remainder modulo 3 (padding).
ESCAPED_NAMES = (
    *ODD_NAMES,
    b"a",
    b"ab",
    b"abc",
    b"\xed\xa0\x80 a surrogate's UTF-8: invalid, so \\x bytes",
    b"del\x7f",
    "zero\u200bwidth".encode(),
    "line\u2028separator".encode(),
    "tag\U000e0041".encode(),
    b"\a\b\f\r\v",
    b'"',
    b"\\",
    b'\\\\""',
    "na\u00efve \u6587\u4ef6".encode(),
)


def treeserve_fields(line: bytes) -> tuple[bytes, list[bytes]]:
    """(the path, fields 2-11) of a line as TreeServe reads it: 11 tab-separated
    fields, the first standard padded base64."""
    assert line.endswith(b"\n")
    fields = line[:-1].split(b"\t")
    assert len(fields) == 11, line
    return binascii.a2b_base64(fields[0], strict_mode=True), fields[1:]


def test_the_names_use_every_escape() -> None:
    quoted = b"".join(go_quote(b"/d/" + name) for name in ESCAPED_NAMES)
    for escape in (b"\\t", b"\\n", b'\\"', b"\\\\", b"\\x", b"\\u", b"\\U", b"\\a", b"\\v"):
        assert escape in quoted, escape


def test_wrstat_lines_become_the_base64_lines_of_the_same_records() -> None:
    records = [
        Record(b"/lustre/scratch118/d/" + name, n, 2, 3, -4, 5, 6, "fdl"[n % 3], 7 + n, 1, 9, 10)
        for n, name in enumerate(ESCAPED_NAMES)
    ]
    data = b"".join(r.line(Format.WRSTAT) for r in records)

    rewritten, undecodable = wrstat_to_base64_lines(data)

    assert undecodable == []
    assert rewritten == b"".join(r.line(Format.BASE64) for r in records)
    lines = rewritten.splitlines(keepends=True)
    assert len(lines) == len(records)
    for line, source, record in zip(lines, data.splitlines(), records, strict=True):
        path, fields = treeserve_fields(line)
        assert path == record.path
        assert fields == source.split(b"\t")[1:11]  # the 12th, apparent size, dropped


def test_base64_of_short_paths_by_hand() -> None:
    data = b'"/a"\t1\t2\t3\t4\t5\t6\tf\t7\t8\t9\t10\n"/ab"\t1\t2\t3\t4\t5\t6\td\t7\t8\t9\t10\n'
    data += b'"/\\x00"\t1\t2\t3\t4\t5\t6\tf\t7\t8\t9\t10\n'  # a NUL: undecodable
    data += b'"/\\xffc\\td"\t1\t2\t3\t4\t5\t6\tl\t7\t8\t9\t0\n'
    rewritten, undecodable = wrstat_to_base64_lines(data)
    assert rewritten == (
        b"L2E=\t1\t2\t3\t4\t5\t6\tf\t7\t8\t9\n"
        b"L2Fi\t1\t2\t3\t4\t5\t6\td\t7\t8\t9\n"
        b"L/9jCWQ=\t1\t2\t3\t4\t5\t6\tl\t7\t8\t9\n"
    )
    assert undecodable == [b'"/\\x00"\t1\t2\t3\t4\t5\t6\tf\t7\t8\t9']


def test_undecodable_paths_are_left_out_and_returned_in_order() -> None:
    good = Record(b"/x/a\\b\tc", gid=5).line(Format.WRSTAT)
    tail = good[good.index(b"\t") :]
    bad_fields = (
        b'""',  # empty
        b'"/x/\\ud800"',  # a surrogate: no code point
        b'"/x/\\U00110000"',  # past the last code point
        b'"/x/\x00raw"',  # a raw NUL: valid characters, but no path holds one
        b'"/x/\\u0000"',  # an escaped NUL
    )
    data = good + b"".join(field + tail + good for field in bad_fields)

    rewritten, undecodable = wrstat_to_base64_lines(data)

    assert rewritten == Record(b"/x/a\\b\tc", gid=5).line() * (len(bad_fields) + 1)
    assert undecodable == [field + tail[: tail.rindex(b"\t")] for field in bad_fields]


def test_lines_without_escapes_or_without_any_line() -> None:
    assert wrstat_to_base64_lines(b"") == (b"", [])
    line = Record(b"/plain path", 1, gid=2).line(Format.WRSTAT)
    assert wrstat_to_base64_lines(line * 3) == (Record(b"/plain path", 1, gid=2).line() * 3, [])


# ------------------------------------------------------------------ end to end


def volume_records(volume: str) -> list[Record]:
    """A humgen group's records with every escaped name (and two lines of another
    group, skipped)."""
    base = f"/lustre/scratch{volume}/humgen/hgi".encode()
    records = [root(volume), Record(base, 4096, 1, 1001, 7, 8, 9, "d", 3, 5, 77)]
    for n, name in enumerate(ESCAPED_NAMES):
        records.append(Record(base + b"/" + name, n, 1, 1001, -n, n, 2 * n, "f", 10 + n, 1, 77))
        if n % 7 == 0:
            records.append(Record(base + b"/skip" + name, n, 1, 4242, 1, 2, 3, "f", 900 + n))
    return records


@pytest.mark.usefixtures("kernel_path")  # on the compiled kernel and the numpy path
@pytest.mark.parametrize("workers", [1, 2])
def test_a_wrstat_volume_and_a_base64_volume_make_one_treeserve_file(
    tmp_path: Path, workers: int
) -> None:
    site = make_site(tmp_path, workers=workers)
    wrstat = volume_records("118")
    base64 = volume_records("119")
    f118 = write_mpistat(site.mpistat, DAY, "118", wrstat, Format.WRSTAT)
    f119 = write_mpistat(site.mpistat, DAY, "119", base64, Format.BASE64)

    assert site.split("--no-upload", f118, f119) == 0

    lines = gzip.decompress((site.dated / "hgi.dat.gz").read_bytes()).splitlines(keepends=True)
    written_118 = [r for r in wrstat if r.gid == 1001]
    written_119 = [r for r in base64 if r.gid == 1001]
    assert len(lines) == len(written_118) + len(written_119)
    # The wrstat volume: every line TreeServe's, with the record's path and fields.
    for line, record in zip(lines, written_118, strict=False):
        path, fields = treeserve_fields(line)
        assert path == record.path
        assert fields == record.line(Format.WRSTAT)[:-1].split(b"\t")[1:11]
    # The base64 volume: its lines byte for byte, after the wrstat volume's.
    assert b"".join(lines[len(written_118) :]) == b"".join(r.line() for r in written_119)
    assert len(written_118) == len(written_119) == 1 + len(ESCAPED_NAMES)


@pytest.mark.usefixtures("kernel_path")
def test_an_undecodable_wrstat_path_is_a_malformed_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = make_site(tmp_path, volumes="118")
    records = volume_records("118")
    good = [r for r in records if r.gid == 1001]
    tail = good[-1].line(Format.WRSTAT)
    tail = tail[tail.index(b"\t") :]
    bad_line = b'"/lustre/scratch118/humgen/hgi/\\ud800"' + tail  # a written group's line
    lines = [r.line(Format.WRSTAT) for r in records]
    lines.insert(3, bad_line)  # line 4 of the file
    f118 = site.mpistat / f"{DAY}_118.dat.gz"
    f118.parent.mkdir(parents=True)
    f118.write_bytes(gzip.compress(b"".join(lines)))
    # One malformed line in 30 is more than the default max_bad_fraction: the volume fails.
    assert site.split("--no-upload", f118) == 1
    assert not site.dated.exists()

    # Allowed: skipped, counted and logged with its line number.
    (tmp_path / "lenient").mkdir()
    site = make_site(tmp_path / "lenient", volumes="118")
    config = Path(site.config)
    config.write_text(config.read_text() + "\n[input]\nmax_bad_fraction = 0.1\n")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert site.split("--no-upload", f118) == 0
    written = gzip.decompress((site.dated / "hgi.dat.gz").read_bytes())
    assert written == b"".join(r.line() for r in good)
    messages = [r.getMessage() for r in caplog.records]
    assert any("line 4: malformed, skipped: invalid code point" in m for m in messages)
    assert any(f"skipped 1 malformed of {len(lines)} lines" in m for m in messages)
    # Records: all lines; written: hgi's; skipped: the others, the bad line not among them.
    skipped = len(records) - len(good)
    assert any(
        f"{len(lines)} records, {len(good)} written to 1 group files, {skipped} skipped" in m
        for m in messages
    )
