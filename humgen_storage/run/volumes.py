"""Running one task per volume in a multiprocessing pool, with shared progress.

Every task runs to its end, so that one run reports every failing volume, each in one
line. Workers add the compressed bytes they have read to one shared counter; the parent
turns it into a progress bar (terminal) or periodic log lines (cron, LSF).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ALL_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from humgen_storage.errors import InputError, JobFailed
from humgen_storage.logs import Progress
from humgen_storage.run.processes import die_with_parent

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_progress_counter: Any = None  # in pool workers: the run's shared byte counter
_local_progress: Progress | None = None  # when tasks run in this process


def default_workers(configured: int | None = None) -> int:
    """--workers / config, else the cores LSF gave the job, else the machine's."""
    if configured:
        return configured
    lsf_cores = os.environ.get("LSB_DJOB_NUMPROC", "")
    if lsf_cores.isdigit() and int(lsf_cores) > 0:
        return int(lsf_cores)
    return os.cpu_count() or 1


def plan_workers(workers: int, volumes: int) -> tuple[int, int]:
    """(volumes run at once, block workers per volume), keeping processes within ``workers``."""
    at_once = max(1, min(workers, volumes))
    return at_once, max(1, workers // at_once)


def report_progress(compressed_bytes: int) -> None:
    """Called by readers inside tasks: adds to the run's progress."""
    if _local_progress is not None:
        _local_progress.update(compressed_bytes)
        return
    counter = _progress_counter
    if counter is not None:
        with counter.get_lock():
            counter.value += compressed_bytes


def _init_worker(counter: Any, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    global _progress_counter
    _progress_counter = counter


@dataclass
class _Outcome(Generic[R]):
    label: str
    result: R | None = None
    error: str | None = None


def _run_task(func: Callable[[T], R], task: T, label: str) -> _Outcome[R]:
    try:
        return _Outcome(label, result=func(task))
    except (InputError, JobFailed) as exc:
        return _Outcome(label, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - reported per volume, with the traceback at debug level
        log.debug("volume %s failed:\n%s", label, traceback.format_exc())
        return _Outcome(label, error=f"volume {label}: unexpected {type(exc).__name__}: {exc}")


def run_per_volume(
    func: Callable[[T], R],
    tasks: Sequence[T],
    labels: Sequence[str],
    workers: int,
    total_bytes: int,
    description: str,
) -> list[R]:
    """Run ``func`` on every task; results in task order, or JobFailed naming every failed volume.

    ``func`` must be a module-level function (it is pickled to the workers).
    """
    global _progress_counter, _local_progress
    context = multiprocessing.get_context("fork")
    counter = context.Value("q", 0)
    progress = Progress(total_bytes, description, log)
    processes = max(1, min(workers, len(tasks)))
    outcomes: list[_Outcome[R]]
    try:
        if processes == 1:
            # One at a time in this process: no pool to start, tracebacks and logs stay
            # simple, and the reader updates the progress display directly.
            _local_progress = progress
            outcomes = [_run_task(func, t, lb) for t, lb in zip(tasks, labels, strict=True)]
        else:
            outcomes = _run_in_pool(func, tasks, labels, processes, counter, progress)
    finally:
        _progress_counter = _local_progress = None
        progress.close()
    failures = [o.error for o in outcomes if o.error is not None]
    if failures:
        raise JobFailed(f"{len(failures)} of {len(tasks)} volumes failed", failures)
    return [o.result for o in outcomes]  # type: ignore[misc]


def _run_in_pool(
    func: Callable[[T], R],
    tasks: Sequence[T],
    labels: Sequence[str],
    processes: int,
    counter: Any,
    progress: Progress,
) -> list[_Outcome[R]]:
    # ProcessPoolExecutor's workers are not daemons, so a volume's task may start its
    # own block-parsing processes (run/blocks.py).
    pool = ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(counter, os.getpid()),
    )
    try:
        futures = [pool.submit(_run_task, func, t, lb) for t, lb in zip(tasks, labels, strict=True)]
        while not all(f.done() for f in futures):
            wait(futures, timeout=0.5, return_when=ALL_COMPLETED)
            progress.update(counter.value - progress.done)
        return [f.result() for f in futures]
    except BaseException:
        # Interrupted (SIGINT, SIGTERM) or failed here: nobody waits for the workers'
        # volumes. Killed, not asked: a worker is deep in a read; its block helpers
        # die with it (run/processes.py).
        for worker in list(pool._processes.values()):
            worker.kill()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
