"""The compiled placer's use of what a line's path repeats of the line before's
(humgen_storage/_kernel_inspect.c): the repeated whole groups of a valid base64 path
are not checked again, nor decoded again, and the roots' prefix test is not made
again. Lines that repeat a path up to every position and then go on with anything
(padding, a group decoding to NUL, a tab, a character outside the alphabet, more
groups after a padded one) must be found valid exactly when ``validate`` finds them
so, and decoded to the same directories as Python decodes them.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import numpy as np
import pytest

from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.writer import Record
from tests.helpers import on_kernel_path

# Whole groups and bits of them to go on with after a repeated part.
TAILS = (
    b"", b"QUJD", b"L2Ev", b"L2E=", b"L2==", b"Lw==", b"AAAA", b"QUAA", b"QQA=", b"=",
    b"==", b"Q", b"QU", b"QUJ", b"*UJD", b"\tQUJD", b"L2EvYg", b"QUJDL2E=", b"AAE=",
)  # fmt: skip
NAMES = (b"/a", b"/ab/c.bam", b"/abc/de/f", b"/abcd/ef/gh/i.cram", b"/a/b\n", b"/x/y/zz")


def compiled() -> Any:
    with on_kernel_path(kernel.COMPILED):
        made = kernel.compiled()
    assert made is not None
    return made


def line_of(path_field: bytes, type_: str = "f") -> bytes:
    """A record's line with its path field given as it is written (valid or not)."""
    line = Record(path=b"/p", type=type_, size=3, mtime=5).line()
    return path_field + line[line.index(b"\t") :]


def pairs(seed: int) -> list[bytes]:
    """Blocks of two lines: a valid path, then one repeating it up to every position
    and going on with a tail."""
    rnd = random.Random(seed)
    blocks = []
    for _ in range(60):
        path = rnd.choice(NAMES) + rnd.choice(NAMES)[: rnd.randint(1, 9)]
        first = base64.b64encode(path)
        for cut in range(len(first) + 1):
            second = first[:cut] + rnd.choice(TAILS)
            blocks.append(line_of(first, rnd.choice("fd")) + line_of(second, rnd.choice("fd")))
    return blocks


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("decoding", [True, False])
def test_a_repeated_path_is_valid_exactly_as_validate_finds_it(seed: int, decoding: bool) -> None:
    """Also with no root (``decoding`` off), where no path is decoded: the decoder,
    which checks what it decodes, then does not hide a mistake of the validation."""
    module = compiled()
    decoded: dict[bytes, int] = {}

    def resolve(prefix: bytes, exact: bool) -> tuple[int, bool]:
        return (decoded.setdefault(prefix, len(decoded)) if exact else -2), False

    placer = module.InspectPlacer(resolve, None if decoding else (), False, ())
    valid = 0
    for block in pairs(seed):
        bad = module.validate(block, False, False)[0]
        placed = placer.place_valid(block)
        assert (placed is None) == bool(bad), block
        valid += placed is not None
        if placed is None or not decoding:
            continue
        # Each line's directory as the placer decoded it, against Python's decoding.
        rows = {row: directory for directory, row in decoded.items()}
        files = np.frombuffer(placed[0], dtype=np.intp).reshape(-1, 5)
        directories = np.frombuffer(placed[1], dtype=np.intp).reshape(-1, 5)
        got = {int(line): rows.get(int(row)) for line, row in files[:, :2]}
        got.update({int(line): rows.get(int(row)) for line, row in directories[:, :2]})
        for number, line in enumerate(block.splitlines()):
            path = base64.b64decode(line.split(b"\t")[0])
            slash = len(path) if line.split(b"\t")[7] == b"d" else path.rfind(b"/")
            directory = path[:slash] if slash > 0 and path[:1] == b"/" else None
            assert got.get(number) == directory, (block, number)
    assert valid > 100


def test_a_repeated_path_under_a_root_or_not() -> None:
    """The roots' prefix test made again only when a line does not repeat the whole of
    the longest prefix: paths that share a root's encoded prefix in part, in full, or
    beyond it, in every order."""
    module = compiled()
    roots = (base64.b64encode(b"/lustre/proj")[:12], base64.b64encode(b"/lustre/scratch")[:16])
    paths = [b"/lustre/proj/a", b"/lustre/scratch/b", b"/lustre/pro", b"/lustre/scratc"]
    paths += [b"/lustre/sc", b"/lustre/other", b"/l/x"]  # not under, sharing a part or none
    rnd = random.Random(7)
    for _ in range(200):
        chosen = [rnd.choice(paths) for _ in range(6)]
        block = b"".join(line_of(base64.b64encode(path + b"/f")) for path in chosen)
        placer = module.InspectPlacer(lambda prefix, exact: (0, False), roots, False, ())
        files = np.frombuffer(placer.place_valid(block)[0], dtype=np.intp).reshape(-1, 5)
        under = [
            any(base64.b64encode(path + b"/f").startswith(r) for r in roots) for path in chosen
        ]
        assert files[:, 0].tolist() == [line for line, is_under in enumerate(under) if is_under]
