"""The run's manifest: one JSON file per run of a job, whatever its outcome (SPEC §12).

``<report_dir>/runs/<job>-<YYYYMMDD>-<HHMMSS>-<pid>.json`` (the run's local start
time) holds what the morning-after reader needs without the log: the job, the set's
date, the input files, lines read and malformed per volume, rows written per table,
groups skipped, quota look-ups failed, what needs a person, the durations of the
stages, the outcome and the exit status. The file is private to its owner (0600)
and appears complete or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from humgen_storage.run import layout
from humgen_storage.run.metrics import write_metrics
from humgen_storage.run.record import RunRecord
from humgen_storage.run.registry import JOBS

log = logging.getLogger(__name__)

MANIFEST_DIR = "runs"
# The manifest's layout; raised when a field changes meaning, so readers can tell.
MANIFEST_VERSION = 1


def leave_records(record: RunRecord) -> None:
    """The run's manifest, and the metrics textfile when configured, once the run has
    ended. Neither changes the run's exit status: a failure to write them is logged
    as an error (the run's own work is done or failed already)."""
    config = record.config
    if config is None or record.job not in JOBS or record.dry_run:
        return  # the configuration did not load, not a job's run (schema...), or a dry run
    try:
        path = write_manifest(config.paths.report_dir, record)
        log.debug("run manifest: %s", path)
    except OSError as exc:
        log.error("cannot write the run's manifest under %s: %s", config.paths.report_dir, exc)
    textfile = config.metrics.textfile
    if textfile is None or not record.monitored or record.part is not None:
        return
    try:
        write_metrics(textfile, layout.lock_dir(config), record)
    except OSError as exc:
        log.error("cannot write the metrics textfile %s: %s", textfile, exc)


def manifest_path(report_dir: Path, record: RunRecord) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(record.started))
    return report_dir / MANIFEST_DIR / f"{record.job}-{stamp}-{record.pid}.json"


def manifest(record: RunRecord) -> dict[str, Any]:
    """The manifest's content: plain JSON types only."""
    return {
        "version": MANIFEST_VERSION,
        "job": record.job,
        "command": record.command,
        "part": record.part,
        "pid": record.pid,
        "started": _iso(record.started),
        "finished": _iso(record.finished) if record.finished is not None else None,
        "date": record.date,
        "outcome": record.outcome,
        "exit_status": record.exit_status,
        "inputs": [asdict(item) for item in record.inputs],
        "volumes": {volume: asdict(counts) for volume, counts in sorted(record.volumes.items())},
        "rows_written": dict(sorted(record.rows_written.items())),
        "groups_skipped": list(record.groups_skipped),
        "quota_failures": list(record.quota_failures),
        "not_uploaded": list(record.not_uploaded),
        "needs_a_person": list(record.needs_a_person),
        "durations_seconds": {name: round(s, 3) for name, s in record.durations.items()},
    }


def write_manifest(report_dir: Path, record: RunRecord) -> Path:
    """Write the run's manifest atomically, 0600 (``mkstemp``'s mode, kept), never over
    another run's: two runs of one process in one second (a test, a library caller)
    get ``-1``, ``-2``... after the pid."""
    path = manifest_path(report_dir, record)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps(manifest(record), indent=2, ensure_ascii=True) + "\n"
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        for attempt in range(1000):
            target = path if attempt == 0 else path.with_name(f"{path.stem}-{attempt}.json")
            try:
                os.link(name, target)  # appears complete, and fails rather than replace
            except FileExistsError:
                continue
            return target
        raise FileExistsError(f"{path}: a thousand manifests of one process in one second")
    finally:
        Path(name).unlink(missing_ok=True)


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))
