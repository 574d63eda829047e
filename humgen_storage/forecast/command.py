"""forecast: when each group's quota fills, for bytes and inodes, from the database's history.

Per (volume, group): used, limit, days until full (a point estimate and an 80 %
interval) and a status, into the ``forecast`` table and
``report-output-files/forecast-YYYYMMDD.tsv``, and printed. ``manage report`` runs
it after publishing (``after_report``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections import Counter

from humgen_storage.config import Config
from humgen_storage.db import Database, open_database
from humgen_storage.forecast.table import ForecastRow, Selection, compute, latest_date, publish
from humgen_storage.run import driver
from humgen_storage.run.inputs import parse_date
from humgen_storage.run.record import current

log = logging.getLogger(__name__)

JOB = "forecast"
EVERY_GROUP = Selection()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--date", type=parse_date, help="forecast as of YYYY-MM-DD (default: the newest report)"
    )
    parser.add_argument("--volume", metavar="V", help="only this volume (118 or scratch118)")
    parser.add_argument("--group", metavar="G", help="only this Unix group")


def run(args: argparse.Namespace, config: Config) -> int:
    volume = args.volume
    if volume is not None and volume.startswith("scratch"):
        volume = volume.removeprefix("scratch")
    selection = Selection(volume=volume, group=args.group)

    def work() -> int:
        with _open(config) as db:
            day = args.date or latest_date(db)
            if day is None:
                log.info("lustre_usage holds no report yet; nothing to forecast")
                current().nothing_to_do = True
                return 0
            rows = forecast_day(config, db, day, selection)
        print(_table(rows), flush=True)
        return 0

    return driver.run_locked(config, JOB, work)


def _open(config: Config) -> Database:
    return open_database(config.database, base_dir=config.source.parent)


def forecast_day(
    config: Config, db: Database, day: dt.date, selection: Selection = EVERY_GROUP
) -> list[ForecastRow]:
    """Forecast ``day`` and publish it (table and TSV); the rows, for printing."""
    record = current()
    record.date = record.date or day.isoformat()
    rows = compute(db, day, config.forecast, selection)
    tsv = publish(db, config.paths.report_dir, day, rows, selection)
    record.rows_written["forecast"] = len(rows)
    statuses = Counter(row.forecast.status for row in rows)
    log.info(
        "forecast for %s: %d rows (%s); wrote %s",
        day,
        len(rows),
        ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())) or "none",
        tsv,
    )
    return rows


def after_report(config: Config, day: dt.date) -> None:
    """The forecast of a report just published. Its failure never fails the report,
    which is written: it is logged, and the run is marked degraded (exit status 3)."""
    try:
        with current().stage("forecast"), _open(config) as db:
            forecast_day(config, db, day)
    except Exception as exc:  # whatever it is, the report stands: said, and degraded
        log.error("forecast for %s failed: %s: %s", day, type(exc).__name__, exc)
        current().degrade(
            f"the forecast for {day} failed ({exc}); the report is published, and"
            f" `humgen-storage forecast --date {day}` makes the forecast again"
        )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _table(rows: list[ForecastRow]) -> str:
    lines = ["volume\tgroup\tmeasure\tused\tlimit\tdays until full (80 %)\tstatus"]
    for row in rows:
        f = row.forecast
        interval = f"{_number(f.days_until_full)} ({_number(f.days_low)}-{_number(f.days_high)})"
        limit = "-" if f.limit is None else str(f.limit)
        lines.append(
            f"{row.volume}\t{row.group}\t{row.measure}\t{f.used}\t{limit}\t{interval}\t{f.status}"
        )
    return "\n".join(lines)
