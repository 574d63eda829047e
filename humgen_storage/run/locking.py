"""One run per job at a time: an flock on a file, released by the kernel when the
holding process dies, so a crashed run never leaves a lock that blocks forever."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from humgen_storage.run.safe_files import PRIVATE_FILE_MODE, directory_fd, open_file


@contextmanager
def job_lock(lock_dir: Path, job: str) -> Iterator[str | None]:
    """Yield None when the lock is ours, else a description of who holds it."""
    # Never through a link: a pre-placed ``<job>.lock`` link would have the lock's
    # truncation land on its target. The lock is the owner's alone.
    path = lock_dir / f"{job}.lock"
    with directory_fd(lock_dir.parent, lock_dir) as locks:
        fd = open_file(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE, dir_fd=locks)
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
