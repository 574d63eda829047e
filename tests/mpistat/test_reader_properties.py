"""A property-based test of the reader (issue 16): generated crawl files against a
small reference reader written here from the spec (§2.2, §2.3, §11), not from the code.

Generated: random path bytes in both formats (base64 and Go-quoted), every Go escape,
numbers at and beyond the 63/64-bit edges, dropped and extra tabs, bad base64 and
quoting, CR/LF variants, lines across the block boundary (the reader runs with a
small block size), and the file as one or more concatenated gzip members, some
truncated or with a bad CRC. Checked: the same line count and malformed count, the
same per-gid Used and newest mtime (SPEC §4), or a clean InputError where the spec
fails the volume; never another exception.

The example budget is small by default (a few seconds in ``make test``); set
``HUMGEN_HYPOTHESIS_EXAMPLES`` for a longer search.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from humgen_storage.errors import InputError
from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.report.aggregate import UsageAggregate
from humgen_storage.run.aggregate import aggregate_file

EXAMPLES = int(os.environ.get("HUMGEN_HYPOTHESIS_EXAMPLES", "25"))

ROOT = b"/lustre/scratch118"
MAX_U64 = 2**64 - 1
MAX_OFF_T = 2**63 - 1
TYPES = b"fdlsbcFX"
GO_SIMPLE = {b"a": 7, b"b": 8, b"f": 12, b"n": 10, b"r": 13, b"t": 9, b"v": 11, b"\\": 92, b'"': 34}


# ------------------------------------------------------------------ the reference


class Undecodable(ValueError):
    pass


def ref_base64(field: bytes) -> bytes:
    """Standard alphabet, padded (RFC 4648): length a multiple of 4, '=' only at the end."""
    if not re.fullmatch(rb"[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?", field):
        raise Undecodable("not base64")
    if len(field) % 4:
        raise Undecodable("length")
    try:
        return base64.b64decode(field, validate=True)
    except binascii.Error as exc:
        raise Undecodable(str(exc)) from None


def ref_go_unquote(field: bytes) -> bytes:
    """A Go double-quoted string: raw bytes but '"', '\\', TAB and LF; Go's escapes."""
    if len(field) < 2 or field[:1] != b'"' or field[-1:] != b'"':
        raise Undecodable("not quoted")
    body, out, i = field[1:-1], bytearray(), 0
    while i < len(body):
        byte = body[i : i + 1]
        if byte in (b'"', b"\t", b"\n"):
            raise Undecodable("raw quote, tab or newline")
        if byte != b"\\":
            out += byte
            i += 1
            continue
        kind = body[i + 1 : i + 2]
        if kind in GO_SIMPLE:
            out.append(GO_SIMPLE[kind])
            i += 2
        elif kind in (b"x", b"u", b"U"):
            width = {b"x": 2, b"u": 4, b"U": 8}[kind]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not re.fullmatch(rb"[0-9a-fA-F]+", digits):
                raise Undecodable("bad hex escape")
            value = int(digits, 16)
            if kind == b"x":
                out.append(value)
            elif value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise Undecodable("no code point")
            else:
                out += chr(value).encode("utf-8")
            i += 2 + width
        else:
            raise Undecodable("unknown escape")
    return bytes(out)


def ref_path(field: bytes, wrstat: bool) -> bytes:
    path = ref_go_unquote(field) if wrstat else ref_base64(field)
    if not path or b"\0" in path:
        raise Undecodable("empty path or NUL")
    return path


def ref_number(text: bytes, low: int, high: int) -> int | None:
    if not re.fullmatch(rb"-?[0-9]+", text):
        return None
    value = int(text)
    return value if low <= value <= high else None


@dataclass(frozen=True)
class RefRecord:
    gid: int
    size: int
    mtime: int
    type: bytes
    inode: int
    nlink: int
    dev: int


def ref_record(line: bytes, wrstat: bool) -> RefRecord | None:
    """The record of a line, or None when the line is malformed (§2.2, §2.3, §11)."""
    fields = line.split(b"\t")
    if len(fields) != (12 if wrstat else 11):
        return None
    try:
        ref_path(fields[0], wrstat)
    except Undecodable:
        return None
    size = ref_number(fields[1], 0, MAX_OFF_T)
    uid, gid = ref_number(fields[2], 0, MAX_U64), ref_number(fields[3], 0, MAX_U64)
    times = [ref_number(f, -MAX_OFF_T, MAX_OFF_T) for f in fields[4:7]]
    inode, nlink = ref_number(fields[8], 0, MAX_U64), ref_number(fields[9], 0, MAX_U64)
    dev = ref_number(fields[10], 0, MAX_U64)
    numbers = [size, uid, gid, *times, inode, nlink, dev]
    if wrstat:
        numbers.append(ref_number(fields[11], 0, MAX_U64))
    if any(n is None for n in numbers) or len(fields[7]) != 1 or fields[7] not in TYPES:
        return None
    assert size is not None and gid is not None and inode is not None
    assert nlink is not None and dev is not None and times[1] is not None
    return RefRecord(gid, size, times[1], fields[7], inode, nlink, dev)


@dataclass
class RefResult:
    root_is_valid: bool  # the first record is the volume's root: else the file fails
    lines: int
    malformed: int
    used: dict[int, int]
    newest_mtime: dict[int, int]


def reference_read(data: bytes, reference: int) -> RefResult:
    """Lines end with LF (a last line without one still counts); Used sums sizes,
    nlink 0 counts 0 bytes, an inode with nlink > 1 counts once (dev + inode)."""
    wrstat = data[:1] == b'"'
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    used: dict[int, int] = {}
    newest: dict[int, int] = {}
    seen_links: set[tuple[int, int]] = set()
    malformed = 0
    for line in lines:
        record = ref_record(line, wrstat)
        if record is None:
            malformed += 1
            continue
        size = record.size
        if record.nlink == 0:
            size = 0
        elif record.nlink > 1 and record.type != b"d":
            key = (record.dev, record.inode)
            size = 0 if key in seen_links else size
            seen_links.add(key)
        used[record.gid] = used.get(record.gid, 0) + size
        when = min(record.mtime, reference)
        newest[record.gid] = max(newest.get(record.gid, when), when)
    root_is_valid = bool(lines) and ref_record(lines[0], wrstat) is not None
    return RefResult(root_is_valid, len(lines), malformed, used, newest)


# ------------------------------------------------------------------ the generators

EDGE_UNSIGNED = [0, 1, 7, 2**31 - 1, 2**32, 2**53 + 1, 2**62, MAX_OFF_T, MAX_OFF_T + 1, MAX_U64]
BEYOND = [MAX_U64 + 1, 10**20, 10**30]


def number_texts(
    low: int, high: int, edges: list[int], typical: tuple[int, int] | None = None
) -> st.SearchStrategy[bytes]:
    """Decimal numbers: the edges, typical values, leading zeros, non-numbers, and
    numbers just or far beyond ``high``."""
    typical_low, typical_high = typical or (low, high)
    good = st.one_of(
        st.sampled_from([e for e in edges if low <= e <= high]),
        st.integers(typical_low, typical_high),
        st.integers(typical_low, typical_high),
    ).map(lambda n: str(n).encode())
    leading_zero = st.integers(0, 999).map(lambda n: b"00" + str(n).encode())
    bad = st.sampled_from(
        [b"", b"+5", b" 5", b"5 ", b"1e3", b"0x10", b"--1", b"\xff", b"5\r", b"twelve"]
    )
    beyond = st.sampled_from([str(n).encode() for n in [*BEYOND, high + 1]])
    # Mostly good numbers: a line has ten of them, and most lines should be valid.
    return st.integers(0, 99).flatmap(
        lambda k: bad if k == 0 else beyond if k == 1 else leading_zero if k == 2 else good
    )


def size_texts() -> st.SearchStrategy[bytes]:
    # Up to 2**64 - 1 and beyond: above 2**63 - 1 a size is malformed (SPEC §11).
    return number_texts(0, MAX_U64, EDGE_UNSIGNED, typical=(0, 2**40))


# Random path bytes; a NUL makes the path undecodable (SPEC §11).
raw_path = st.binary(min_size=1, max_size=40).map(lambda b: ROOT + b"/" + b)


def go_quote(path: bytes, draw: st.DrawFn) -> bytes:
    """Quote ``path`` with escapes chosen at random among every form Go has."""
    out = bytearray(b'"')
    for byte in path:
        char = bytes([byte])
        form = draw(st.integers(0, 3))
        if char in (b'"', b"\\") or byte < 0x20 or byte >= 0x7F:
            simple = {v: k for k, v in GO_SIMPLE.items()}.get(byte)
            if simple is not None and form == 0:
                out += b"\\" + simple
            elif byte < 0x80 and form == 1:
                out += b"\\u%04x" % byte
            elif byte < 0x80 and form == 2:
                out += b"\\U%08x" % byte
            else:
                out += b"\\x%02x" % byte
        elif form == 3:
            out += b"\\x%02X" % byte
        else:
            out += char
    return bytes(out + b'"')


@st.composite
def path_field(draw: st.DrawFn, wrstat: bool) -> bytes:
    path = draw(raw_path)
    if wrstat:
        good = go_quote(path, draw)
        bad = [
            good[:-1],  # unterminated
            good[:1] + b"\\q" + good[1:],  # unknown escape
            good[:1] + b"\\x4" + good[1:],  # short hex escape
            good[:1] + b"a\tb" + good[1:],  # a raw tab
            b"'" + good[1:-1] + b"'",
            base64.b64encode(path),
        ]
        undecodable = [
            b'"' + ROOT + b"/\\x00" + b'"',  # a NUL byte
            b'"' + ROOT + b"/\\U00110000" + b'"',  # no code point
            b'"' + ROOT + b"/\\ud800" + b'"',  # a surrogate
            b'""',  # empty
        ]
        cr = [good[:1] + b"cr\rinside" + good[1:]]
    else:
        good = base64.b64encode(path)
        bad = [
            good.rstrip(b"=") + b"!",
            b"=" + good,
            good + b"===",
            good[:2] + b"=" + good[2:],
            go_quote(path, draw),
            b"",
        ]
        undecodable = [
            good + b"A",  # length 1 mod 4
            good.rstrip(b"=") if good.endswith(b"=") else good + b"AA",  # padding missing
            base64.b64encode(ROOT + b"/\0x"),  # a NUL byte
        ]
        cr = [good[:4] + b"\r" + good[4:]]
    choices = [good] * 60 + bad + cr + undecodable
    return draw(st.sampled_from(choices))


@st.composite
def crawl_line(draw: st.DrawFn, wrstat: bool, inode: int) -> bytes:
    gid = draw(st.one_of(st.sampled_from([0, 1001, 1002, MAX_U64]), st.integers(0, 5)))
    fields = [
        draw(path_field(wrstat)),
        draw(size_texts()),
        draw(number_texts(0, MAX_U64, [0, 1000])),
        draw(st.one_of(st.just(str(gid).encode()), number_texts(0, MAX_U64, EDGE_UNSIGNED))),
        *(draw(number_texts(-MAX_OFF_T, MAX_OFF_T, [-1, 0, 1_800_000_000])) for _ in range(3)),
        draw(st.sampled_from([b"f", b"f", b"d", b"l", b"X", b"x", b"ff", b""])),
        str(inode).encode(),  # unique: hard links are generated as repeated lines
        draw(st.sampled_from([b"0", b"1", b"1", b"2", b"3", b"18446744073709551615"])),
        draw(st.sampled_from([b"64", b"65", b"18446744073709551615", b"18446744073709551616"])),
    ]
    if wrstat:
        fields.append(draw(number_texts(0, MAX_U64, [0, 4096])))
    line = b"\t".join(fields)
    damage = draw(st.integers(0, 40))
    if damage == 0:
        line = line.replace(b"\t", b"", 1)  # a dropped tab
    elif damage == 1:
        line += b"\textra"  # an extra field
    elif damage == 2:
        line += b"\r"  # a CRLF line end
    elif damage == 3:
        line = line.replace(b"\t", b"\t\t", 1)
    elif damage == 4:
        line = b""  # an empty line
    return line


def root_line(wrstat: bool) -> bytes:
    path = b'"' + ROOT + b'"' if wrstat else base64.b64encode(ROOT)
    extra = [b"4096"] if wrstat else []
    fields = [path, b"4096", b"0", b"0", b"1", b"2", b"3", b"d", b"2", b"2", b"64", *extra]
    return b"\t".join(fields)


@dataclass
class Crawl:
    data: bytes  # the decompressed content
    members: list[bytes]  # the gzip members' boundaries (the content cut in pieces)
    damage: str  # "", "truncated" or "crc"
    block_size: int


@st.composite
def crawls(draw: st.DrawFn) -> Crawl:
    wrstat = draw(st.booleans())
    count = draw(st.integers(0, 40))
    lines = [root_line(wrstat)]
    for n in range(count):
        if lines and draw(st.integers(0, 9)) == 0:
            lines.append(lines[-1])  # the same name twice: a hard link seen twice
        else:
            lines.append(draw(crawl_line(wrstat, inode=1000 + n)))
    data = b"\n".join(lines) + draw(st.sampled_from([b"\n", b"\n", b"", b"\r\n"]))
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=2, unique=True)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    damage = draw(st.sampled_from(["", "", "", "", "truncated", "crc"]))
    # Small blocks put lines across block boundaries; the reader checks the root in its
    # first block, so a block holds at least the root line.
    block_size = draw(st.sampled_from([64, 65, 100, 257, 4096]))
    return Crawl(data, [p for p in pieces if p], damage, block_size)


def write_crawl(crawl: Crawl, path: Path) -> None:
    members = [gzip.compress(piece, mtime=0) for piece in crawl.members]
    last = members[-1]
    if crawl.damage == "truncated":
        members[-1] = last[: max(10, len(last) - 5)]
    elif crawl.damage == "crc":
        crc = (zlib.crc32(crawl.members[-1]) ^ 1).to_bytes(4, "little")
        members[-1] = last[:-8] + crc + last[-4:]
    path.write_bytes(b"".join(members))


# ------------------------------------------------------------------ the property

REFERENCE_MTIME = 1_800_000_000


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(crawl=crawls())
def test_the_reader_agrees_with_the_reference(tmp_path: Path, crawl: Crawl) -> None:
    expected = reference_read(crawl.data, REFERENCE_MTIME)
    # A sum past bigint is a failure of the publish (§11), not the reader's business.
    assume(all(total <= MAX_OFF_T for total in expected.used.values()))
    path = tmp_path / "20261120_118.dat.gz"
    write_crawl(crawl, path)
    os.utime(path, (REFERENCE_MTIME, REFERENCE_MTIME))

    reader = MpistatReader(
        InputFile.from_path(path), max_bad_fraction=1.0, block_size=crawl.block_size
    )
    if not expected.root_is_valid:
        with pytest.raises(InputError, match="line 1: the first record|gzip|CRC"), reader:
            aggregate_file(reader, lambda: UsageAggregate(REFERENCE_MTIME))
        return
    if crawl.damage:
        with pytest.raises(InputError, match="gzip|CRC|crc"), reader:
            aggregate_file(reader, lambda: UsageAggregate(REFERENCE_MTIME))
        return
    with reader:
        aggregate = aggregate_file(reader, lambda: UsageAggregate(REFERENCE_MTIME))
    assert (reader.lines, reader.bad_lines) == (expected.lines, expected.malformed)
    totals = aggregate.totals()
    assert {gid: t.used for gid, t in totals.items()} == expected.used
    assert {gid: t.newest_mtime for gid, t in totals.items()} == expected.newest_mtime


def test_the_reference_by_hand() -> None:
    """The reference itself, on lines whose answer is known without it."""
    good = root_line(False)
    hard = b"\t".join([base64.b64encode(ROOT + b"/h"), b"10", b"0", b"7", b"0", b"5", b"0"])
    hard += b"\tf\t9\t2\t64"
    data = b"\n".join([good, hard, hard, hard.replace(b"\t2\t", b"\t0\t"), b"", good + b"\r"])
    result = reference_read(data + b"\n", 3)
    # root 4096 (gid 0); the hard link once (10), its nlink-0 twin 0; two malformed
    assert (result.lines, result.malformed) == (6, 2)
    assert result.used == {0: 4096, 7: 10}
    assert result.newest_mtime == {0: 2, 7: 3}  # mtime 5 is after the reference 3
    assert ref_go_unquote(b'"a\\x41\\u00e9\\U0001F600\\t\\""') == 'aA\u00e9\U0001f600\t"'.encode()
    for bad in (b'"\\ud800"', b'"\\U00110000"', b'"\\q"', b'"a', b'"\t"'):
        with pytest.raises(Undecodable):
            ref_go_unquote(bad)
    for bad in (b"QUJD" + b"A", b"QQ=", b"QQ===", b"=QQ=", b"Q!=="):
        with pytest.raises(Undecodable):
            ref_base64(bad)
    assert ref_number(b"18446744073709551615", 0, MAX_U64) == MAX_U64
    assert ref_number(b"18446744073709551616", 0, MAX_U64) is None
