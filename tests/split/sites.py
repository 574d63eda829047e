"""A split installation in a temporary directory: its LDAP groups, config and inputs.

``make_site`` writes a config whose directory is an LDIF of ``GROUPS`` (or the groups
given), over volumes 118 and 119; ``ODD_NAMES`` are the path bytes that break naive
handling. Holds no tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from humgen_storage.cli import main
from humgen_storage.mpistat.writer import Record
from tests.helpers import base_sections, write_ini

DAY = "20261120"

# (cn, gid, humgen)
GROUPS: tuple[tuple[str, int, bool], ...] = (
    ("hgi", 1001, True),
    ("team113", 1002, True),
    ("vr-projects", 1003, False),
    ("users", 1006, False),
)
# Humgen groups whose names are no file names: the directory drops them (SPEC §11), so
# the split skips their records (or writes them by gid with --id) and exits 3.
UNSAFE_GROUPS: tuple[tuple[str, int, bool], ...] = (
    (".hidden", 2001, True),
    ("bad/name", 2002, True),
)

# Path bytes that break naive handling: tabs, newlines, quotes, backslashes,
# invalid UTF-8, control characters, valid non-ASCII UTF-8, spaces.
ODD_NAMES = (
    b"tab\there",
    b"new\nline",
    b'quote"d',
    b"back\\slash",
    b"\\x41 not an escape",
    b"\xff\xfe not utf-8",
    b"bell\x07 and \x1b esc",
    b"snow \xe2\x98\x83 man",
    b"trailing space ",
)


def write_ldif(path: Path, groups: Iterable[tuple[str, int, bool]]) -> Path:
    entries = [
        "version: 1\n",
        "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n",
        "dn: ou=group,dc=example,dc=org\nobjectClass: organizationalUnit\nou: group\n",
        "dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n",
    ]
    for cn, gid, humgen in groups:
        classes = "objectClass: posixGroup\n" + (
            "objectClass: sangerHumgenProjectGroup\n" if humgen else ""
        )
        entries.append(
            f"dn: cn={cn},ou=group,dc=example,dc=org\n{classes}cn: {cn}\ngidNumber: {gid}\n"
        )
    path.write_text("\n".join(entries), encoding="utf-8")
    return path


@dataclass
class Site:
    tmp: Path
    config: str
    mpistat: Path
    output_dir: Path

    @property
    def dated(self) -> Path:
        return self.output_dir / DAY

    def split(self, *args: str | Path) -> int:
        return main(["--config", self.config, "split", *(str(a) for a in args)])


def make_site(
    tmp_path: Path,
    groups: Iterable[tuple[str, int, bool]] = GROUPS,
    splitter: dict[str, object] | None = None,
    s3: dict[str, object] | None = None,
    workers: int = 1,
    volumes: str = "118 119",
) -> Site:
    sections = base_sections(tmp_path)
    sections["ldap"]["ldif"] = write_ldif(tmp_path / "groups.ldif", groups)
    sections["volumes"]["splitter"] = volumes
    sections["splitter"].update(splitter or {})
    sections["s3"] = {"bucket": "unused", "prefix": "mpistat/", **(s3 or {})}
    sections["jobs"] = {"workers": workers}
    config = write_ini(tmp_path / "site.ini", sections)
    return Site(tmp_path, str(config), tmp_path / "mpistat", tmp_path / "groups")


def root(volume: str) -> Record:
    return Record(f"/lustre/scratch{volume}".encode(), 4096, 0, 0, type="d", inode=2)
