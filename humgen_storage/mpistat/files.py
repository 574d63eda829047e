"""The names of mpistat files: ``<YYYYMMDD>_<volume>.dat.gz``, and the volume names in
them and in the configuration.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from humgen_storage.errors import InputError

# A volume as the crawler names its files and the configuration lists it.
VOLUME_NAME = r"[0-9A-Za-z_-]+"
VOLUME_RE = re.compile(rf"^{VOLUME_NAME}$")
_NAME_RE = re.compile(rf"^(?P<date>\d{{8}})_(?P<volume>{VOLUME_NAME})\.dat\.gz$")


@dataclass(frozen=True)
class InputFile:
    """One mpistat file: ``<dir>/<YYYYMMDD>_<volume>.dat.gz``."""

    path: Path
    date: date
    volume: str

    @classmethod
    def expected(cls, mpistat_dir: Path, day: dt.date, volume: str) -> InputFile:
        """The file the crawler delivers for ``volume`` on ``day`` (it may not exist)."""
        return cls(mpistat_dir / f"{day.strftime('%Y%m%d')}_{volume}.dat.gz", day, volume)

    @classmethod
    def from_path(cls, path: Path | str) -> InputFile:
        path = Path(path)
        match = _NAME_RE.match(path.name)
        if not match:
            raise InputError(f"{path}: name is not <YYYYMMDD>_<volume>.dat.gz")
        text = match.group("date")
        try:
            day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            raise InputError(f"{path}: {text} in the name is not a date") from None
        return cls(path, day, match.group("volume"))


def volume_name_of_root(root: bytes) -> str | None:
    """The second component of the root path: ``/lustre/scratch118`` -> ``scratch118``."""
    parts = [part for part in root.split(b"/") if part]
    if len(parts) < 2:
        return None
    return parts[1].decode("utf-8", errors="replace")
