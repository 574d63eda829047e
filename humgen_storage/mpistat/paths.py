"""Path fields: base64 (mpistat) and Go-quoted strings (wrstat), and their display form.

Paths are raw bytes: any byte but NUL, including tabs, newlines and non-UTF-8.
Jobs keep them as bytes and only turn them into text for display.
"""

from __future__ import annotations

import binascii
import re

# The characters a valid base64 field may hold; checked in the record pattern.
BASE64_FIELD = rb"[A-Za-z0-9+/]+={0,2}"

# A Go strconv.Quote string: printable bytes, or one of the escapes Go emits.
_GO_ESCAPE = rb'\\(?:[abfnrtv\\"]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})'
QUOTED_FIELD = rb'"(?:[^"\\\t\n]++|' + _GO_ESCAPE + rb')*+"'

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
_QUOTED_RE = re.compile(QUOTED_FIELD)


class PathDecodeError(ValueError):
    """The path field cannot be decoded."""


def decode_base64_path(field: bytes) -> bytes:
    try:
        path = binascii.a2b_base64(field, strict_mode=True)
    except binascii.Error as exc:
        raise PathDecodeError(f"undecodable base64 path: {exc}") from None
    if not path or b"\0" in path:
        raise PathDecodeError("empty path or NUL byte in path")
    return path


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
