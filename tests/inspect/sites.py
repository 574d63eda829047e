"""An inspect installation in a temporary directory: its config and its input set.

The config names volumes 118 and 115 with the roots of tests/inspect/trees.py; the
input set writes those trees as one day's mpistat files, with the reference mtime REF.
Holds no tests.
"""

from __future__ import annotations

from pathlib import Path

from humgen_storage.mpistat.patterns import Format
from humgen_storage.mpistat.writer import Record
from tests.helpers import write_mpistat
from tests.inspect.trees import REF, ROOTS_115, ROOTS_118, TREE_115, TREE_118

LDIF = Path(__file__).resolve().parents[2] / "fixtures" / "ldap" / "directory.ldif"
DAY1 = "20261120"


def write_config(
    tmp_path: Path,
    database_url: str = "sqlite:///spaceman.db",
    volumes: str = "118 115",
    workers: int = 1,
    name: str = "humgen_storage.ini",
) -> Path:
    path = tmp_path / name
    path.write_text(
        f"""
[paths]
mpistat_dir = mpistat
report_dir = reports
max_days_ago = 5

[volumes]
inspector = {volumes}

[database]
url = {database_url}

[ldap]
ldif = {LDIF}
group_base = ou=group,dc=example,dc=org
people_base = ou=people,dc=example,dc=org

[inspector]
118 = {" ".join(ROOTS_118)}
115 = {" ".join(ROOTS_115)}

[jobs]
workers = {workers}
""",
        encoding="utf-8",
    )
    return path


def write_inputs(
    tmp_path: Path,
    day: str = DAY1,
    tree_118: tuple[Record, ...] = TREE_118,
    tree_115: tuple[Record, ...] = TREE_115,
) -> None:
    mpistat = tmp_path / "mpistat"
    write_mpistat(mpistat, day, "118", tree_118, fmt=Format.WRSTAT, mtime=REF)
    write_mpistat(mpistat, day, "115", tree_115, fmt=Format.BASE64, mtime=REF)


def iso(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def truncate(path: Path) -> None:
    """Cut an input file in half: a gzip stream that ends early."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
