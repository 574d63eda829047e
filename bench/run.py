"""Benchmark the jobs end to end against legacy-style reference loops on the same input.

    python bench/run.py --lines N [--jobs report,inspect,split] [--workers 1,2]
                        [--data-dir bench/data] [--repeat 1] [--seed 1]

Generates (or reuses) a synthetic mpistat file of N lines (bench/generate.py), then
for each job and worker count runs ``humgen_storage.cli.main([...])`` in a fresh
subprocess (SQLite database, LDIF directory, the ``fixtures/bin/lfs`` stand-in),
timing it and sampling the resident memory of its whole process tree every 50 ms.
Each job's legacy-style loop (bench/legacy.py) runs on the same file in the same
run. See bench/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import generate  # bench/generate.py: this script's directory is on sys.path
from quick_lfs import write_quick_lfs

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
LFS_STAND_IN = REPO / "fixtures" / "bin" / "lfs"
# The processes of the lfs stand-ins (Python, or the replaying script in the run
# directory), left out of the job's memory: the real lfs is not the job.
STAND_IN_MARKS = (str(LFS_STAND_IN).encode(), b"/run/bin/lfs")
JOBS = ("report", "inspect", "split")
POLL_SECONDS = 0.05
MIB = 1024 * 1024
# Issue #7's figures for the legacy pipeline's loops, measured on a 2-core machine where
# Python's gzip alone read the same kind of input at ~1.2M lines/s. This benchmark's own
# reference loops run 2-4x faster than those (about as fast as the issue's hand-tuned
# loops), so the figures are also shown scaled by this run's gzip-only speed.
ISSUE_GZIP_LINES_PER_S = 1.2e6
ISSUE_LEGACY_LINES_PER_S = {"report": (210e3,), "inspect": (57e3, 144e3), "split": (56e3,)}
ISSUE_TARGET_RATIO = {"report": 4.0, "inspect": 8.0, "split": 8.0}
# Jobs that also get bench/legacy.py's lean loop as a second reference.
LEAN_LOOPS = ("report",)
RUNNER = "import sys; from humgen_storage.cli import main; sys.exit(main(sys.argv[1:]))"
# What a job's stderr says when the job is not there (yet).
NOT_AVAILABLE_MARKS = ("NotImplementedError", "invalid choice")


# ----------------------------------------------------------------------------- machine


def machine_summary() -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    try:
        import isal

        isal_version = isal.__version__
    except ImportError:
        isal_version = "not installed"
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = (
        " (uncommitted changes)" if _git("status", "--porcelain", "--untracked-files=no") else ""
    )
    return [
        f"machine: {usable} cores usable ({os.cpu_count()} online), {model}, {memory} RAM, "
        f"{platform.system()} {platform.release()}",
        f"python {platform.python_version()}, isal {isal_version}, repo at {commit or '?'}{dirty}, "
        f"kernel: {_kernel_path()}",
        f"load average before the run: {load_average()}",
    ]


def _kernel_path() -> str:
    """The path the jobs' blocks take (``compiled`` or ``numpy``), as the product says."""
    probe = "from humgen_storage.mpistat import kernel; print(kernel.active())"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


# ----------------------------------------------------------------------------- measuring


@dataclasses.dataclass
class Measurement:
    wall: float
    returncode: int
    peak_process_kib: int  # the largest single process of the tree
    peak_sum_kib: int  # the largest sum over the tree at one sample
    processes: int  # distinct processes seen in the tree
    cpu: float  # user + system seconds of the whole tree (waited-for processes)


def _process_tree(root: int) -> list[int]:
    """``root`` and its descendants, from the parent ids in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: parse after the last ')'.
        ppid = int(data[data.rindex(b")") + 2 :].split(b" ", 2)[1])
        children.setdefault(ppid, []).append(int(name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def _memory_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of a process in KiB; (0, 0) once it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            data = handle.read()
    except OSError:
        return 0, 0
    hwm = rss = 0
    for line in data.splitlines():
        if line.startswith(b"VmHWM:"):
            hwm = int(line.split()[1])
        elif line.startswith(b"VmRSS:"):
            rss = int(line.split()[1])
    return hwm, rss


def _is_stand_in(pid: int) -> bool:
    """True for an lfs stand-in (the real lfs is a small C program)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except OSError:
        return False
    return any(mark in cmdline for mark in STAND_IN_MARKS)


def measure(
    command: list[str], env: dict[str, str], stdout: Path, stderr: Path, cwd: Path
) -> Measurement:
    """Run ``command``, timing it and sampling its process tree's memory every 50 ms."""
    peaks: dict[int, int] = {}
    stand_ins: set[int] = set()
    peak_sum = 0
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        # In its own session, so that an interrupted run is stopped with its workers.
        proc = subprocess.Popen(
            command, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True
        )
        try:
            while True:
                pid, status = os.waitpid(proc.pid, os.WNOHANG)
                if pid:
                    wall = time.perf_counter() - started
                    break
                total = 0
                for member in _process_tree(proc.pid):
                    if member in stand_ins or _is_stand_in(member):
                        stand_ins.add(member)
                        continue
                    hwm, rss = _memory_kib(member)
                    if hwm > peaks.get(member, 0):
                        peaks[member] = hwm
                    total += rss
                peak_sum = max(peak_sum, total)
                time.sleep(POLL_SECONDS)
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    # Every process of the tree that was waited for (the job waits for its workers)
    # counts here: the job's CPU, lfs stand-ins included.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Not wait4's ru_maxrss: on Linux it includes the high-water mark of the memory the
    # child had before exec, i.e. this (parent) process's, so it overstates small jobs.
    peak_process = max(peaks.values(), default=0)
    return Measurement(
        wall, proc.returncode, peak_process, max(peak_sum, peak_process), len(peaks), cpu
    )


@dataclasses.dataclass
class Result:
    """The figures of one job (or one reference loop) over ``--repeat`` runs."""

    label: str
    walls: list[float] = dataclasses.field(default_factory=list)
    cpus: list[float] = dataclasses.field(default_factory=list)
    peak_process_kib: int = 0
    peak_sum_kib: int = 0
    status: str = "ok"  # "ok", "not available (...)", "failed (...)"
    log: Path | None = None
    stdout: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.walls)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    def add(self, m: Measurement) -> None:
        self.walls.append(m.wall)
        self.cpus.append(m.cpu)
        self.peak_process_kib = max(self.peak_process_kib, m.peak_process_kib)
        self.peak_sum_kib = max(self.peak_sum_kib, m.peak_sum_kib)


def _failure(log: Path, returncode: int) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    for mark in NOT_AVAILABLE_MARKS:
        if mark in text:
            return f"not available ({mark})"
    lines = [line for line in text.splitlines() if line.strip()]
    last = lines[-1][-160:] if lines else ""
    return f"failed (exit {returncode}): {last}"


# ----------------------------------------------------------------------------- setup


@dataclasses.dataclass
class Workspace:
    dataset: generate.Dataset
    run_dir: Path
    env: dict[str, str]
    options: dict[str, set[str]]  # subcommand -> its option strings (empty: unknown)
    lfs: Path  # the [quota] command: the Python stand-in or the script replaying it

    def config(self, workers: int) -> Path:
        """The INI for one worker count (relative paths are relative to the dataset)."""
        path = self.dataset.directory / f"bench-w{workers}.ini"
        ds = self.dataset
        path.write_text(
            f"""# Written by bench/run.py: the benchmark's configuration ({workers} workers).
[paths]
mpistat_dir = mpistat
report_dir = run/reports
max_days_ago = 10

[input]
max_bad_fraction = 0.001

[volumes]
report = {generate.VOLUME}
inspector = {generate.VOLUME}
splitter = {generate.VOLUME}

[database]
url = sqlite:///run/bench.db

[ldap]
ldif = {ds.ldif.name}
group_base = ou=group,dc=example,dc=org
people_base = ou=people,dc=example,dc=org
humgen_filter = (objectClass=sangerHumgenProjectGroup)
pi_attribute = sangerProjectPI

[quota]
command = {self.lfs}
timeout = 30

[archive]
threshold_bytes = 104857600
{generate.VOLUME} = run/archive/old-team-data run/archive/projects

[inspector]
{generate.VOLUME} = {" ".join(generate.INSPECTOR_ROOTS)}

[splitter]
output_dir = run/groups
special_prefixes = {" ".join(generate.SPECIAL_PREFIXES)}

[s3]
bucket = branchserve
prefix = mpistat/

[jobs]
workers = {workers}
"""
        )
        return path


def _subcommand_options(env: dict[str, str]) -> dict[str, set[str]]:
    """Each subcommand's option strings, asked of the product's own parser."""
    probe = (
        "import argparse, json; from humgen_storage.cli import build_parser\n"
        "p = build_parser(); out = {}\n"
        "for a in p._actions:\n"
        "    if isinstance(a, argparse._SubParsersAction):\n"
        "        for name, sub in a.choices.items():\n"
        "            out[name] = sorted(o for x in sub._actions for o in x.option_strings)\n"
        "print(json.dumps(out))\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"note: could not read the CLI's options: {exc}")
        return {}
    try:
        return {name: set(opts) for name, opts in json.loads(done.stdout).items()}
    except ValueError:
        print(f"note: could not read the CLI's options: {done.stderr.strip()[-200:]}")
        return {}


def _group_names(dataset: generate.Dataset) -> list[str]:
    groups = json.loads(dataset.groups.read_text())["groups"]
    return sorted(g["name"] for g in groups.values() if g["name"])


def _mount() -> str:
    return "/lustre/" + generate.VOLUME_ROOT.decode().rsplit("/", 1)[1]


def prepare(dataset: generate.Dataset, lfs: str) -> Workspace:
    run_dir = dataset.directory / "run"
    for sub in ("logs", "reports", "out"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    # A few archived groups, so the report's .imirrored look-up finds something.
    groups = json.loads(dataset.groups.read_text())["groups"]
    for gid in sorted(groups, key=int)[:3]:
        name = groups[gid]["name"]
        if name:
            marker = run_dir / "archive" / "projects" / name / ".imirrored"
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
    env = dict(os.environ)
    for key in ("HUMGEN_STORAGE_CONFIG", "LSB_DJOB_NUMPROC", "FAKE_LFS_LOG"):
        env.pop(key, None)
    env["FAKE_LFS_QUOTAS"] = str(dataset.quotas)
    # The lfs stand-in is a Python script: start it with this interpreter, not through a
    # version-manager shim (pyenv's costs ~80 ms a call, 190 calls a report run).
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    command = LFS_STAND_IN
    if lfs == "quick":
        command = write_quick_lfs(
            run_dir / "bin" / "lfs", LFS_STAND_IN, _group_names(dataset), _mount(), env
        )
    return Workspace(dataset, run_dir, env, _subcommand_options(env), command)


# ----------------------------------------------------------------------------- runs


def job_command(ws: Workspace, job: str, workers: int, output: Path) -> list[str]:
    config = ws.config(workers)
    options = ws.options.get(job, set())
    extra = ["--workers", str(workers)] if "--workers" in options else []
    mpistat = str(ws.dataset.mpistat)
    if job == "report":
        args = ["report", "--force", *extra, mpistat]
    elif job == "inspect":
        args = ["inspect", "--date", ws.dataset.date, *extra]
    else:
        args = ["split", "--no-upload", "-o", str(output), *extra, mpistat]
    return [sys.executable, "-c", RUNNER, "--config", str(config), *args]


def run_job(ws: Workspace, job: str, workers: int, repeat: int) -> Result:
    result = Result(f"{job}")
    for attempt in range(1, repeat + 1):
        tag = f"{job}-w{workers}-r{attempt}"
        output = ws.run_dir / "out" / f"split-w{workers}"
        shutil.rmtree(output, ignore_errors=True)
        log = ws.run_dir / "logs" / f"{tag}.log"
        stdout = ws.run_dir / "logs" / f"{tag}.out"
        m = measure(
            job_command(ws, job, workers, output), ws.env, stdout, log, ws.dataset.directory
        )
        result.log, result.stdout = log, stdout
        # 3 (published, degraded) is expected: the dataset's quota table fails two
        # groups' look-ups on purpose (generate._quotas).
        if m.returncode not in (0, 3):
            result.status = _failure(log, m.returncode)
            break
        result.add(m)
    return result


def run_legacy(ws: Workspace, job: str, repeat: int) -> tuple[Result, dict[str, Any]]:
    result = Result(f"legacy {job}")
    summary: dict[str, Any] = {}
    for attempt in range(1, repeat + 1):
        tag = f"legacy-{job}-r{attempt}"
        output = ws.run_dir / "out" / "legacy-split"
        shutil.rmtree(output, ignore_errors=True)
        command = [sys.executable, str(BENCH / "legacy.py"), job, str(ws.dataset.mpistat)]
        command += ["--groups", str(ws.dataset.groups)]
        if job == "split":
            command += ["-o", str(output)]
        log = ws.run_dir / "logs" / f"{tag}.log"
        stdout = ws.run_dir / "logs" / f"{tag}.out"
        m = measure(command, ws.env, stdout, log, REPO)
        result.log = log
        # 3 (published, degraded) is expected: the dataset's quota table fails two
        # groups' look-ups on purpose (generate._quotas).
        if m.returncode not in (0, 3):
            result.status = _failure(log, m.returncode)
            break
        result.add(m)
        try:
            summary = json.loads(stdout.read_text())
        except ValueError:
            summary = {}
    shutil.rmtree(ws.run_dir / "out" / "legacy-split", ignore_errors=True)
    return result, summary


def issue_comparison(
    rates: dict[tuple[str, int], float], gzip_rate: float | None, legacy: dict[str, float]
) -> list[str]:
    """Each job's ratio to this run's reference loop and to issue #7's legacy figures."""
    if not rates:
        return []
    scale = gzip_rate / ISSUE_GZIP_LINES_PER_S if gzip_rate else None
    out = ["", "against issue #7's targets (ratio = job lines/s / legacy lines/s):"]
    if scale:
        out.append(
            f"  the issue's legacy figures x {scale:.2f} (this run's gzip-only speed / "
            f"the issue's {ISSUE_GZIP_LINES_PER_S:,.0f} lines/s)"
        )
    for job in JOBS:
        mine = {w: r for (j, w), r in rates.items() if j == job}
        if not mine:
            continue
        issue = ISSUE_LEGACY_LINES_PER_S[job]
        refs: list[tuple[str, tuple[float, ...]]] = []
        if job in legacy:
            refs.append(("this run's loop", (legacy[job],)))
        if f"lean-{job}" in legacy:
            refs.append(("lean loop", (legacy[f"lean-{job}"],)))
        refs.append(("issue, as quoted", issue))
        if scale:
            refs.append(("issue, scaled", tuple(x * scale for x in issue)))
        for label, values in refs:
            shown = " to ".join(f"{v:,.0f}" for v in values)
            ratios = ", ".join(
                f"w={w} " + " to ".join(f"{r / v:.1f}x" for v in reversed(values))
                for w, r in sorted(mine.items())
            )
            out.append(
                f"  {job:<8} {label:<16} {shown:>18} lines/s: {ratios}"
                f"  (target >= {ISSUE_TARGET_RATIO[job]:g}x)"
            )
    return out


def decompression(path: Path, repeat: int) -> list[tuple[str, float, int, int]]:
    """(reader, median seconds, lines, bytes) for a plain read of the whole file.

    The floor is isal with the newlines counted as fast as the product counts them
    (the kernel's vector compare, or numpy's): ``bytes.count`` goes byte by byte and
    took a quarter of the floor's time, which is no physics. Python's gzip keeps
    ``bytes.count``, as issue #7's figures were measured; isal with ``bytes.count`` is
    shown too, the floor of the tables before 2026-12-02."""
    from humgen_storage.mpistat.patterns import count_lines

    readers: list[tuple[str, Any, Any]] = [("gzip", gzip.open, bytes.count)]
    try:
        from isal import igzip

        readers[:0] = [
            ("isal", igzip.open, lambda block, _: count_lines(block)),
            ("isal, bytes.count", igzip.open, bytes.count),
        ]
    except ImportError:
        pass
    out = []
    for name, opener, count in readers:
        walls = []
        lines = size = 0
        for _ in range(repeat):
            lines = size = 0
            started = time.perf_counter()
            with opener(path, "rb") as handle:
                while block := handle.read(4 * MIB):
                    lines += count(block, b"\n")
                    size += len(block)
            walls.append(time.perf_counter() - started)
        out.append((name, statistics.median(walls), lines, size))
    return out


def split_floor(output: Path, decompress_seconds: float, level: int = 1) -> tuple[float, int]:
    """(seconds, bytes) of the split's physical floor: decompressing the input
    (``decompress_seconds``, measured above) plus compressing the lines the split
    selected (what its group files hold) at the configured level, with isal, in 4 MiB
    gzip members as the split writes them. The group files are read untimed."""
    from isal import isal_zlib

    selected = [gzip.decompress(path.read_bytes()) for path in sorted(output.rglob("*.dat.gz"))]
    size = sum(map(len, selected))
    started = time.perf_counter()
    for data in selected:
        for start in range(0, len(data), 4 * MIB):
            compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 16 + 15)
            compressor.compress(data[start : start + 4 * MIB])
            compressor.flush()
    return decompress_seconds + time.perf_counter() - started, size


QUOTA_PROBE = """
import resource, sys, time
from humgen_storage.config.load import load_config
from humgen_storage.quota import QuotaLookups
def cpu():
    return sum(
        u.ru_utime + u.ru_stime
        for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
config = load_config(sys.argv[1])
names = sys.argv[3:]
started, cpu_before = time.perf_counter(), cpu()
with QuotaLookups(sys.argv[2], config.quota) as lookups:
    lookups.results(names)
print(time.perf_counter() - started, cpu() - cpu_before)
"""


def fixed_costs(ws: Workspace) -> tuple[float | None, float | None, int, float]:
    """(interpreter + imports, the report's lfs quota calls for every named group, groups,
    the CPU seconds of those calls: the stand-ins' and their caller's)."""
    startup: float | None = None
    log = ws.run_dir / "logs" / "startup.log"
    m = measure(
        [sys.executable, "-c", RUNNER, "report", "--help"], ws.env, Path(os.devnull), log, REPO
    )
    if m.returncode == 0:
        startup = m.wall
    names = _group_names(ws.dataset)
    command = [sys.executable, "-c", QUOTA_PROBE, str(ws.config(1)), _mount(), *names]
    # The probe's own start-up is not the look-ups': it times them (wall and the CPU of
    # its threads and the stand-ins) from inside.
    quota: float | None = None
    quota_cpu = 0.0
    try:
        done = subprocess.run(
            command, env=ws.env, cwd=REPO, capture_output=True, text=True, timeout=600
        )
        quota, quota_cpu = map(float, done.stdout.strip().splitlines()[-1].split())
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        pass
    return startup, quota, len(names), quota_cpu


# ----------------------------------------------------------------------------- checks


def job_check(ws: Workspace, job: str, result: Result, legacy: dict[str, Any], workers: int) -> str:
    """One line comparing the job's output with the reference loop's, when both ran."""
    if not result.ok or not legacy:
        return ""
    try:
        if job == "report":
            day = ws.dataset.date.replace("-", "")
            tsv = ws.run_dir / "reports" / "report-output-files" / f"report-{day}.tsv"
            with open(tsv, newline="") as handle:
                rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
            meta = json.loads(ws.dataset.groups.read_text())
            gid_of = {g["name"]: int(gid) for gid, g in meta["groups"].items() if g["name"]}
            expected = {int(gid): used for gid, used in meta["expected_used"].items()}
            got = {}
            for r in rows:
                name = r["Unix Group"]
                got[gid_of[name] if name in gid_of else int(name)] = int(r["Used (bytes)"])
            wrong = sorted(
                gid for gid in expected.keys() | got.keys() if expected.get(gid) != got.get(gid)
            )
            used = sum(got.values())
            verdict = (
                "every group's Used as generated"
                if not wrong
                else f"{len(wrong)} groups DIFFER from the generator's"
            )
            return (
                f"{len(rows)} groups, {used:,} bytes: {verdict}; legacy {legacy['groups']} gids, "
                f"{legacy['used_bytes']:,} bytes (it divides directories by nlink too)"
            )
        if job == "inspect":
            assert result.stdout is not None
            rows_count = max(0, len(result.stdout.read_bytes().splitlines()) - 1)
            same = rows_count == legacy["rows"]
            return f"{rows_count} rows; legacy {legacy['rows']} directories {'(same)' if same else '(DIFFERENT)'}"
        output = ws.run_dir / "out" / f"split-w{workers}"
        files = sorted(output.glob("*.dat.gz"))
        same = len(files) == legacy["groups"]
        text = f"{len(files)} group files; legacy {legacy['groups']} {'(same)' if same else '(DIFFERENT)'}"
        shutil.rmtree(output, ignore_errors=True)
        return text
    except (OSError, KeyError, ValueError, AssertionError) as exc:
        return f"could not compare: {type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------- output


def _rate(lines: int, seconds: float) -> str:
    return f"{lines / seconds:,.0f}"


def _mbs(size: int, seconds: float) -> str:
    return f"{size / 1e6 / seconds:,.1f}"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _rss(result: Result) -> str:
    return f"{result.peak_process_kib / 1024:,.0f}/{result.peak_sum_kib / 1024:,.0f}"


HEADER = (
    f"{'job':<8} {'workers':>7} {'lines/s':>11} {'MB/s':>7} {'floor':>6} {'CPU µs/l':>8} {'RSS MiB':>11}  | "
    f"{'legacy lines/s':>14} {'MB/s':>6} {'RSS MiB':>9}  | {'ratio':>6}"
)


def row(
    job: str,
    workers: int,
    result: Result,
    legacy: Result,
    ds: generate.Dataset,
    floor: float | None,
) -> str:
    """One job's line; ``floor``: the seconds of its physical floor on this input."""
    n, size = ds.lines, ds.uncompressed_bytes
    if legacy.ok:
        right = f"{_rate(n, legacy.wall):>14} {_mbs(size, legacy.wall):>6} {legacy.peak_process_kib / 1024:>9,.0f}"
    else:
        right = f"{legacy.status[:31]:>31}"
    if not result.ok:
        return f"{job:<8} {workers:>7} {result.status[:32]:<32}  | {right}  |"
    ratio = f"{legacy.wall / result.wall:.2f}x" if legacy.ok else "-"
    fraction = f"{floor / result.wall:.0%}" if floor else "-"
    cpu = f"{result.cpu / n * 1e6:.2f}"
    return (
        f"{job:<8} {workers:>7} {_rate(n, result.wall):>11} {_mbs(size, result.wall):>7} "
        f"{fraction:>6} {cpu:>8} {_rss(result):>11}  | "
        f"{right}  | {ratio:>6}"
    )


# ----------------------------------------------------------------------------- main


def _list(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("empty list")
    if allowed is not None:
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown: {', '.join(unknown)} (choose from {', '.join(allowed)})"
            )
    return items


def _workers(text: str) -> list[int]:
    try:
        values = [int(item) for item in _list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("worker counts must be at least 1")
    return list(dict.fromkeys(values))


def _sizes(text: str) -> list[int]:
    try:
        return list(dict.fromkeys(int(item) for item in _list(text)))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    default_workers = "1" if cores == 1 else f"1,{cores}"
    parser = argparse.ArgumentParser(
        description="Benchmark report, inspect and split against legacy-style loops on synthetic input.",
    )
    parser.add_argument(
        "--lines",
        type=_sizes,
        required=True,
        help="records in the synthetic input (>= 1000); a comma-separated list runs each "
        "size in turn and compares their memory",
    )
    parser.add_argument(
        "--jobs",
        type=lambda text: _list(text, JOBS),
        default=list(JOBS),
        help="comma-separated jobs (default: report,inspect,split)",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=_workers(default_workers),
        help=f"comma-separated worker counts, one row each (default: {default_workers})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=BENCH / "data",
        help="where inputs are kept (default: bench/data)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per measurement; the median wall time is shown"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the input (default: 1)")
    parser.add_argument(
        "--regenerate", action="store_true", help="generate the input even if it exists"
    )
    parser.add_argument(
        "--no-legacy", action="store_true", help="skip the legacy-style reference loops"
    )
    parser.add_argument(
        "--lfs",
        choices=("quick", "python"),
        default="quick",
        help="the report's lfs quota stand-in: quick (default) replays the Python "
        "stand-in's answers from a shell script, about as cheap to start as the real "
        "lfs; python runs fixtures/bin/lfs for every call",
    )
    parser.add_argument(
        "--format",
        choices=generate.FORMATS,
        default="base64",
        help="input format (default: base64); wrstat skips the reference loops, which "
        "read base64 paths only",
    )
    args = parser.parse_args(argv)
    if args.format == "wrstat":
        args.no_legacy = True
    if min(args.lines) < 1000:
        parser.error("--lines must be at least 1000")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def run_size(args: argparse.Namespace, lines: int) -> dict[tuple[str, int], Result]:
    """Every job and worker count, and the reference loops, on one input size."""
    dataset, generated = generate.ensure_dataset(
        args.data_dir.resolve(), lines, args.seed, args.regenerate, args.format
    )
    how = f"generated in {dataset.generate_seconds:.1f} s" if generated else "reused"
    print(
        f"input: {dataset.mpistat} ({how}): {dataset.lines:,} lines, "
        f"{dataset.uncompressed_bytes / 1e6:,.1f} MB uncompressed, {dataset.compressed_bytes / 1e6:,.1f} MB gzip, "
        f"seed {dataset.seed}"
    )
    gzip_rate: float | None = None
    floors: dict[str, float] = {}
    for name, seconds, count, size in decompression(dataset.mpistat, args.repeat):
        if name == "gzip":
            gzip_rate = count / seconds
        elif name == "isal":  # the report's and inspect's floor: they read every line
            floors["report"] = floors["inspect"] = floors["isal"] = seconds
        print(
            f"decompression only ({name}): {_rate(count, seconds)} lines/s, {_mbs(size, seconds)} MB/s "
            f"({seconds:.2f} s)"
        )
    sys.stdout.flush()

    ws = prepare(dataset, args.lfs)
    startup, quota, named, quota_cpu = fixed_costs(ws)
    print(
        f"fixed costs: interpreter + imports {_seconds(startup)}; report only: lfs quota for {named} groups "
        f"with the {'replaying' if args.lfs == 'quick' else 'Python'} stand-in {_seconds(quota)}"
    )
    print()
    print(HEADER)
    checks: list[str] = []
    results: dict[tuple[str, int], Result] = {}
    legacy_rates: dict[str, float] = {}
    for job in args.jobs:
        summary: dict[str, Any]
        if args.no_legacy:
            legacy, summary = Result(f"legacy {job}", status="skipped"), {}
        else:
            legacy, summary = run_legacy(ws, job, args.repeat)
            if legacy.ok:
                legacy_rates[job] = dataset.lines / legacy.wall
            if job in LEAN_LOOPS:
                lean, _ = run_legacy(ws, f"lean-{job}", args.repeat)
                if lean.ok:
                    legacy_rates[f"lean-{job}"] = dataset.lines / lean.wall
                checks.append(
                    f"  {job}: lean loop (tight plain Python, no legacy overheads): "
                    + (f"{_rate(dataset.lines, lean.wall)} lines/s" if lean.ok else lean.status)
                )
        for workers in args.workers:
            result = run_job(ws, job, workers, args.repeat)
            results[(job, workers)] = result
            if job == "split" and "split" not in floors and result.ok and "isal" in floors:
                output = ws.run_dir / "out" / f"split-w{workers}"
                floors["split"], selected = split_floor(output, floors["isal"])
                checks.append(
                    f"  split floor: decompression plus recompressing the {selected / 1e6:,.1f} MB "
                    f"selected at level 1: {_rate(dataset.lines, floors['split'])} lines/s "
                    f"({floors['split']:.2f} s)"
                )
            print(row(job, workers, result, legacy, dataset, floors.get(job)))
            sys.stdout.flush()
            check = job_check(ws, job, result, summary, workers)
            if check:
                checks.append(f"  {job} w={workers}: {check}")
            if job == "report" and result.ok and quota and result.wall > quota:
                checks.append(
                    f"  {job} w={workers}: without the {quota:.1f} s of lfs calls: "
                    f"{_rate(dataset.lines, result.wall - quota)} lines/s, "
                    f"CPU {(result.cpu - quota_cpu) / dataset.lines * 1e6:.2f} µs a line "
                    f"(the calls took {quota_cpu:.2f} s of CPU)"
                )
            if result.status.startswith("failed"):
                checks.append(f"  {job} w={workers}: see {result.log}")
    if checks:
        print("\nchecks (job output vs the reference loop):")
        print("\n".join(checks))
    rates = {key: dataset.lines / r.wall for key, r in results.items() if r.ok}
    for line in issue_comparison(rates, gzip_rate, legacy_rates):
        print(line)
    for line in scaling(rates):
        print(line)
    return results


def scaling(rates: dict[tuple[str, int], float]) -> list[str]:
    """Issue #7's scaling target: the report with more workers against one worker."""
    one = rates.get(("report", 1))
    more = sorted(w for (job, w) in rates if job == "report" and w > 1)
    if one is None or not more:
        return []
    return [
        f"  report   workers {w} / 1: {rates[('report', w)] / one:.2f}x  (target >= 1.6x with 2)"
        for w in more
    ]


def memory_growth(sizes: list[int], by_size: dict[int, dict[tuple[str, int], Result]]) -> list[str]:
    """Issue #7's memory target: peak RSS per process at the largest size against the smallest."""
    small, large = min(sizes), max(sizes)
    out = [
        "",
        f"memory (issue #7: peak RSS per process at {large:,} lines <= 1.2x at {small:,}, "
        "and under 500 MiB):",
    ]
    for key, before in by_size[small].items():
        after = by_size[large].get(key)
        if after is None or not before.ok or not after.ok:
            continue
        job, workers = key
        low, high = before.peak_process_kib / 1024, after.peak_process_kib / 1024
        out.append(f"  {job:<8} w={workers}: {low:,.0f} -> {high:,.0f} MiB, {high / low:.2f}x")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench_started = time.perf_counter()
    for line in machine_summary():
        print(line)
    sys.stdout.flush()
    by_size: dict[int, dict[tuple[str, int], Result]] = {}
    for number, lines in enumerate(args.lines):
        if number:
            print()
        by_size[lines] = run_size(args, lines)
    if len(args.lines) > 1:
        for line in memory_growth(args.lines, by_size):
            print(line)
    print(
        f"\nload average after the run: {load_average()}; "
        f"benchmark took {time.perf_counter() - bench_started:.0f} s; "
        f"logs in {args.data_dir.resolve()}/n<lines>-s{args.seed}/run/logs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
