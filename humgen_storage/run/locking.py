"""One run per job at a time: an flock on a file, released by the kernel when the
holding process dies, so a crashed run never leaves a lock that blocks forever."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def job_lock(lock_dir: Path, job: str) -> Iterator[str | None]:
    """Yield None when the lock is ours, else a description of who holds it."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{job}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            yield f"{path} is held by process {holder or 'unknown'}"
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield None
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
