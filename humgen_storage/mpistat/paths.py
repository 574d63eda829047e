"""Path fields: base64 (mpistat) and Go-quoted strings (wrstat), and their display form.

Paths are raw bytes: any byte but NUL, including tabs, newlines and non-UTF-8.
Jobs keep them as bytes and only turn them into text for display.
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Sequence
from typing import Any

# A valid base64 path field (spec 2.2, "standard alphabet, padded"): characters of the
# alphabet, then "=" or "==" with zero padding bits before them, so that a path has
# exactly one field (the canonical encoding, which the crawler writes; binascii would
# accept other bits, Go's strict decoder would not). The pattern does not count the
# characters: a repeated group of four costs the engine a loop step per group on every
# line, more than numpy takes to check every field's length apart, with the other
# check a pattern cannot make, a decoded NUL (``base64_undecodable_lines``).
BASE64_FIELD = rb"[A-Za-z0-9+/]++(?:(?<=[AQgw])==|(?<=[AEIMQUYcgkosw048])=)?+"

# A Go strconv.Quote string: bytes but NUL, or one of the escapes Go emits, as long as
# it is a byte or code point a path can hold: no NUL (\x00, \u0000, \U00000000), no
# surrogate (U+D800 to U+DFFF), nothing above U+10FFFF. The path is not empty.
_HEX = rb"[0-9a-fA-F]"
_NOT_NUL_OR_SURROGATE = rb"(?!0000|[dD][89a-fA-F])"
_GO_ESCAPE = (
    rb'\\(?:[abfnrtv\\"]|x(?!00)%(h)s{2}|u%(n)s%(h)s{4}|U0000%(n)s%(h)s{4}|U00(?:0[1-9a-fA-F]|10)%(h)s{4})'
    % {b"h": _HEX, b"n": _NOT_NUL_OR_SURROGATE}
)
QUOTED_FIELD = rb'"(?:[^"\\\t\n\x00]++|' + _GO_ESCAPE + rb')++"'
# The shape of a quoted field whatever its escapes stand for: ``decode_quoted_path``
# checks it first, so that its errors say which escape is wrong.
_ANY_ESCAPE = rb'\\(?:[abfnrtv\\"]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})'
_QUOTED_SHAPE = rb'"(?:[^"\\\t\n]++|' + _ANY_ESCAPE + rb')*+"'

_SIMPLE_ESCAPES = {
    b"a": b"\a",
    b"b": b"\b",
    b"f": b"\f",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"v": b"\v",
    b"\\": b"\\",
    b'"': b'"',
}
_ESCAPE_RE = re.compile(rb"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.S)
_QUOTED_RE = re.compile(_QUOTED_SHAPE)
_BASE64_RE = re.compile(BASE64_FIELD)


class PathDecodeError(ValueError):
    """The path field cannot be decoded."""


def decode_base64_path(field: bytes) -> bytes:
    """Decode a base64 path field, as strictly as validation checks it."""
    if not _BASE64_RE.fullmatch(field):
        raise PathDecodeError(
            "undecodable base64 path: wrong padding or character (standard padded base64 expected)"
        )
    try:
        path = binascii.a2b_base64(field, strict_mode=True)
    except binascii.Error as exc:
        raise PathDecodeError(f"undecodable base64 path: {exc}") from None
    if not path or b"\0" in path:
        raise PathDecodeError("empty path or NUL byte in path")
    return path


# A decoded byte is NUL when 8 bits in a row are zero at a byte boundary. In a group of
# four characters c0 c1 c2 c3 (6 bits each), byte 0 is c0 and c1's top 2 bits: NUL when
# c0 is "A" and c1 one of A-P; byte 1 is c1's low 4 bits and c2's top 4: c1 one of AQgw
# and c2 one of A-D; byte 2 is c2's low 2 bits and c3: c2 one of AEIMQUYcgkosw048 and
# c3 "A". Each case has a character of A-D at a fixed place in its group (c0, c2, c3),
# so only those characters are looked at, then their neighbours, then (for the few
# left) their place in the group.
_FIRST, _LAST = ord("A"), ord("D")
_NEWLINE = ord("\n")
_BASE64_FIELDS = 11


@functools.lru_cache(maxsize=1)
def _nul_neighbours() -> tuple[Any, Any, Any]:
    """Lookup tables (256 booleans) of the characters A-P, AQgw and AEIMQUYcgkosw048."""
    import numpy as np

    tables = []
    for characters in (b"ABCDEFGHIJKLMNOP", b"AQgw", b"AEIMQUYcgkosw048"):
        member = np.zeros(256, dtype=bool)
        member[list(characters)] = True
        tables.append(member)
    return tables[0], tables[1], tables[2]


def base64_undecodable_lines(block: bytes) -> list[int]:
    """The lines (numbered from 0, in order) of ``block`` whose base64 path field is not
    whole groups of four characters, or decodes to a path with a NUL byte.

    ``block``: whole lines that match the base64 record pattern, so each line has 11
    fields, its path field first, no byte below the tab but its newline, and no capital
    A-D outside the path (the other fields are digits and a type letter). Vectorised:
    a few passes of numpy over the block, and no decoding.
    """
    import numpy as np

    a_to_p, aqgw, low_bits_zero = _nul_neighbours()
    data = np.frombuffer(block, dtype=np.uint8)
    separators = np.flatnonzero(data <= _NEWLINE).reshape(-1, _BASE64_FIELDS)
    starts = np.empty(len(separators), dtype=np.intp)
    starts[:1] = 0
    starts[1:] = separators[:-1, -1] + 1
    bad = (separators[:, 0] - starts) % 4 != 0
    at = np.flatnonzero(data - np.uint8(_FIRST) <= _LAST - _FIRST)  # below "A" wraps around
    if len(at):
        after = data[at + 1]  # never past the end: the block ends with a newline
        before = data[at - 1]  # at 0: the block's last byte, a newline
        is_a = data[at] == _FIRST
        first_of_group = is_a & a_to_p[after]
        third_of_group = aqgw[before]
        fourth_of_group = is_a & low_bits_zero[before]
        suspect = first_of_group | third_of_group | fourth_of_group
        if suspect.any():
            positions = at[suspect]
            line = np.searchsorted(starts, positions, side="right") - 1
            place = (positions - starts[line]) % 4
            nul = (
                (first_of_group[suspect] & (place == 0))
                | (third_of_group[suspect] & (place == 2))
                | (fourth_of_group[suspect] & (place == 3))
            )
            bad[line[nul]] = True
    return np.flatnonzero(bad).tolist() if bad.any() else []  # type: ignore[no-any-return]


def _unescape(match: re.Match[bytes]) -> bytes:
    escape = match.group(1)
    kind = escape[:1]
    if kind == b"x":
        return bytes([int(escape[1:], 16)])
    if kind in (b"u", b"U"):
        code = int(escape[1:], 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise PathDecodeError(f"invalid code point in path: \\{escape.decode()}")
        return chr(code).encode("utf-8")
    try:
        return _SIMPLE_ESCAPES[escape]
    except KeyError:
        raise PathDecodeError(f"unknown escape in path: \\{escape.decode('latin-1')}") from None


def decode_quoted_path(field: bytes) -> bytes:
    """Decode a Go-quoted path (wrstat format) to raw bytes."""
    if not _QUOTED_RE.fullmatch(field):
        raise PathDecodeError("malformed quoted path")
    path = _ESCAPE_RE.sub(_unescape, field[1:-1])
    if not path or b"\0" in path:
        raise PathDecodeError("empty path or NUL byte in path")
    return path


def encode_base64_path(path: bytes) -> bytes:
    return binascii.b2a_base64(path, newline=False)


# Bytes Go's strconv.Quote writes as they are: printable ASCII but '"' and '\\'.
_GO_PLAIN = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}


def encoded_prefix(raw_prefix: bytes, quoted: bool) -> bytes:
    """A prefix that the encoded path field of every path starting with ``raw_prefix``
    has, so fields can be ruled out before any decoding.

    Go-quoted (``quoted``): the opening quote and the leading bytes quoting keeps as
    they are (it stops at anything it might escape). Base64: the encoding of the whole
    3-byte groups, as base64 encodes each group independently of what follows.
    """
    if quoted:
        plain = 0
        while plain < len(raw_prefix) and raw_prefix[plain] in _GO_PLAIN:
            plain += 1
        return b'"' + raw_prefix[:plain]
    whole = len(raw_prefix) // 3 * 3
    return binascii.b2a_base64(raw_prefix[:whole], newline=False)


def go_quote(path: bytes) -> bytes:
    """Quote raw path bytes the way Go's strconv.Quote does (used by tests and the benchmark)."""
    out = bytearray(b'"')
    text = path.decode("utf-8", errors="surrogateescape")
    reverse = {v: k for k, v in _SIMPLE_ESCAPES.items() if k not in (b"\\", b'"')}
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte
            out += b"\\x%02x" % (code - 0xDC00)
        elif char in ('"', "\\"):
            out += b"\\" + char.encode()
        elif char.encode("utf-8", "surrogatepass") in reverse:
            out += b"\\" + reverse[char.encode()]
        elif char.isprintable() or char == " ":
            out += char.encode("utf-8")
        elif code < 0x80:  # Go writes ASCII control bytes and DEL as \xNN
            out += b"\\x%02x" % code
        elif code < 0x10000:
            out += b"\\u%04x" % code
        else:
            out += b"\\U%08x" % code
    out += b'"'
    return bytes(out)


def display_name(path: bytes) -> str:
    """Text for output: UTF-8, undecodable bytes as \\xNN, and tab, newline and backslash
    as \\t, \\n and \\\\ (spec section 5)."""
    # Backslashes are doubled before \\xNN escapes are added, so that a literal
    # backslash and an undecodable byte stay distinguishable.
    text = path.replace(b"\\", b"\\\\").decode("utf-8", errors="backslashreplace")
    if "\t" in text or "\n" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n")
    return text


# A valid wrstat line cut where the rewriting needs it: the quoted path's contents
# (a valid field holds no raw tab, so its closing quote is the last one before the
# first tab), then fields 2-11 with the tab before them; the 12th field is dropped.
_WRSTAT_LINE = re.compile(rb'"([^\t]*)"(\t[^\n]*)\t[0-9]++\n')


def wrstat_to_base64_lines(data: bytes) -> tuple[bytes, list[bytes]]:
    """Valid wrstat lines (each ending in a newline) rewritten as the base64 lines of
    the same records: the path's raw bytes in standard padded base64, fields 2-11 as
    they are, the 12th field dropped. Also the lines (without their newline) whose
    path does not decode: they are left out of the result.

    Done on a whole run of lines at once: one ``findall`` cuts every line, the
    contents of a field without escapes are its path (nearly every path), and the
    result is one ``join``. Only the lines with an escape, found by a search over the
    whole run, are decoded one by one.
    """
    cuts = _WRSTAT_LINE.findall(data)
    if not cuts:
        return b"", []
    paths: Sequence[bytes | None]
    paths, middles = zip(*cuts, strict=True)
    undecodable: list[bytes] = []
    # A field's contents are not its path's raw bytes, or may not decode, when they hold
    # an escape, or a NUL (quoting never writes one, but the reader lets it pass), or
    # nothing.
    if b"\\" in data or b"\0" in data or b"" in paths:
        paths, undecodable = _decode_escaped(data, paths, middles)
        if undecodable:
            middles = tuple(m for p, m in zip(paths, middles, strict=True) if p is not None)
            paths = [p for p in paths if p is not None]
    pieces: list[bytes] = [b"\n"] * (3 * len(middles))
    pieces[0::3] = map(_encode_base64, paths)  # type: ignore[arg-type]
    pieces[1::3] = middles
    return b"".join(pieces), undecodable


def _encode_base64(path: bytes) -> bytes:
    return binascii.b2a_base64(path, newline=False)


def _decode_escaped(
    data: bytes, contents: tuple[bytes, ...], middles: tuple[bytes, ...]
) -> tuple[list[bytes | None], list[bytes]]:
    """(the paths of the lines of ``data``, None where a path does not decode; the
    undecodable lines without their newline, in order), from the quoted fields'
    ``contents``: those with an escape, a NUL or nothing are decoded, the others are
    the path already."""
    to_decode: set[int] = set()
    # Only the path field of a valid line can hold a backslash or a NUL (the others
    # are digits and the type letter): the line of each is its number of newlines.
    # Found with ``bytes.find``, which skips to the next one far faster than ``re``.
    for byte in (b"\\", b"\0"):
        line = scanned = 0
        position = data.find(byte)
        while position >= 0:
            line += data.count(b"\n", scanned, position)
            scanned = position
            to_decode.add(line)
            position = data.find(byte, position + 1)
    if b"" in contents:
        to_decode.update(index for index, content in enumerate(contents) if not content)
    paths: list[bytes | None] = list(contents)
    undecodable: list[bytes] = []
    for index in sorted(to_decode):
        field = b'"' + contents[index] + b'"'
        try:
            paths[index] = decode_quoted_path(field)
        except PathDecodeError:
            paths[index] = None
            undecodable.append(field + middles[index])  # the 12th field is not needed
    return paths, undecodable
