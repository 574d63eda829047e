"""Looking at a job lock from outside the run (holds no tests)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def lock_is_free(lock_file: Path) -> bool:
    """Whether nothing holds the flock on ``lock_file`` (taking it for a moment)."""
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # (releases it again)
