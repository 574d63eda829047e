"""The README documents the command line as it is (as sqlite-utils' tests/test_docs.py)."""

from __future__ import annotations

import re

import pytest

from humgen_storage.cli import COMMANDS, main
from tests.helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
USAGE = README.split("## Usage", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"^```\n(.*?)^```$", USAGE, flags=re.DOTALL | re.MULTILINE)


def test_the_usage_block_is_the_parsers_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps to the terminal's width
    assert main(["--help"]) == 0
    assert BLOCKS[0] == capsys.readouterr().out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_is_documented(command: str) -> None:
    forms = re.findall(r"^  (\w+) ", BLOCKS[1], flags=re.MULTILINE)
    assert command in forms
    assert f"    {command} " in BLOCKS[0]
