"""Time the inspector's block fold, as a helper process does it, on blocks of a bench volume.

Runs ``ProjectInspector.add_raw_block`` (the kernel validating and placing each line,
then Python adding the records up) over the first blocks of the file (4 MiB cut
after their last newline, as the jobs read them), then pickles the partial as a
helper sends it back, and prints the CPU time of the shortest of the repetitions in
ns a line. ``--only place_valid`` runs the kernel's ``InspectPlacer.place_valid``
alone; ``--only none`` only reads the blocks and makes the inspector, so that under
callgrind the fold's instructions are a run's count less that one's::

    python bench/inspect_fold.py --extract /tmp/blocks.dat
    valgrind --tool=callgrind --toggle-collect=placer_place_valid \\
        python bench/inspect_fold.py --input /tmp/blocks.dat --only place_valid --repeat 1
    valgrind --tool=callgrind python bench/inspect_fold.py --input /tmp/blocks.dat --repeat 1
    valgrind --tool=callgrind python bench/inspect_fold.py --input /tmp/blocks.dat --only none
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import time
from collections.abc import Callable
from pathlib import Path

from kernel_validate import read_blocks

from humgen_storage.config import DEFAULT_FILE_CLASSES
from humgen_storage.inspect.aggregate import ProjectInspector
from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.patterns import Format

DEFAULT_INPUT = Path(__file__).parent / "data/n20000000-s1/mpistat/20261102_118.dat.gz"
ROOTS = ("lustre/scratch118/humgen/projects", "lustre/scratch118/humgen/teams")
REFERENCE = 1_793_000_000.0  # after most of the generated mtimes, before a few


def inspector() -> ProjectInspector:
    return ProjectInspector(ROOTS, DEFAULT_FILE_CLASSES, REFERENCE, Format.BASE64)


def fold_pass(blocks: list[bytes], first_lines: list[int], only: str) -> float:
    """The CPU seconds of one pass over ``blocks`` with a new inspector."""
    made = inspector()
    start = time.process_time()
    if only == "place_valid":
        placer = made._compiled_placer()
        assert placer is not None, "the compiled kernel's placer is not in use"
        for block in blocks:
            assert placer.place_valid(block) is not None
    elif only == "add_raw_block":
        for block, first_line in zip(blocks, first_lines, strict=True):
            assert made.add_raw_block(Format.BASE64, block, first_line) == []
        pickle.dumps(made)  # a helper's partial goes back pickled
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--blocks", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--only", choices=("add_raw_block", "place_valid", "none"))
    parser.add_argument("--extract", type=Path, help="write the blocks uncompressed and stop")
    args = parser.parse_args()

    blocks = read_blocks(args.input, args.blocks)
    if args.extract:
        args.extract.write_bytes(b"".join(blocks))
        return
    assert kernel.active() == kernel.COMPILED, "the compiled kernel is not built"
    counts = [block.count(b"\n") for block in blocks]
    first_lines = list(itertools.accumulate(counts[:-1], initial=1))
    lines = sum(counts)
    print(f"{len(blocks)} blocks, {lines} lines, {sum(map(len, blocks)) / lines:.1f} bytes a line")
    runs: tuple[str, ...] = (args.only,) if args.only else ("place_valid", "add_raw_block")
    for only in runs:
        run: Callable[[], float] = lambda only=only: fold_pass(blocks, first_lines, only)  # noqa: E731
        seconds = min(run() for _ in range(args.repeat))
        print(f"{only:>14}: {seconds / lines * 1e9:7.1f} ns/line CPU (min of {args.repeat})")


if __name__ == "__main__":
    main()
