"""Time the compiled kernel's line validation on the first blocks of a bench volume.

Runs ``_kernel.validate(block, False, False)`` and
``PairSums().add_raw_block(block, False, reference)`` over the same blocks (4 MiB
cut after their last newline, as the jobs read them) and prints the minimum over the
repetitions of each, in ns a line. ``--kernel`` loads another build of the module
(for example one built from an older commit), so two builds can be compared on the
same input; ``--extract`` writes the blocks uncompressed, so that a run under
``valgrind --tool=callgrind --toggle-collect=validate`` (or
``--toggle-collect=pair_sums_add_raw_block``) counts the kernel's instructions and
not the decompression's::

    python bench/kernel_validate.py --extract /tmp/blocks.dat
    valgrind --tool=callgrind --toggle-collect=validate \\
        python bench/kernel_validate.py --input /tmp/blocks.dat --only validate --repeat 1
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from isal import igzip

DEFAULT_INPUT = Path(__file__).parent / "data/n5000000-s1/mpistat/20261102_118.dat.gz"
BLOCK_SIZE = 4 << 20
REFERENCE = 1_800_000_000


def load_kernel(path: Path | None) -> ModuleType:
    """The package's kernel, or the build at ``path``."""
    if path is None:
        from humgen_storage import _kernel  # type: ignore[attr-defined]

        return _kernel
    loader = importlib.machinery.ExtensionFileLoader("humgen_storage._kernel", str(path))
    spec = importlib.util.spec_from_file_location("humgen_storage._kernel", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def read_blocks(path: Path, count: int) -> list[bytes]:
    """The first ``count`` blocks of the file, each cut after its last newline."""
    opener = igzip.open if path.suffix == ".gz" else open
    blocks: list[bytes] = []
    carry = b""
    with opener(path, "rb") as stream:
        while len(blocks) < count:
            data = carry + stream.read(BLOCK_SIZE - len(carry))
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                break
            blocks.append(data[:cut])
            carry = data[cut:]
    return blocks


def best_seconds(
    make_run: Callable[[], Callable[[bytes], object]], blocks: list[bytes], repeat: int
) -> float:
    """The shortest of ``repeat`` passes over every block, each with a new ``make_run()``."""
    best = float("inf")
    for _ in range(repeat):
        run = make_run()
        start = time.perf_counter()
        for block in blocks:
            run(block)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--blocks", type=int, default=60)
    parser.add_argument("--kernel", type=Path, help="a built _kernel module to load instead")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", choices=("validate", "add_raw_block"))
    parser.add_argument("--extract", type=Path, help="write the blocks uncompressed and stop")
    args = parser.parse_args()

    blocks = read_blocks(args.input, args.blocks)
    if args.extract:
        args.extract.write_bytes(b"".join(blocks))
        return
    kernel = load_kernel(args.kernel)
    lines = sum(kernel.count_lines(block) for block in blocks)
    if args.only is None:  # not under callgrind's count of one function's calls
        assert all(kernel.validate(block, False, False)[0] == [] for block in blocks)

    def validate() -> Callable[[bytes], object]:
        return lambda block: kernel.validate(block, False, False)

    def add_raw_block() -> Callable[[bytes], object]:
        sums = kernel.PairSums()  # one a pass, as the report keeps one for a volume
        return lambda block: sums.add_raw_block(block, False, REFERENCE)

    print(f"{len(blocks)} blocks, {lines} lines, {sum(map(len, blocks)) / lines:.1f} bytes a line")
    for name, make_run in (("validate", validate), ("add_raw_block", add_raw_block)):
        if args.only in (None, name):
            seconds = best_seconds(make_run, blocks, args.repeat)
            print(f"{name:>14}: {seconds / lines * 1e9:7.1f} ns/line (min of {args.repeat})")


if __name__ == "__main__":
    main()
