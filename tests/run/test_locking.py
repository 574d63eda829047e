"""The job lock (run/locking.py, issue 15 items 1 and 7): forked children never hold
it, the file names the holder (pid and start time), an explicit job finding it held
fails naming the holder while a manager has nothing to do, and a lock kept by
processes whose run has ended is never taken for another run working."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from humgen_storage.cli import main
from humgen_storage.config.load import load_config
from humgen_storage.run.layout import lock_dir
from humgen_storage.run.locking import job_lock
from tests.helpers import REPO
from tests.run.locks import lock_is_free
from tests.sites import TODAY, Site


def started_at(pid: int) -> str:
    """A process's start time as the lock records it (local time, to the second)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        ticks = int(stat.read().rsplit(b")", 1)[1].split()[19])
    with open("/proc/stat", "rb") as stat:
        boot = next(int(line.split()[1]) for line in stat if line.startswith(b"btime "))
    return time.strftime(
        "%Y-%m-%d %H:%M:%S", time.localtime(boot + ticks / os.sysconf("SC_CLK_TCK"))
    )


def test_a_forked_child_never_holds_the_lock(tmp_path: Path) -> None:
    """A run that dies holding the lock (no unlock: SIGKILL, the OOM killer) while a
    process it forked lives on: the lock is free."""
    locks = tmp_path / "reports" / ".locks"
    release_worker, worker_waits = os.pipe()
    worker_started, worker_says = os.pipe()
    run = os.fork()
    if run == 0:  # the run
        os.close(worker_waits)  # (only the test may hold it: the worker waits for its end)
        with job_lock(locks, "report") as holder:
            if holder is None and os.fork() == 0:  # its worker, outliving it
                os.write(worker_says, str(os.getpid()).encode())
                os.read(release_worker, 1)
                os._exit(0)
            os._exit(0)  # dies with the lock taken: nothing unlocks it
    os.close(worker_says)
    try:
        worker = int(os.read(worker_started, 32))
        os.waitpid(run, 0)
        assert Path(f"/proc/{worker}").exists()  # the worker lives on
        assert lock_is_free(locks / "report.lock")
        with job_lock(locks, "report") as holder:
            assert holder is None
    finally:
        os.close(worker_waits)  # the worker reads end of file and exits


def test_the_file_names_the_holder_by_pid_and_start_time(tmp_path: Path) -> None:
    locks = tmp_path / "reports" / ".locks"
    with job_lock(locks, "split") as holder:
        assert holder is None
        pid, ticks, started = (locks / "split.lock").read_text().split()
        with job_lock(locks, "split") as other:
            assert other is not None
            assert (other.pid, other.running) == (os.getpid(), True)
            assert other.started == started_at(os.getpid())
    assert pid == str(os.getpid()) and ticks.isdigit()
    assert started.replace("T", " ") == started_at(os.getpid())
    assert (locks / "split.lock").read_text() == ""  # released: no holder named


@pytest.fixture
def held(site: Site) -> Iterator[Path]:
    """The report lock, held by this process (a run that is working)."""
    site.add_set(TODAY)
    locks = lock_dir(load_config(str(site.config)))
    with job_lock(locks, "report") as holder:
        assert holder is None
        yield locks / "report.lock"


def test_an_explicit_job_finding_the_lock_held_fails_naming_the_holder(
    site: Site, held: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(site.argv("report")) == 1
    err = capsys.readouterr().err
    holder = f"{held} is held by process {os.getpid()}, started {started_at(os.getpid())}"
    assert f"report: another report is running ({holder}); nothing was written" in err
    assert "nothing to do" not in err
    assert not site.tsv(TODAY).exists()


def test_a_manager_finding_the_lock_held_has_nothing_to_do_naming_the_holder(
    site: Site, held: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(site.argv("manage", "report")) == 0
    err = capsys.readouterr().err
    holder = f"{held} is held by process {os.getpid()}, started {started_at(os.getpid())}"
    assert f"report: the lock is held ({holder}); another run is working, nothing to do" in err
    assert not site.tsv(TODAY).exists()


# A process keeping the lock file open and locked after the run that wrote the
# record has died: the workers of a run before this fix, which inherited the fd.
KEEP_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.ftruncate(fd, 0)
os.pwrite(fd, sys.argv[2].encode(), 0)
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("record", ["{pid}\n", "{pid} 12345 2026-11-20T02:00:03\n"])
def test_a_lock_kept_after_its_run_died_is_a_failure_naming_who_keeps_it(
    record: str, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_set(TODAY)
    locks = lock_dir(load_config(str(site.config)))
    with job_lock(locks, "report"):
        pass  # the lock file, as a run leaves it
    gone = subprocess.Popen(["true"])  # a run's process that has ended
    gone.wait()
    keeper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KEEP_LOCK,
            str(locks / "report.lock"),
            record.format(pid=gone.pid),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    try:
        assert keeper.stdout is not None and keeper.stdout.readline() == "locked\n"
        for argv in (("manage", "report"), ("report",)):
            assert main(site.argv(*argv)) == 1
            err = capsys.readouterr().err
            assert f"the run that took it (process {gone.pid}" in err
            assert f"has ended: processes {keeper.pid} still have it open" in err
            assert "another run is working" not in err and "nothing to do" not in err
    finally:
        keeper.communicate("", timeout=10)
    assert not site.tsv(TODAY).exists()
    # Once they are gone the lock is free, and the manager runs.
    assert main(site.argv("manage", "report")) == 0
    assert site.tsv(TODAY).is_file()
