"""A legacy report TSV (``report-YYYYMMDD.tsv``) read back into lustre_usage rows.

The legacy scripts wrote the header of SPEC section 4, lines ended ``\\r\\n``, NULL
as ``-``, whole numbers of days as ``3``, ``Is Humgen?`` as ``True``/``False``, and
numbers of a column holding a NULL as floats (``5497558138880.0``). Names are taken
as written (the legacy escaped nothing); ``Consumption`` is kept as written.
Pure: text in, rows out; any line that does not fit is an error naming it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from humgen_storage.report.table import TSV_HEADER

NULL = "-"
_NAME = re.compile(r"report-(\d{8})\.tsv")


class LegacyFormatError(ValueError):
    """A file that is not a legacy report TSV; the message names the file and line."""


@dataclass(frozen=True)
class LegacyRow:
    """One row as ``report.table.INSERT_ROW`` takes it."""

    volume: str
    pi: str | None
    group: str
    used: int
    quota: int | None
    consumption: str | None
    last_modified: float | None
    archived: str | None
    date: str
    is_humgen: bool

    def values(self) -> tuple[object, ...]:
        return (
            self.volume,
            self.pi,
            self.group,
            self.used,
            self.quota,
            self.consumption,
            self.last_modified,
            self.archived,
            self.date,
            int(self.is_humgen),
        )


def date_of(path: Path) -> dt.date:
    """The date in the name ``report-YYYYMMDD.tsv``."""
    match = _NAME.fullmatch(path.name)
    if match is None:
        raise LegacyFormatError(f"{path}: not named report-YYYYMMDD.tsv")
    try:
        return dt.datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        raise LegacyFormatError(f"{path}: {match.group(1)} is not a date") from None


def _text(value: str) -> str | None:
    return None if value == NULL else value


def _whole(value: str, what: str) -> int:
    """An integer, written as one or as a float with nothing after the point."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value() or number < 0:
        raise ValueError(f"{what} is not a whole number of bytes: {value!r}")
    return int(number)


def _row(fields: list[str], day: str) -> LegacyRow:
    volume, pi, group, used, quota, consumption, last_modified, archived, humgen = fields
    if humgen not in ("True", "False"):
        raise ValueError(f"Is Humgen? is neither True nor False: {humgen!r}")
    if volume == NULL or group == NULL or used == NULL:
        raise ValueError("Lustre Volume, Unix Group and Used (bytes) cannot be '-'")
    try:
        days = None if last_modified == NULL else float(last_modified)
    except ValueError:
        raise ValueError(f"Last Modified (days) is not a number: {last_modified!r}") from None
    return LegacyRow(
        volume=volume,
        pi=_text(pi),
        group=group,
        used=_whole(used, "Used (bytes)"),
        quota=None if quota == NULL else _whole(quota, "Quota (bytes)"),
        consumption=_text(consumption),
        last_modified=days,
        archived=_text(archived),
        date=day,
        is_humgen=humgen == "True",
    )


def parse(path: Path, data: bytes) -> list[LegacyRow]:
    """The rows of one legacy TSV (its bytes), dated by its name."""
    day = date_of(path).isoformat()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LegacyFormatError(f"{path}: not UTF-8 ({exc})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    if not lines or tuple(lines[0].split("\t")) != TSV_HEADER:
        raise LegacyFormatError(f"{path}: line 1 is not the report's header")
    rows, seen = [], set()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        try:
            if len(fields) != len(TSV_HEADER):
                raise ValueError(f"{len(fields)} fields, not {len(TSV_HEADER)}")
            row = _row(fields, day)
            if (row.volume, row.group) in seen:
                raise ValueError(f"{row.volume} {row.group} is on an earlier line too")
        except ValueError as exc:
            raise LegacyFormatError(f"{path}: line {number}: {exc}") from None
        seen.add((row.volume, row.group))
        rows.append(row)
    return rows
