"""The Prometheus textfile: each job's last run, for node_exporter's textfile collector.

With ``[metrics] textfile = FILE`` every run of a job rewrites FILE (SPEC §12), so a
missed night shows in monitoring without anyone reading logs. The file holds every
job's values: a run reads the file, replaces its own job's series and keeps the
others', under a lock (``report_dir/.locks/metrics.lock``: the array's finaliser and
another job may end together), and renames a complete new file over the old one.

Only the file's own series are read back; anything else in it is dropped (the file
belongs to the product). The file follows the umask (node_exporter, often another
user, must read it); the temporary beside it ends in ``.tmp``, which the collector
skips.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from humgen_storage.run.record import EXIT_DEGRADED, RunRecord

PREFIX = "humgen_storage_"
LOCK_NAME = "metrics.lock"

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "gauge" or "counter"
    help: str


METRICS = (
    Metric(
        PREFIX + "last_run_timestamp_seconds",
        "gauge",
        "When the job's last run ended (Unix time), whatever its outcome.",
    ),
    Metric(
        PREFIX + "last_success_timestamp_seconds",
        "gauge",
        "When the job's last run that ended with exit status 0 (done or nothing to do)"
        " or 3 (published, degraded) ended (Unix time).",
    ),
    Metric(
        PREFIX + "last_run_exit_status",
        "gauge",
        "The exit status of the job's last run: 0 done or nothing to do, 1 failed,"
        " 2 usage error, 3 published but degraded, 130/143 interrupted.",
    ),
    Metric(PREFIX + "run_duration_seconds", "gauge", "How long the job's last run took."),
    Metric(
        PREFIX + "lines_total",
        "counter",
        "Lines read from the volume's input by the job's last run that read it.",
    ),
    Metric(
        PREFIX + "malformed_lines_total",
        "counter",
        "Malformed lines in the volume's input, as the job's last run that read it counted.",
    ),
)
_KNOWN = {metric.name for metric in METRICS}

Samples = dict[str, dict[Labels, float]]

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def escape(value: str) -> str:
    """A label value as the text format writes it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def unescape(value: str) -> str:
    return re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], value)


def parse(text: str) -> Samples:
    """The samples of the file's own metrics, by name and labels (comments skipped)."""
    samples: Samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] not in _KNOWN:
            continue
        labels = tuple(
            sorted((key, unescape(value)) for key, value in _LABEL.findall(match["labels"] or ""))
        )
        try:
            samples.setdefault(match["name"], {})[labels] = float(match["value"])
        except ValueError:
            continue
    return samples


def render(samples: Samples) -> str:
    lines = []
    for metric in METRICS:
        series = samples.get(metric.name, {})
        if not series:
            continue
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in sorted(series.items()):
            shown = ",".join(f'{key}="{escape(text)}"' for key, text in labels)
            lines.append(f"{metric.name}{{{shown}}} {_number(value)}")
    return "\n".join(lines) + "\n" if lines else ""


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def update(samples: Samples, record: RunRecord) -> Samples:
    """``samples`` with the job's series replaced by what ``record``'s run did."""
    job = record.job or record.command
    ended = record.finished if record.finished is not None else record.started
    status = record.exit_status if record.exit_status is not None else 1

    def put(name: str, value: float, **labels: str) -> None:
        key = tuple(sorted({"job": job, **labels}.items()))
        samples.setdefault(PREFIX + name, {})[key] = float(value)

    put("last_run_timestamp_seconds", ended)
    if status in (0, EXIT_DEGRADED):
        put("last_success_timestamp_seconds", ended)
    put("last_run_exit_status", status)
    put("run_duration_seconds", max(0.0, ended - record.started))
    for volume, counts in record.volumes.items():
        put("lines_total", counts.lines, volume=volume)
        put("malformed_lines_total", counts.malformed, volume=volume)
    return samples


def write_metrics(textfile: Path, lock_dir: Path, record: RunRecord) -> None:
    """Rewrite ``textfile`` with ``record``'s run merged into the values already there."""
    textfile.parent.mkdir(parents=True, exist_ok=True)
    with _locked(lock_dir):
        try:
            old = textfile.read_text(encoding="utf-8")
        except FileNotFoundError:
            old = ""
        text = render(update(parse(old), record))
        temporary = textfile.with_name(f".{textfile.name}.{os.getpid()}.tmp")
        with suppress(FileNotFoundError):
            temporary.unlink()
        # O_EXCL and O_NOFOLLOW: never written through a link placed there; the mode
        # follows the umask so that node_exporter can read the file.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, textfile)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


@contextmanager
def _locked(lock_dir: Path) -> Iterator[None]:
    """Held for the read-merge-rename only: a blocking flock, released by the kernel
    if the process dies."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
