"""The processes of a run: helpers die with their parent, signals stop the whole run.

A run's main process forks pool workers (``run.volumes``), and they fork block
helpers (``run.blocks``). Each child asks the kernel (Linux ``PR_SET_PDEATHSIG``)
to kill it when its parent dies, however the parent dies (SIGKILL, the
out-of-memory killer), so no worker reads on, or holds anything of the run, once
the main process is gone. SIGINT and SIGTERM are the main process's to handle:
``stop_on_signals`` turns them into exceptions that unwind the run (the pool and the
helpers are killed, the staging area discarded, nothing published) and the CLI
maps them to exit status 130 and 143 (SPEC §8).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from humgen_storage.errors import Terminated

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# A child whose parent died before it could ask to die with it: it exits at once,
# with the status a SIGKILL would have given.
_ORPHANED_STATUS = 128 + signal.SIGKILL


def _set_parent_death_signal(signum: int) -> None:
    if not sys.platform.startswith("linux"):
        return  # elsewhere the orphan check below is all there is
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")


def die_with_parent(parent_pid: int) -> None:
    """In a forked child of ``parent_pid``, first thing: be killed when the parent dies.

    The kernel sends the signal when the thread that forked this process ends, so
    the fork must come from the parent's main thread (the pool and the helpers are
    started there). The parent may already have died between the fork and this
    call; then this process has been re-parented and exits now. SIGINT is ignored
    (a Ctrl-C reaches the whole process group; the parent decides and kills its
    children) and SIGTERM takes its default action (the parent's handler, inherited
    through the fork, would unwind a worker as if it were the run).
    """
    _set_parent_death_signal(signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if os.getppid() != parent_pid:
        os._exit(_ORPHANED_STATUS)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt and SIGTERM raises ``Terminated`` in the main
    thread, wherever it waits; the first signal decides and later ones are ignored,
    so that a second signal (LSF's ``bkill`` sends SIGINT, then SIGTERM) cannot
    interrupt the clean-up the first one started. Outside the main thread (a test
    calling the CLI from a thread) the handlers are left as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        if received:
            return
        received.append(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
