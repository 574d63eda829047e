"""A run's processes, as a site meets them (issue 15, deliverable 1): the command
line is started as a real process, stopped mid-read (SIGKILL, the out-of-memory
killer's way; SIGTERM; SIGINT), and no process of the run may remain, the job's
lock must be free, and the next run must work.

To stop a run mid-read without long sleeps, its input files are on a disk that
stops answering: a shim around the command line makes every read of a crawl file
beyond its first ``HOLD_AFTER`` bytes wait for ever, so the run waits there with its
whole tree of processes (main, one pool worker per volume, one block helper per
worker) alive, and a signal always lands mid-read.
"""

from __future__ import annotations

import ctypes
import gzip
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from humgen_storage.config.load import load_config
from humgen_storage.mpistat import kernel
from humgen_storage.run.layout import lock_dir
from humgen_storage.run.processes import die_with_parent
from tests.helpers import REPO
from tests.run.locks import lock_is_free
from tests.sites import FIXTURE_CRAWLS, TODAY, VOLUMES, Site

# Crawl files of stored (uncompressed) gzip, so that the first ``HOLD_AFTER`` bytes
# hold more than one of the reader's 4 MiB blocks: each volume's process has started
# its block helper before it waits for the rest.
CRAWL_BYTES = 8 * 1024 * 1024
HOLD_AFTER = 6 * 1024 * 1024
# How long a stopped run may take to be gone, every process of it (SPEC §8: promptly).
STOP_WITHIN = 10.0
# Processes a two-volume run with --workers 4 has: main, two workers, two helpers.
# With one volume and --workers 2 the main process reads it: main and one helper.
RUN_PROCESSES = {VOLUMES: 5, VOLUMES[:1]: 2}
# The split on the compiled kernel has helper threads instead: main and two workers,
# each with its helper thread (and a writer thread) once it has read a block.
THREADED_RUN_PROCESSES = {VOLUMES: 3, VOLUMES[:1]: 1}
INSPECTOR_ROOTS = """
[inspector]
118 = lustre/scratch118/humgen/hgi/projects lustre/scratch118/humgen/teams
115 = lustre/scratch115/realdata/mdt[0-9]/projects lustre/scratch115/realdata/mdt[0-9]/teams
"""

# The command line, its crawl files on a disk that stops answering after HOLD_AFTER bytes.
CLI_ON_A_STALLING_DISK = """
import builtins, io, sys, time
HOLD_AFTER = int(sys.argv.pop(1))
real_open = builtins.open

class Stalling(io.RawIOBase):
    def __init__(self, raw):
        self.raw = raw
    def readable(self):
        return True
    def readinto(self, buffer):
        room = HOLD_AFTER - self.raw.tell()
        while room <= 0:
            time.sleep(3600)
        return self.raw.readinto(memoryview(buffer)[:room])
    def tell(self):
        return self.raw.tell()
    def close(self):
        self.raw.close()
        super().close()

def stalling_open(file, mode="r", *args, **kwargs):
    if str(file).endswith(".dat.gz") and mode == "rb":
        return io.BufferedReader(Stalling(real_open(file, "rb", buffering=0)))
    return real_open(file, mode, *args, **kwargs)

builtins.open = stalling_open
from humgen_storage.cli import main
sys.exit(main())
"""


def write_crawl(path: Path, volume: str) -> None:
    """The fixture crawl of ``volume``: its root line, then its records repeated to
    ``CRAWL_BYTES``, as stored gzip (level 0)."""
    fixture = gzip.decompress((FIXTURE_CRAWLS / f"20261120_{volume}.dat.gz").read_bytes())
    root, rest = fixture.split(b"\n", 1)
    path.write_bytes(
        gzip.compress(root + b"\n" + rest * (CRAWL_BYTES // len(rest) + 1), compresslevel=0)
    )


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            table[int(entry.name)] = (int(fields[1]), fields[0].decode())
    return table


def tree_of(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    table = process_table()
    tree, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (pp, state) in table.items() if pp == parent and state != "Z"]
        tree.extend(children)
        frontier.extend(children)
    return tree


def reading(tree: list[int]) -> list[int]:
    """The processes of a run's tree that read volumes: the workers, or the main process
    when it has none."""
    return tree[1:] or tree


def has_threads(pid: int) -> bool:
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def alive(pids: list[int]) -> list[int]:
    table = process_table()
    return [p for p in pids if p in table and table[p][1] not in ("Z", "X")]


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.02)


def environment() -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        AWS_EC2_METADATA_DISABLED="true",
    )


class Run:
    """One run of the command line, held mid-read."""

    def __init__(self, site: Site, job: str, volumes: tuple[str, ...] = VOLUMES) -> None:
        self.site = site
        self.job = job
        # Helper threads: each reading process has one once it hands blocks on.
        self.threaded = job == "split" and kernel.active() == kernel.COMPILED
        self.expected_processes = (THREADED_RUN_PROCESSES if self.threaded else RUN_PROCESSES)[
            volumes
        ]
        site.mpistat_dir.mkdir(parents=True, exist_ok=True)
        files = [site.mpistat_dir / f"{TODAY:%Y%m%d}_{volume}.dat.gz" for volume in volumes]
        for path, volume in zip(files, volumes, strict=True):
            write_crawl(path, volume)
        with site.config.open("a") as config:
            config.write(INSPECTOR_ROOTS)
        arguments = {
            "report": ["report", *map(str, files)],
            "split": ["split", "--no-upload", *map(str, files)],
            "inspect": ["inspect", "--tosql", "--date", TODAY.isoformat()],
        }[job]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLI_ON_A_STALLING_DISK,
                str(HOLD_AFTER),
                *site.argv(*arguments, "--workers", str(2 * len(volumes))),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
        )
        self.lock_file = lock_dir(load_config(str(site.config))) / f"{job}.lock"
        self.processes: list[int] = []

    def wait_mid_read(self) -> list[int]:
        """Every process of the run, once each volume's helper is reading."""
        wait_for(
            lambda: (
                (len(tree := tree_of(self.process.pid)) == self.expected_processes)
                and (not self.threaded or all(map(has_threads, reading(tree))))
                or self.process.poll()
            ),
            30,
            "the run's processes",
        )
        assert self.process.poll() is None, self.process.communicate()[1]
        return tree_of(self.process.pid)

    def stop(self, signum: int) -> tuple[int, str, float]:
        """Send ``signum`` mid-read: (exit status, stderr, seconds until every process
        of the run was gone)."""
        self.processes = self.wait_mid_read()
        started = time.monotonic()
        os.kill(self.process.pid, signum)
        try:
            self.process.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the run was still running {STOP_WITHIN} s after signal {signum}")
        wait_for(
            lambda: not alive(self.processes),
            STOP_WITHIN,
            f"processes {alive(self.processes)} of the run to end with it",
        )
        took = time.monotonic() - started
        assert self.process.stderr is not None
        return self.process.returncode, self.process.stderr.read(), took

    def close(self) -> None:
        """Whatever failed, no process of the run outlives the test."""
        for pid in alive([self.process.pid, *self.processes]):
            os.kill(pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def start_run(site: Site) -> Iterator[object]:
    runs: list[Run] = []

    def start(job: str, volumes: tuple[str, ...] = VOLUMES) -> Run:
        runs.append(Run(site, job, volumes))
        return runs[-1]

    yield start
    for run in runs:
        run.close()


def staging_left(site: Site) -> list[Path]:
    staging = site.report_dir / ".staging"
    return sorted(staging.rglob("*")) if staging.exists() else []


@pytest.mark.parametrize("job", ["report", "split", "inspect"])
def test_a_killed_run_leaves_no_process_and_a_free_lock(
    job: str, site: Site, start_run: object
) -> None:
    run: Run = start_run(job)  # type: ignore[operator]
    status, _, took = run.stop(signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert took < STOP_WITHIN  # every worker and helper died with the main process
    assert lock_is_free(run.lock_file)


def test_the_next_manager_runs_after_a_killed_run(site: Site, start_run: object) -> None:
    run: Run = start_run("report")  # type: ignore[operator]
    run.stop(signal.SIGKILL)
    manager = subprocess.run(
        [sys.executable, "-m", "humgen_storage", *site.argv("manage", "report")],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=60,
    )
    assert manager.returncode == 0, manager.stderr
    assert "nothing to do" not in manager.stderr
    assert site.tsv(TODAY).is_file()
    assert staging_left(site) == []  # the killed run's staging, discarded


@pytest.mark.parametrize(
    ("job", "signum", "status", "said"),
    [
        ("report", signal.SIGTERM, 143, "report: terminated (SIGTERM); nothing was written"),
        ("report", signal.SIGINT, 130, "report: interrupted (SIGINT); nothing was written"),
        ("split", signal.SIGTERM, 143, "split: terminated (SIGTERM); nothing was written"),
        ("inspect", signal.SIGINT, 130, "inspect: interrupted (SIGINT); nothing was written"),
    ],
)
def test_a_signal_stops_the_whole_run_promptly_writing_nothing(
    job: str, signum: int, status: int, said: str, site: Site, start_run: object
) -> None:
    run: Run = start_run(job)  # type: ignore[operator]
    exit_status, err, took = run.stop(signum)
    assert exit_status == status, err
    assert took < STOP_WITHIN
    errors = [line for line in err.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and errors[0].endswith(said), err
    assert "Traceback" not in err
    assert lock_is_free(run.lock_file)
    assert staging_left(site) == []
    assert not site.tsv(TODAY).exists()
    assert not (site.report_dir / "report-output-files" / f"inspector-{TODAY:%Y%m%d}.tsv").exists()
    assert not (site.root / "groups" / f"{TODAY:%Y%m%d}").exists()


def test_a_signal_stops_a_volume_read_in_the_main_process(site: Site, start_run: object) -> None:
    # One volume: no pool; the main process reads, with a block helper of its own.
    run: Run = start_run("report", VOLUMES[:1])  # type: ignore[operator]
    exit_status, err, took = run.stop(signal.SIGTERM)
    assert exit_status == 143, err
    assert took < STOP_WITHIN
    assert err.rstrip().endswith("report: terminated (SIGTERM); nothing was written")
    assert lock_is_free(run.lock_file)
    assert staging_left(site) == []
    assert not site.tsv(TODAY).exists()


def in_a_forked_child(check: object) -> int:
    """The exit status of a forked child running ``check`` (exit 0 when it returns)."""
    child = os.fork()
    if child == 0:
        try:
            check()  # type: ignore[operator]
            os._exit(0)
        except BaseException:  # noqa: BLE001 - any failure is the child's exit status 1
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])


def test_a_child_asks_to_die_with_its_parent_and_leaves_signals_to_it() -> None:
    parent = os.getpid()

    def check() -> None:
        die_with_parent(parent)
        death_signal = ctypes.c_int()
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(2, ctypes.byref(death_signal), 0, 0, 0) == 0  # PR_GET_PDEATHSIG
        assert death_signal.value == signal.SIGKILL
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    assert in_a_forked_child(check) == 0


def test_a_child_whose_parent_died_before_it_asked_exits_at_once() -> None:
    # Its parent is not the one it was forked for: re-parented, so it must not run on.
    assert in_a_forked_child(lambda: die_with_parent(os.getppid() + 1)) == 128 + signal.SIGKILL
