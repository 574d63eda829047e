"""The safe-name rule and the log escape (humgen_storage.names), by hand."""

from __future__ import annotations

import pytest

from humgen_storage.names import printable, unsafe_group_name, unsafe_text


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("hgi", None),
        ("team-113_x.y", None),
        ("caf\u00e9 \u2603", None),  # printable non-ASCII is data like any other
        ("a" * 248, None),  # 248 + len(".dat.gz") = NAME_MAX
        ("a" * 249, "is not a safe file name"),
        ("\u00e9" * 124, None),  # 248 bytes
        ("\u00e9" * 125, "is not a safe file name"),  # 250 bytes: no file name
        ("x" * 256, "longer than 255 characters (256)"),
        ("nul\x00", "holds a control character"),
        ("tab\there", "holds a control character"),
        ("line\nfeed", "holds a control character"),
        ("cr\r", "holds a control character"),
        ("esc\x1b", "holds a control character"),
        ("del\x7f", "holds a control character"),
        ("c1\x80", "holds a control character"),
        ("c1\x9f", "holds a control character"),
        ("\xa0nbsp", None),  # U+00A0 is past the C1 block
        ("bad\udcff", "is not valid UTF-8"),
        ("", "is not a safe file name"),
        (".hidden", "is not a safe file name"),
        ("a/b", "is not a safe file name"),
    ],
)
def test_unsafe_group_name(name: str, problem: str | None) -> None:
    found = unsafe_group_name(name)
    assert (found is None) == (problem is None), found
    if problem is not None:
        assert found is not None and found.startswith(problem)


def test_a_pi_surname_needs_no_file_name() -> None:
    assert unsafe_text(".Smith/Jones") is None
    assert unsafe_text("x" * 255) is None
    assert unsafe_text("x" * 256) == "longer than 255 characters (256)"


def test_printable_escapes_every_control_character_and_cuts_long_text() -> None:
    assert printable("plain name") == "plain name"
    assert printable("a\x00b\tc\nd\re\x1bf\x7fg\x85h") == (
        "a\\x00b\\x09c\\x0ad\\x0de\\x1bf\\x7fg\\x85h"
    )
    assert printable('back\\slash "q"') == 'back\\\\slash \\"q\\"'
    assert printable(b"raw\xff\x01") == "raw\\xff\\x01"
    assert printable("lone\ud800") == "lone\\ud800"
    assert printable("y" * 81) == "y" * 80 + "... (81 characters)"
    assert printable(None) == "(none)"
    for code in range(0x100):
        shown = printable(chr(code))
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown), code
