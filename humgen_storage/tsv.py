"""Tab-separated outputs, written atomically (``humgen_storage.run.atomic``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from humgen_storage.run.atomic import atomic_file

NULL = "-"


def escaped(value: str | None) -> str | None:
    """Text from outside as one TSV field: tabs, newlines and backslashes as ``\\t``,
    ``\\n``, ``\\\\`` (as the report's TSV shows LDAP values)."""
    if value is None:
        return None
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def tsv_line(values: Sequence[Any]) -> str:
    """One row; None is written as '-'. Values must not hold tabs or newlines (names are escaped upstream)."""
    return "\t".join(NULL if value is None else str(value) for value in values) + "\n"


def write_tsv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], base: Path | None = None
) -> None:
    """``path`` written atomically, its mode from the umask. ``base`` (default: the
    folder above the TSVs' ``report-output-files/``, i.e. ``report_dir``) is where the
    checked folders begin: no link under it is followed."""
    with atomic_file(path, base=path.parent.parent if base is None else base) as handle:
        write_tsv_lines(handle, header, rows)


def write_tsv_lines(handle: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """The header and the rows into an open file (``run.atomic.prepared_text_file``)."""
    handle.write(tsv_line(header))
    for row in rows:
        handle.write(tsv_line(row))
