"""``[paths] keep_days``: prune what the product itself leaves behind, after N days.

Pruned, when older than N days (by their own mtime, read without following links):
the entries of ``report_dir/.staging/`` (areas of crashed or abandoned runs),
``report_dir/runs/*.json`` (run manifests), the dated ``<output_dir>/<YYYYMMDD>/``
directories of the split, and the files of ``report_dir/<job>-logs/`` (cron and LSF
logs). Never the database, never a TSV (``report-output-files/``), never anything
else. A symbolic link is never followed: a link found where a folder or an entry
should be is left alone (and said so), and a directory is removed with
``shutil.rmtree``, which unlinks the links inside it without entering them.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from humgen_storage.config import Config
from humgen_storage.run import layout
from humgen_storage.run.registry import JOBS

log = logging.getLogger(__name__)

_DAY_DIR = re.compile(r"^\d{8}$")
_SECONDS_PER_DAY = 86400


def _entries(folder: Path, keep: re.Pattern[str] | None = None) -> Iterator[Path]:
    """The entries of ``folder`` (whose names match ``keep``), when ``folder`` is a real
    directory; nothing when it is missing or a symbolic link."""
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        log.warning("keep_days: %s is a symbolic link; not pruned through", folder)
        return
    if not stat.S_ISDIR(mode):
        return
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if keep is None or keep.match(entry.name):
            yield Path(entry.path)


def candidates(config: Config) -> Iterator[Path]:
    """Everything keep_days may prune, whatever its age."""
    report_dir = config.paths.report_dir
    yield from _entries(layout.staging_root(report_dir))
    yield from _entries(report_dir / "runs", re.compile(r".*\.json$"))
    yield from _entries(config.splitter.output_dir, _DAY_DIR)
    for job in JOBS:
        yield from _entries(layout.log_dir(report_dir, job))


def expired(config: Config, now: float | None = None) -> list[Path]:
    """The candidates older than ``keep_days`` (none when it is unset); links excluded."""
    if config.paths.keep_days is None:
        return []
    cutoff = (time.time() if now is None else now) - config.paths.keep_days * _SECONDS_PER_DAY
    old = []
    for path in candidates(config):
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            if info.st_mtime < cutoff:
                log.warning("keep_days: %s is a symbolic link; left alone", path)
            continue
        if info.st_mtime < cutoff:
            old.append(path)
    return old


def prune(config: Config, now: float | None = None) -> list[Path]:
    """Remove what keep_days says has expired; log each removal. Never raises: a
    failure to prune is a warning, not a failed night."""
    removed = []
    for path in expired(config, now):
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                shutil.rmtree(path)  # refuses a link at the top; unlinks links inside
            else:
                path.unlink()
        except OSError as exc:
            log.warning("keep_days: could not remove %s: %s", path, exc)
            continue
        removed.append(path)
        log.info("keep_days: removed %s (older than %d days)", path, config.paths.keep_days)
    return removed
