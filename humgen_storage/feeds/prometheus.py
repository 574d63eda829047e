"""A Prometheus textfile of usage: per (volume, group), for node_exporter's textfile
collector, beside the run metrics of SPEC §12 (``[metrics] textfile``) in a file of
its own (``[feeds] prometheus_usage``), rewritten whole after each report.

Names follow Prometheus' conventions: the product's prefix, the unit last (``_bytes``,
``_files``, ``_seconds``: time in seconds, so days until full are seconds), gauges
with HELP and TYPE. Volumes, groups and PIs are labels by name. A limit that is not
known, or is none (0), has no series, so ``used / quota`` never divides by zero.
The forecast's status is one series per (volume, group, measure) with value 1 and the
status as a label.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path

from humgen_storage.feeds.ondemand import day_timestamp
from humgen_storage.feeds.rows import GroupForecast, GroupUsage
from humgen_storage.run.atomic import atomic_file
from humgen_storage.run.metrics import escape

PREFIX = "humgen_storage_group_"
DATE_METRIC = "humgen_storage_usage_date_timestamp_seconds"
SECONDS_A_DAY = 86400

# name -> help, in the file's order.
HELP = {
    DATE_METRIC: "Midnight UTC of the crawl's date these figures are of.",
    PREFIX + "used_bytes": "Bytes of the group's files on the volume (the crawl; hard links once).",
    PREFIX + "quota_bytes": "The group's block quota on the volume (only where one is set).",
    PREFIX + "used_files": "Distinct inodes of the group on the volume (the crawl).",
    PREFIX + "quota_files": "The group's inode quota on the volume (only where one is set).",
    PREFIX + "full_in_seconds": "The forecast's time until the quota is full (0: full; only"
    " where the forecast has a number).",
    PREFIX + "forecast_status": "1, with the forecast's status as a label (full, critical,"
    " warning, ok, unlimited, shrinking, not enough history).",
}


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{name}="{escape(value)}"' for name, value in pairs) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def usage_samples(
    groups: Sequence[GroupUsage], forecasts: Sequence[GroupForecast]
) -> dict[str, list[tuple[str, str]]]:
    """name -> [(labels, value)] of the usage and the forecast."""
    samples: dict[str, list[tuple[str, str]]] = {name: [] for name in HELP}
    pis = {(g.volume, g.group): g.pi or "" for g in groups}
    for g in groups:
        labels = _labels((("volume", g.volume), ("group", g.group), ("pi", g.pi or "")))
        samples[PREFIX + "used_bytes"].append((labels, str(g.used_bytes)))
        if g.quota_bytes:
            samples[PREFIX + "quota_bytes"].append((labels, str(g.quota_bytes)))
        if g.files is not None:
            samples[PREFIX + "used_files"].append((labels, str(g.files)))
        if g.inode_quota:
            samples[PREFIX + "quota_files"].append((labels, str(g.inode_quota)))
    for f in forecasts:
        pi = pis.get((f.volume, f.group), "")
        base = (("volume", f.volume), ("group", f.group), ("pi", pi), ("measure", f.measure))
        if f.days_until_full is not None:
            seconds = _number(round(f.days_until_full * SECONDS_A_DAY, 3))
            samples[PREFIX + "full_in_seconds"].append((_labels(base), seconds))
        labels = _labels((*base, ("status", f.status)))
        samples[PREFIX + "forecast_status"].append((labels, "1"))
    return samples


def usage_textfile(
    day: dt.date, groups: Sequence[GroupUsage], forecasts: Sequence[GroupForecast]
) -> str:
    samples = usage_samples(groups, forecasts)
    samples[DATE_METRIC] = [("", str(day_timestamp(day)))]
    lines: list[str] = []
    for name, help_text in HELP.items():
        if samples[name]:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [f"{name}{labels} {value}" for labels, value in samples[name]]
    return "\n".join(lines) + "\n"


def write_prometheus(path: Path, text: str) -> None:
    """Replaced atomically; the temporary ends in ``.tmp``, which the collector skips."""
    with atomic_file(path) as handle:
        handle.write(text)
