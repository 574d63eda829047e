"""Writing the configured feeds after ``manage report`` (``[feeds]``).

Each feed is written on its own: one that fails is logged and marks the run degraded
(exit status 3, ``needs a person``), and the others and the report stand.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from humgen_storage.config import Config
from humgen_storage.db import Database, open_database
from humgen_storage.feeds import rows
from humgen_storage.feeds.ondemand import ondemand_document, write_ondemand
from humgen_storage.feeds.prometheus import usage_textfile, write_prometheus
from humgen_storage.feeds.xdmod import write_xdmod, xdmod_records
from humgen_storage.run.record import current

log = logging.getLogger(__name__)


def configured(config: Config) -> bool:
    feeds = config.feeds
    return any(
        p is not None for p in (feeds.xdmod_dir, feeds.ondemand_file, feeds.prometheus_usage)
    )


def _xdmod(config: Config, db: Database, day: dt.date) -> str:
    assert config.feeds.xdmod_dir is not None
    records = xdmod_records(
        day, rows.group_usage(db, day), rows.member_usage(db, day), config.feeds.xdmod_resource
    )
    return str(write_xdmod(config.feeds.xdmod_dir, day, records))


def _ondemand(config: Config, db: Database, day: dt.date) -> str:
    assert config.feeds.ondemand_file is not None
    document = ondemand_document(
        day, rows.group_usage(db, day), rows.member_usage(db, day), config.feeds.ondemand_path
    )
    write_ondemand(config.feeds.ondemand_file, document)
    return str(config.feeds.ondemand_file)


def _prometheus(config: Config, db: Database, day: dt.date) -> str:
    assert config.feeds.prometheus_usage is not None
    text = usage_textfile(day, rows.group_usage(db, day), rows.forecasts(db, day))
    write_prometheus(config.feeds.prometheus_usage, text)
    return str(config.feeds.prometheus_usage)


def write_feeds(config: Config, day: dt.date) -> None:
    """Write every configured feed of ``day``; a failure degrades the run, never fails it."""
    if not configured(config):
        return
    feeds = config.feeds
    writers: list[tuple[str, Callable[[Config, Database, dt.date], str]]] = [
        (name, writer)
        for name, writer, wanted in (
            ("XDMoD", _xdmod, feeds.xdmod_dir),
            ("OnDemand", _ondemand, feeds.ondemand_file),
            ("Prometheus usage", _prometheus, feeds.prometheus_usage),
        )
        if wanted is not None
    ]
    try:
        db = open_database(config.database, base_dir=config.source.parent)
    except Exception as exc:
        _failed(", ".join(name for name, _ in writers), day, exc)
        return
    with db:
        for name, writer in writers:
            try:
                log.info("wrote the %s feed of %s: %s", name, day, writer(config, db, day))
            except Exception as exc:
                _failed(name, day, exc)


def _failed(names: str, day: dt.date, exc: Exception) -> None:
    log.error("the %s feed of %s was not written: %s", names, day, exc)
    current().degrade(f"feed not written: {names} for {day}: {exc}")
