"""One run per job at a time: an flock on a file, released by the kernel when the
holding process dies, so a crashed run never leaves a lock that blocks forever.

An flock belongs to the open file description, which every forked child inherits:
a worker outliving its run would keep the lock for ever. So every process forked
while this process holds a lock closes its copy at once (``os.register_at_fork``);
only the process that took the lock holds it. The holder writes its pid and start
time into the file, so a run finding the lock held can name the holder, and can
tell a working run from processes that kept the file open after their run died.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from humgen_storage.run.safe_files import PRIVATE_FILE_MODE, directory_fd, open_file

# Locks this process holds (fd -> pid of the process that took it).
_held: dict[int, int] = {}


def _close_inherited_locks() -> None:
    """In a forked child: drop the copies of the parent's lock fds. Only a close: an
    unlock would release the parent's lock too (one open file description)."""
    for fd in _held:
        with suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when it is gone.
    With the pid, it names one process: a pid reused later has another start time."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is the state (field 3 of proc(5)); starttime is field 22.
    return None if fields[0] in (b"Z", b"X") else int(fields[19])


def _wall_clock(ticks: int) -> float:
    with open("/proc/stat", "rb") as stat:
        boot = next(int(line.split()[1]) for line in stat if line.startswith(b"btime "))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _is_running(pid: int, ticks: int | None) -> bool:
    current = _start_ticks(pid)
    if current is None:
        return False
    return ticks is None or current == ticks


def _holders_of(fd: int) -> list[int]:
    """The processes (that this user may see) with the lock file open, this one aside."""
    wanted = os.fstat(fd)
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fds = os.scandir(f"/proc/{entry.name}/fd")
            with fds:
                for link in fds:
                    target = os.stat(link.path)
                    if (target.st_dev, target.st_ino) == (wanted.st_dev, wanted.st_ino):
                        found.append(int(entry.name))
                        break
        except OSError:
            continue  # gone, or not ours to look at
    return sorted(found)


@dataclass(frozen=True)
class LockHolder:
    """Who holds a job's lock, as its file and ``/proc`` say."""

    path: Path
    pid: int | None  # the run that took the lock, from the file (None: not written yet)
    started: str | None  # that process's start time, local, to the second
    running: bool  # that process is still running: another run is working
    openers: tuple[int, ...] = ()  # when it is not: the processes keeping the file open

    def __str__(self) -> str:
        run = f"process {self.pid}" + (f", started {self.started}" if self.started else "")
        if self.running:
            return f"{self.path} is held by {run}"
        if self.pid is None:
            who = "the run that took it has not said who it is"
        else:
            who = f"the run that took it ({run}) has ended"
        if self.openers:
            pids = " ".join(map(str, self.openers))
            return (
                f"{self.path} is held, but {who}: processes {pids} still have it open "
                f"(left over from that run?); stop them for the lock to be free"
            )
        return f"{self.path} is held, but {who}, by a process this user cannot see"


def _record() -> bytes:
    """This process, as the lock file records it: pid, start ticks, start time."""
    pid = os.getpid()
    ticks = _start_ticks(pid)
    started = time.time() if ticks is None else _wall_clock(ticks)
    shown = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started))
    return f"{pid} {ticks if ticks is not None else '-'} {shown}\n".encode()


def _read_holder(fd: int, path: Path) -> LockHolder:
    words = os.pread(fd, 256, 0).decode("ascii", "replace").split()
    # A file written before the start time was recorded holds the pid alone.
    if not words or not words[0].isdigit():
        return LockHolder(path, None, None, running=False, openers=tuple(_holders_of(fd)))
    pid = int(words[0])
    ticks = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
    started = words[2].replace("T", " ") if len(words) > 2 else None
    if _is_running(pid, ticks):
        return LockHolder(path, pid, started, running=True)
    return LockHolder(path, pid, started, running=False, openers=tuple(_holders_of(fd)))


def _try_lock(fd: int, path: Path) -> LockHolder | None:
    """None when the lock is now ours, else who holds it. A holder caught between
    taking the lock and writing its record, or between clearing it and letting go,
    is looked at again before it is described."""
    holder: LockHolder | None = None
    for _attempt in range(20):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            holder = _read_holder(fd, path)
        if holder.pid is not None:
            return holder
        time.sleep(0.05)
    return holder


@contextmanager
def job_lock(lock_dir: Path, job: str) -> Iterator[LockHolder | None]:
    """Yield None when the lock is ours, else who holds it (``LockHolder``)."""
    # Never through a link: a pre-placed ``<job>.lock`` link would have the lock's
    # truncation land on its target. The lock is the owner's alone.
    path = lock_dir / f"{job}.lock"
    with directory_fd(lock_dir.parent, lock_dir) as locks:
        fd = open_file(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE, dir_fd=locks)
    opener = os.getpid()
    try:
        holder = _try_lock(fd, path)
        if holder is not None:
            yield holder
            return
        _held[fd] = os.getpid()
        os.ftruncate(fd, 0)
        os.pwrite(fd, _record(), 0)
        try:
            yield None
        finally:
            if _held.pop(fd, None) == os.getpid():  # (a forked child has no lock to release)
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        if os.getpid() == opener:  # (in a forked child the number may be another file's)
            os.close(fd)
