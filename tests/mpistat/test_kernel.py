"""The compiled kernel and the numpy path give identical results: valid lines, malformed
line numbers and reasons, every number column, the split's runs, on the fixture crawls
and on generated blocks holding every kind of malformed line, in both formats."""

from __future__ import annotations

import binascii
import logging
import os
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from isal import igzip

from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.columns import BlockColumns
from humgen_storage.mpistat.paths import go_quote
from humgen_storage.mpistat.patterns import (
    Format,
    clean_block,
    count_lines,
    detect_format,
    field_runs,
)
from tests.helpers import REPO, on_kernel_path

FIXTURES = sorted((REPO / "fixtures" / "mpistat").glob("*.dat.gz"))
NUMBER_COLUMNS = ("size", "uid", "gid", "atime", "mtime", "ctime", "inode", "nlink", "dev")


def both(func: Callable[[], Any]) -> Any:
    """``func()`` on each path, asserted equal; the result."""
    with on_kernel_path(kernel.COMPILED):
        compiled = func()
    with on_kernel_path(kernel.NUMPY):
        numpy_path = func()
    assert compiled == numpy_path
    return compiled


def everything(fmt: Format, block: bytes) -> tuple[Any, ...]:
    """What every job takes from a block, in comparable form."""
    valid, bad = clean_block(fmt, block, 1)
    runs, bad_runs = field_runs(fmt, "gid", block, 1)
    columns = BlockColumns.of(fmt, valid)
    cut = columns.separators.tolist()
    numbers = {}
    for name in (*NUMBER_COLUMNS, "type"):
        column = columns.column(name)
        numbers[name] = (column.dtype.str, column.tolist())
        every_third = columns.column(name, np.arange(0, len(columns), 3))
        assert every_third.tolist() == column.tolist()[::3]
    return valid, bad, runs, bad_runs, cut, numbers


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_the_fixture_crawls_in_both_formats(path: Any) -> None:
    data = igzip.decompress(path.read_bytes())
    fmt = detect_format(data[:1])
    assert both(lambda: everything(fmt, data))[1] == []
    if fmt is Format.WRSTAT:
        return
    lines = data.splitlines(keepends=True)
    quoted = b"".join(
        go_quote(binascii.a2b_base64(line.split(b"\t", 1)[0]))
        + line[line.index(b"\t") : -1]
        + b"\t"
        + line.split(b"\t", 2)[1]
        + b"\n"
        for line in lines
    )
    assert both(lambda: everything(Format.WRSTAT, quoted))[1] == []


def _numbers(rng: random.Random) -> list[bytes]:
    """Ten number fields and the type, sometimes at or past their edges."""
    edges = [
        b"0",
        b"00",
        b"9223372036854775807",
        b"9223372036854775808",
        b"18446744073709551615",
        b"18446744073709551616",
        b"099999999999999999999",
        b"-1",
        b"-9223372036854775807",
        b"-9223372036854775808",
        b"",
        b"1a",
        b"+1",
        b" 1",
    ]

    def number() -> bytes:
        return rng.choice(edges) if rng.random() < 0.1 else str(rng.randrange(10**12)).encode()

    def time() -> bytes:
        value = rng.choice(edges) if rng.random() < 0.1 else str(rng.randrange(-(10**9), 2 * 10**9))
        return value if isinstance(value, bytes) else value.encode()

    kind = rng.choice(b"fdlsbcFX") if rng.random() < 0.95 else rng.choice(b"xD-1")
    return [number(), number(), number(), time(), time(), time(), bytes([kind])] + [
        number() for _ in range(3)
    ]


def _base64_path(rng: random.Random) -> bytes:
    raw = bytes(rng.choice(b"/abc\0\xff\t\nAZ09") for _ in range(rng.randrange(0, 9)))
    field = binascii.b2a_base64(raw, newline=False)
    mutation = rng.random()
    if mutation < 0.1 and field:
        field = field.rstrip(b"=")  # unpadded
    elif mutation < 0.2 and field.endswith(b"="):  # padding bits set
        last = field.rstrip(b"=")
        field = last[:-1] + bytes([last[-1] + 1]) + field[len(last) :]
    elif mutation < 0.3:
        field += rng.choice([b"Q", b"=", b"==", b"===", b"-", b"A"])
    return field


def _quoted_path(rng: random.Random) -> bytes:
    pieces = [
        b"a",
        b"/",
        b"\xff",
        b"\x01",
        b"\\n",
        b"\\x00",
        b"\\x7F",
        b"\\u0000",
        b"\\u00e9",
        b"\\ud800",
        b"\\uDFFF",
        b"\\uE000",
        b"\\U0001F600",
        b"\\U0010FFFF",
        b"\\U00110000",
        b"\\U0000d800",
        b"\\q",
        b"\\",
        b"\\x4",
        b'"',
        b"\0",
    ]
    inner = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 5)))
    return b'"' + inner + b'"'


def generated_block(fmt: Format, seed: int, lines: int = 400) -> bytes:
    """Lines of ``fmt``, a third or so malformed in every way the rules know."""
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        path = _quoted_path(rng) if fmt is Format.WRSTAT else _base64_path(rng)
        fields = [path, *_numbers(rng)]
        if fmt is Format.WRSTAT:
            fields.append(rng.choice([b"12", b"18446744073709551616", b"-1"]))
        if rng.random() < 0.03:
            fields.pop(rng.randrange(len(fields)))
        elif rng.random() < 0.03:
            fields.append(b"1")
        out.append(b"\t".join(fields) + b"\n")
    tail = rng.choice([b"", b"", b"partial\tline"])
    return b"".join(out) + tail


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("seed", range(6))
def test_generated_blocks_with_every_malformed_kind(fmt: Format, seed: int) -> None:
    block = generated_block(fmt, seed)
    valid, bad, *_ = both(lambda: everything(fmt, block))
    assert 0 < len(bad) < 400 and valid
    both(lambda: everything(fmt, b""))


def test_the_kernel_numbers_lines_and_cuts_them() -> None:
    with on_kernel_path(kernel.COMPILED):
        compiled = kernel.compiled()
        assert compiled is not None
        good = b"QQ==\t1\t2\t3\t-4\t5\t6\tf\t7\t8\t9\n"
        block = good + b"AA==" + good[4:] + good + b"x\n" + good
        bad, cut = compiled.validate(block, False, True)
        assert (bad, cut) == ([1, 3], None)  # "AA==" decodes to a NUL byte
        _, cut = compiled.validate(good * 2, False, True)
        rows = np.frombuffer(cut, dtype=np.intp).reshape(2, 11)
        assert rows[1].tolist() == [
            len(good) + i for i in (4, 6, 8, 10, 13, 15, 17, 19, 21, 23, 25)
        ]
        with pytest.raises(ValueError, match="line 3 of the block has not 11 fields"):
            compiled.separators(block, False)


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 4095, 4096, 4080 * 2 + 5, 70_000])
def test_both_paths_count_the_same_lines(length: int) -> None:
    # Every tail length around the kernel's 16-byte rounds and its 255-round lanes; a
    # block of only newlines fills every lane to the brim.
    rng = np.random.default_rng(length)
    data = rng.choice(np.frombuffer(b"ab\n\xff", np.uint8), size=length).tobytes()
    for block in (data, b"\n" * length):
        assert both(lambda block=block: count_lines(block)) == block.count(b"\n")


def test_not_built_is_said_once(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    def no_kernel(name: str) -> None:
        raise ImportError(name)

    with on_kernel_path(kernel.COMPILED):
        monkeypatch.setattr(kernel.importlib, "import_module", no_kernel)
        kernel.reset()
        kernel._warn_not_built.cache_clear()
        caplog.set_level(logging.WARNING)
        assert kernel.compiled() is None and kernel.compiled() is None
        assert kernel.active() == kernel.NUMPY and kernel.active_reason() == "not built"
        assert [r.getMessage() for r in caplog.records] == [kernel.NOT_BUILT]
        assert clean_block(Format.BASE64, b"QQ==\t1\t2\t3\t4\t5\t6\tf\t7\t8\t9\n", 1)[1] == []
    caplog.clear()
    with on_kernel_path(kernel.NUMPY):  # turned off on purpose: no warning
        assert kernel.compiled() is None and caplog.records == []


@pytest.mark.parametrize("path", [kernel.COMPILED, kernel.NUMPY])
def test_version_says_which_path_is_active(path: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "humgen_storage.cli", "--version"],
        env={**os.environ, "PYTHONPATH": str(REPO), kernel.KERNEL_ENV: path},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip().endswith(f"(kernel: {path})")
