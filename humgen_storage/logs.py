"""Logging and progress: timestamped lines on stderr that name the volume they concern.

Progress is measured in compressed input bytes: a tqdm bar on a terminal, a log line
every ``interval`` seconds otherwise (cron and LSF logs are files, where bars are noise).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s [%(volume)s] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class _DefaultVolume(logging.Filter):
    """Give every record a ``volume`` attribute so one format fits all lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "volume"):
            record.volume = "-"
        return True


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    handler.addFilter(_DefaultVolume())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_humgen_storage", False):
            root.removeHandler(old)
    handler._humgen_storage = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Third-party libraries are chatty at DEBUG; their details rarely help an admin.
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3", "ldap3"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)


class VolumeLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger whose lines carry the volume they concern."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("volume", (self.extra or {}).get("volume", "-"))
        kwargs["extra"] = extra
        return msg, kwargs


def volume_logger(name: str, volume: str) -> VolumeLogger:
    return VolumeLogger(logging.getLogger(name), {"volume": volume})


class Progress:
    """Counts compressed input bytes; draws a bar on a terminal, logs periodically otherwise."""

    def __init__(
        self,
        total: int,
        description: str,
        log: logging.Logger | logging.LoggerAdapter[Any],
        interval: float = 60.0,
        enabled: bool | None = None,
    ) -> None:
        self.total = total
        self.done = 0
        self.description = description
        self.log = log
        self.interval = interval
        self.started = time.monotonic()
        self.last_log = self.started
        on_terminal = sys.stderr.isatty() if enabled is None else enabled
        self.bar: Any = None
        if on_terminal:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                desc=description,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                leave=False,
            )

    def update(self, compressed_bytes: int) -> None:
        self.done += compressed_bytes
        if self.bar is not None:
            self.bar.update(compressed_bytes)
            return
        now = time.monotonic()
        if now - self.last_log >= self.interval:
            self.last_log = now
            percent = 100.0 * self.done / self.total if self.total else 100.0
            self.log.info(
                "%s: %.1f%% of %d compressed bytes after %.0f s",
                self.description,
                percent,
                self.total,
                now - self.started,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
