"""Helpers for writing test inputs."""

from __future__ import annotations

import binascii
import contextlib
import gzip
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from humgen_storage.config import SplitterConfig
from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.patterns import Format, clean_block, record_pattern
from humgen_storage.mpistat.reader import MpistatReader
from humgen_storage.mpistat.writer import Record
from humgen_storage.run.blocks import map_raw_blocks
from humgen_storage.split.index import IndexConstants


def write_mpistat(
    directory: Path,
    day: str,
    volume: str,
    records: Iterable[Record],
    fmt: Format = Format.BASE64,
    extra_lines: Iterable[bytes] = (),
    mtime: float | None = None,
) -> Path:
    """Write ``<directory>/<day>_<volume>.dat.gz``; ``mtime`` sets the file's mtime (the report's reference)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{day}_{volume}.dat.gz"
    with gzip.open(path, "wb") as handle:
        for record in records:
            handle.write(record.line(fmt))
        for line in extra_lines:
            handle.write(line)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def row_blocks(reader: MpistatReader, fields: tuple[str, ...]) -> Iterator[list[Any]]:
    """The valid rows of an open reader, block by block: tuples of the captured
    ``fields`` (bytes) in line order. Read through the jobs' own path
    (``map_raw_blocks``, ``clean_block``), which settles the reader's bad-line account
    (and raises past ``max_bad_fraction``) once the last block is taken."""
    pattern = record_pattern(reader.format, fields)

    def parse(
        fmt: Format, block: bytes, first_line: int
    ) -> tuple[list[Any], list[tuple[int, str]]]:
        valid, bad = clean_block(fmt, block, first_line)
        return pattern.findall(valid), bad

    return map_raw_blocks(reader, parse)


def default_index_constants() -> IndexConstants:
    """The estimate's constants of a ``[splitter]`` section that sets none of them."""
    return IndexConstants.from_config(SplitterConfig(output_dir=Path("unused")))


REPO = Path(__file__).resolve().parent.parent
LFS_STANDIN = REPO / "fixtures" / "bin" / "lfs"
TEST_LDIF = REPO / "fixtures" / "ldap" / "test-directory.ldif"


def write_ini(path: Path, sections: dict[str, dict[str, object]]) -> Path:
    """Write an INI file from nested dicts (values are str()-ed)."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(0o600)
    return path


def base_sections(tmp_path: Path, database_url: str | None = None) -> dict[str, dict[str, object]]:
    """A complete config for tests: SQLite in tmp_path, the test LDIF, the lfs stand-in."""
    return {
        "paths": {
            "mpistat_dir": tmp_path / "mpistat",
            "report_dir": tmp_path / "reports",
            "max_days_ago": 10,
        },
        "volumes": {"report": "118", "inspector": "118", "splitter": "118"},
        "database": {"url": database_url or f"sqlite:///{tmp_path / 'usage.db'}"},
        "ldap": {
            "ldif": TEST_LDIF,
            "group_base": "ou=group,dc=example,dc=org",
            "people_base": "ou=people,dc=example,dc=org",
        },
        "quota": {"command": LFS_STANDIN, "timeout": 5},
        "splitter": {"output_dir": tmp_path / "groups"},
    }


def treeserve_line(fmt: Format, line: bytes) -> bytes:
    """What the split writes for a valid input ``line`` (spec 6): a base64 line as it is,
    a wrstat line as the 11-field base64 line of the same record. Line by line, from
    the decoded path: the reference for the split's bulk rewriting."""
    if fmt is Format.BASE64:
        return line
    fields = line.rstrip(b"\n").split(b"\t")  # a quoted path holds no raw tab
    path = binascii.b2a_base64(fmt.decode_path(fields[0]), newline=False)
    return b"\t".join([path, *fields[1:11]]) + b"\n"


@contextlib.contextmanager
def on_kernel_path(path: str) -> Iterator[None]:
    """Within: blocks take ``path`` (``kernel.COMPILED`` or ``kernel.NUMPY``), as
    ``HUMGEN_STORAGE_KERNEL`` chooses it; an unbuilt kernel fails, never passing for the
    compiled path on the numpy one."""
    before = os.environ.get(kernel.KERNEL_ENV)
    os.environ[kernel.KERNEL_ENV] = path
    kernel.reset()
    try:
        assert kernel.active() == path, (
            "the compiled kernel is not built: pip install -e . (gcc, Python headers)"
        )
        yield
    finally:
        if before is None:
            os.environ.pop(kernel.KERNEL_ENV)
        else:
            os.environ[kernel.KERNEL_ENV] = before
        kernel.reset()
