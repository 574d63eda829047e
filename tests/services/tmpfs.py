"""A small tmpfs mounted over a directory, to fill it: a full disk on demand.

``small_disk(path)`` mounts a tmpfs of a few pages over ``path`` (created if need be)
and unmounts it afterwards, whatever happened; ``fill()`` writes a filler file until
the disk has no byte left, ``free()`` removes it. Mounting needs root (the suite runs
as root); under ``CI=true`` a refused mount is a failure, elsewhere a skip. Holds no
tests.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

FILLER = ".filler"


@dataclass(frozen=True)
class SmallDisk:
    mount_point: Path

    @property
    def filler(self) -> Path:
        return self.mount_point / FILLER

    def fill(self) -> None:
        """Take every free byte: write pages, then single bytes, until ENOSPC."""
        with open(self.filler, "ab", buffering=0) as handle:
            for chunk in (b"\0" * 4096, b"\0"):
                while True:
                    try:
                        handle.write(chunk)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def files(self) -> list[str]:
        """What is on the disk, the filler left out."""
        return sorted(name for name in os.listdir(self.mount_point) if name != FILLER)


@contextmanager
def small_disk(path: Path, size: str = "256k") -> Iterator[SmallDisk]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        message = f"cannot mount a tmpfs on {path} (root needed): {mounted.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield SmallDisk(path)
    finally:
        # Lazily, so a file a failed test left open cannot keep the mount.
        subprocess.run(["umount", "-l", str(path)], check=False)
