"""Names from the directory and from files are data: which are safe, and how to show them.

A group name (or a PI's surname) becomes a value in a ``VARCHAR(255)`` column, a
field of a TSV line, part of an S3 key and of a file name, an argument of ``lfs``
and a word in a log line. A name that cannot be all of these safely (SPEC §11) is
not used at all: the directory gives its group no name, so every job reports it by
gid, as a gid unknown to the directory is reported, and the run is degraded.

``printable`` is the one way a name (or any text from outside) is written into a log
line: control characters, surrogates and backslashes escaped, very long text cut.
"""

from __future__ import annotations

# The text columns that hold names (`Unix Group`, `PI`) are VARCHAR(255); MySQL
# counts their length in characters.
NAME_COLUMN_CHARACTERS = 255
# Longest file name most filesystems allow (NAME_MAX), in bytes.
NAME_MAX = 255
# The splitter writes a group's records to ``<name>.dat.gz``.
GROUP_FILE_SUFFIX = ".dat.gz"
# How much of a name a log line shows before it is cut.
PRINTABLE_CHARACTERS = 80


def is_control(char: str) -> bool:
    """C0 controls, DEL and C1 controls (Unicode category Cc)."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def _is_surrogate(char: str) -> bool:
    # A lone surrogate is what undecodable bytes become (``surrogateescape``): no
    # utf8mb4 column or UTF-8 file can hold it.
    return 0xD800 <= ord(char) <= 0xDFFF


def is_safe_file_name(name: str | None) -> bool:
    """A name usable as ``<name>.dat.gz`` in a directory.

    Not empty, no ``/`` or NUL, not starting with ``.``, and the file name must fit
    in NAME_MAX bytes, or creating it would fail the run.
    """
    if not name or name.startswith(".") or "/" in name or "\0" in name:
        return False
    try:
        encoded = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return len(encoded) + len(GROUP_FILE_SUFFIX) <= NAME_MAX


def unsafe_text(text: str) -> str | None:
    """Why ``text`` cannot be stored in a name column or written to a TSV or a log
    line as it is; None when it can."""
    if len(text) > NAME_COLUMN_CHARACTERS:
        return f"longer than {NAME_COLUMN_CHARACTERS} characters ({len(text)})"
    if any(is_control(char) for char in text):
        return "holds a control character"
    if any(_is_surrogate(char) for char in text):
        return "is not valid UTF-8"
    return None


def unsafe_group_name(name: str) -> str | None:
    """Why ``name`` cannot be a group's name in every output; None when it can."""
    problem = unsafe_text(name)
    if problem is None and not is_safe_file_name(name):
        problem = "is not a safe file name (empty, '/', leading '.', or too long)"
    return problem


def printable(text: str | bytes | None) -> str:
    """``text`` for a log line: control characters, surrogates and backslashes as
    ``\\xNN``/``\\uNNNN``/``\\\\`` escapes, cut after PRINTABLE_CHARACTERS characters
    (the length said). Messages put it in double quotes where spaces matter; a double
    quote inside is escaped, so the quoted text is unambiguous."""
    if text is None:
        return "(none)"
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    shown = text[:PRINTABLE_CHARACTERS]
    escaped = "".join(_escaped(char) for char in shown)
    if len(text) > PRINTABLE_CHARACTERS:
        escaped += f"... ({len(text)} characters)"
    return escaped


def _escaped(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char == '"':
        return '\\"'
    if _is_surrogate(char):
        code = ord(char)
        # surrogateescape keeps an undecodable byte B as U+DC00+B: show the byte.
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
    if is_control(char):
        return f"\\x{ord(char):02x}"
    return char
