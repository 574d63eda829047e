"""Malformed lines as every job's validation finds them (spec sections 2.3 and 11):
numbers at and beyond the 63/64-bit edges, and every kind of undecodable path, in
``clean_block`` (report, inspect) and ``field_runs`` (split) alike.

Each verdict is checked against a reference written here from the spec: a base64
path is valid when standard padded base64 decodes it, its encoding is the field
itself (canonical: the padding bits are zero), and the path holds no NUL byte.
"""

from __future__ import annotations

import binascii
import random

import pytest

from humgen_storage.mpistat.paths import go_quote
from humgen_storage.mpistat.patterns import Format, clean_block, explain_bad_line, field_runs
from humgen_storage.mpistat.writer import Record

ROOT = Record(b"/lustre/scratch118", type="d")
GOOD = Record(b"/lustre/scratch118/humgen/projects/p1/good", size=5, gid=1001)
NUMBERS_LINE = b"\t%d\t%d\t%d\t1\t2\t3\tf\t%d\t%d\t%d"


def line(fmt: Format, path_field: bytes, size: int = 1, **fields: int) -> bytes:
    """A line with the given raw path field and numbers (uid, gid, inode, nlink, dev)."""
    numbers = NUMBERS_LINE % (
        size,
        fields.get("uid", 1),
        fields.get("gid", 1001),
        fields.get("inode", 7),
        fields.get("nlink", 1),
        fields.get("dev", 1),
    )
    extra = b"\t%d" % size if fmt is Format.WRSTAT else b""
    return path_field + numbers + extra + b"\n"


def path_field(fmt: Format, path: bytes) -> bytes:
    if fmt is Format.WRSTAT:
        return go_quote(path)
    return binascii.b2a_base64(path, newline=False)


def verdicts(fmt: Format, lines: list[bytes]) -> tuple[list[int], list[int]]:
    """The 1-based numbers of the malformed lines, by ``clean_block`` and by ``field_runs``,
    with a check that both keep exactly the other lines, in order."""
    block = b"".join(lines)
    valid, bad = clean_block(fmt, block, 1)
    runs, bad_runs = field_runs(fmt, "gid", block, 1)
    bad_numbers = [n for n, _ in bad]
    expected_valid = b"".join(x for n, x in enumerate(lines, 1) if n not in bad_numbers)
    assert valid == expected_valid
    assert b"".join(run for run, _ in runs) == expected_valid
    return bad_numbers, [n for n, _ in bad_runs]


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize(
    ("field", "value", "malformed"),
    [
        ("size", 2**63 - 1, False),  # off_t is signed 64-bit
        ("size", 2**63, True),
        ("size", 2**64 - 1, True),
        ("size", 10**19, True),
        ("uid", 2**64 - 1, False),
        ("uid", 2**64, True),
        ("gid", 2**64 - 1, False),
        ("gid", 2**64, True),
        ("inode", 2**64 - 1, False),
        ("inode", 2**64, True),
        ("nlink", 2**64 - 1, False),
        ("nlink", 2**64, True),
        ("dev", 2**64 - 1, False),
        ("dev", 2**64, True),
    ],
)
def test_numbers_at_and_beyond_the_64_bit_edges(
    fmt: Format, field: str, value: int, malformed: bool
) -> None:
    good = GOOD.line(fmt)
    tested = line(fmt, path_field(fmt, b"/lustre/scratch118/edge"), **{field: value})
    expected = [2] if malformed else []
    assert verdicts(fmt, [ROOT.line(fmt), tested, good]) == (expected, expected)


def _base64_of_length(remainder: int) -> bytes:
    """A canonical field of a path, without padding, then cut to length 4k + remainder."""
    field = binascii.b2a_base64(b"/lustre/scratch118/ab", newline=False)  # 21 bytes: no "="
    assert b"=" not in field and len(field) % 4 == 0
    return field + b"QUJD"[:remainder]


UNDECODABLE_BASE64 = {
    "length 1 mod 4": _base64_of_length(1),
    "length 2 mod 4, unpadded": _base64_of_length(2),
    "length 3 mod 4, unpadded": _base64_of_length(3),
    "padding in the middle": b"L2E=L2E=",
    "three padding characters": b"L2E===",
    "non-zero padding bits (one =)": b"L2F=",  # canonical: L2E=
    "non-zero padding bits (two =)": b"LR==",  # canonical: LQ==
    "NUL, first byte of a group": binascii.b2a_base64(b"\0/a", newline=False),
    "NUL, second byte of a group": binascii.b2a_base64(b"/\0a", newline=False),
    "NUL, third byte of a group": binascii.b2a_base64(b"/a\0", newline=False),
    "NUL, in a padded group": binascii.b2a_base64(b"/lustre/x\0", newline=False),
    "only a NUL": b"AA==",
    "NUL deep in a long path": binascii.b2a_base64(
        b"/lustre/scratch118/" * 9 + b"\0", newline=False
    ),
    "alphabet": b"L2-h",
}

UNDECODABLE_QUOTED = {
    "\\x00": rb'"/lustre/a\x00b"',
    "\\u0000": rb'"/lustre/a\u0000b"',
    "\\U00000000": rb'"/lustre/a\U00000000b"',
    "\\U00110000 (above U+10FFFF)": rb'"/lustre/a\U00110000b"',
    "\\U7fffffff": rb'"/lustre/a\U7fffffffb"',
    "\\ud800 (a surrogate)": rb'"/lustre/a\ud800b"',
    "\\uDFFF (a surrogate, capitals)": rb'"/lustre/a\uDFFFb"',
    "\\U0000d800 (a surrogate)": rb'"/lustre/a\U0000d800b"',
    "raw NUL byte": b'"/lustre/a\x00b"',
    "empty path": b'""',
    "unknown escape": rb'"/lustre/a\qb"',
    "short \\x escape": rb'"/lustre/a\x0"',
}

UNDECODABLE = [(Format.BASE64, name, field) for name, field in UNDECODABLE_BASE64.items()] + [
    (Format.WRSTAT, name, field) for name, field in UNDECODABLE_QUOTED.items()
]


@pytest.mark.parametrize(("fmt", "kind", "field"), UNDECODABLE, ids=[k for _, k, _ in UNDECODABLE])
def test_every_undecodable_path_is_malformed_in_every_job(
    fmt: Format, kind: str, field: bytes
) -> None:
    bad = line(fmt, field)
    assert verdicts(fmt, [ROOT.line(fmt), bad, GOOD.line(fmt)]) == ([2], [2])
    # The log says why.
    assert "path" in explain_bad_line(fmt, bad[:-1])


@pytest.mark.parametrize(
    "field",
    [
        rb'"/lustre/a\x01\xffb"',
        rb'"/lustre/a\u0001\ud7ff\ue000\uffffb"',
        rb'"/lustre/a\U00000001\U0010ffff\U0001F600b"',
        rb'"/lustre/a\"\\\a\b\f\n\r\t\vb"',
        b'"/lustre/raw \x01 control"',
    ],
)
def test_decodable_escapes_stay_valid(field: bytes) -> None:
    fmt = Format.WRSTAT
    assert verdicts(fmt, [ROOT.line(fmt), line(fmt, field), GOOD.line(fmt)]) == ([], [])


def _reference_base64_valid(field: bytes) -> bool:
    """From the spec: standard padded base64 of a path with no NUL, written canonically."""
    try:
        path = binascii.a2b_base64(field, strict_mode=True)
    except binascii.Error:
        return False
    return bool(path) and b"\0" not in path and binascii.b2a_base64(path, newline=False) == field


def _random_fields(rng: random.Random, count: int) -> list[bytes]:
    """Encodings of random paths with NUL bytes at random places (every position in a
    3-byte group, padded or not), and random strings of the base64 alphabet."""
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    fields = []
    for n in range(count):
        if n % 3:
            size = rng.randint(1, 14)
            raw = bytes(
                rng.choice((0, 1, 0x40, 0x80, 0xFF, rng.randrange(256))) for _ in range(size)
            )
            if n % 5 == 0:
                raw = raw.replace(b"\0", b"/")
            fields.append(binascii.b2a_base64(raw, newline=False))
        else:
            size = rng.randint(1, 13)
            text = bytes(rng.choice(alphabet) for _ in range(size))
            fields.append(text + b"=" * rng.choice((0, 0, 1, 2)))
    return fields


def test_base64_verdicts_match_the_reference_over_random_fields() -> None:
    """Thousands of fields in one block (so NUL groups are found at every alignment of
    every line), and each field alone in a block."""
    rng = random.Random(16)
    fields = _random_fields(rng, 3000)
    fmt = Format.BASE64
    lines = [ROOT.line(fmt)] + [line(fmt, f) for f in fields]
    expected = [n for n, f in enumerate(fields, start=2) if not _reference_base64_valid(f)]
    assert 300 < len(expected) < 2700  # both verdicts are well represented
    assert verdicts(fmt, lines) == (expected, expected)
    for field in fields[:300]:
        one = [ROOT.line(fmt), line(fmt, field)]
        want = [] if _reference_base64_valid(field) else [2]
        assert verdicts(fmt, one) == (want, want), field


def test_quoted_verdicts_match_the_decoder_over_random_escapes() -> None:
    """Escapes with values at and around every edge (NUL, surrogates, U+10FFFF): the
    pattern keeps a line exactly when the decoder (written apart, escape by escape)
    gives a path without NUL."""
    rng = random.Random(16)
    edges = [0, 1, 0x7F, 0xD7FF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xE000, 0xFFFF]
    edges += [0x10000, 0x10FFFF, 0x110000, 0xFFFFFFFF]
    escapes = []
    for _ in range(400):
        value = rng.choice(edges + [rng.randrange(0x120000)])
        kind = rng.choice("xuU")
        width = {"x": 2, "u": 4, "U": 8}[kind]
        digits = b"%0*x" % (width, value % 16**width)
        if rng.random() < 0.3:
            digits = digits.upper()
        escapes.append(b"\\" + kind.encode() + digits)
    fmt = Format.WRSTAT
    fields = [b'"/lustre/' + escape + b'"' for escape in escapes]

    def decodes(escape: bytes) -> bool:
        value = int(escape[2:], 16)
        if escape[1:2] == b"x":
            return value != 0
        return 0 < value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF

    lines = [ROOT.line(fmt)] + [line(fmt, f) for f in fields]
    expected = [n for n, e in enumerate(escapes, start=2) if not decodes(e)]
    assert 20 < len(expected) < 380
    assert verdicts(fmt, lines) == (expected, expected)
