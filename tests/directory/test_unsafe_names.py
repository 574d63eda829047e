"""Hostile group names and PI surnames (SPEC §11, issue 16): never a failed run.

A NUL in a cn used to fail the report (``embedded null byte``), a 5000-character name
failed the MariaDB insert (``Data too long for column 'Unix Group'``), and ESC and CR
reached the TSV and S3 keys. The directory now drops such a name once, where it is
loaded: every job reports the group by gid, one warning names it escaped, and the run
exits 3. Runs here use the real MariaDB, slapd and the moto S3 server.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from humgen_storage.cli import main
from humgen_storage.config import LdapConfig
from humgen_storage.config.load import load_config
from humgen_storage.db import open_database
from humgen_storage.directory import Group, load_directory
from humgen_storage.mpistat.writer import Record
from humgen_storage.run.record import EXIT_DEGRADED
from tests.helpers import base_sections, write_ini, write_mpistat
from tests.services.s3 import s3_client
from tests.services.slapd import SlapdServer, running_slapd

DAY = "20261120"
R = 1_800_000_000
BASE = "dc=example,dc=org"
GROUP_BASE = f"ou=group,{BASE}"
PEOPLE_BASE = f"ou=people,{BASE}"

# gid -> cn; every one a humgen group, so the split selects all their records.
HOSTILE_NAMES = {
    5001: "nul\x00name",
    5002: "x" * 5000,
    5003: "esc\x1b[31mred",
    5004: "cr\rname",
    5005: "c1\x85next",
    5006: "del\x7f",
    5007: ".hidden",
}
# Safe names whose PI surname is not: the group keeps its name, the PI is left empty.
PI_SURNAMES = {
    5010: ("fine", "Smith\x1b]0;owned\x07"),
    5011: ("longpi", "P" * 300),
}
GOOD = {5020: ("good", "Jones")}
CONTROL_BYTES = {*range(0x20), 0x7F} | set(range(0x80, 0xA0))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def hostile_ldif(path: Path, with_nul: bool = True) -> Path:
    """Every value base64-encoded, so any character reaches the directory as it is."""
    entries = [
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Ex\n",
        f"dn: {GROUP_BASE}\nobjectClass: organizationalUnit\nou: group\n",
        f"dn: {PEOPLE_BASE}\nobjectClass: organizationalUnit\nou: people\n",
    ]

    def group(gid: int, cn: str, pi_dn: str | None) -> str:
        pi = f"sangerProjectPI: {pi_dn}\n" if pi_dn else ""
        return (
            f"dn: gidNumber={gid},{GROUP_BASE}\nobjectClass: posixGroup\n"
            f"objectClass: sangerHumgenProjectGroup\ncn:: {_b64(cn)}\ngidNumber: {gid}\n{pi}"
        )

    for gid, cn in HOSTILE_NAMES.items():
        if with_nul or "\x00" not in cn:
            entries.append(group(gid, cn, None))
    for gid, (cn, surname) in {**PI_SURNAMES, **GOOD}.items():
        pi_dn = f"uid=pi{gid},{PEOPLE_BASE}"
        entries.append(
            f"dn: {pi_dn}\nobjectClass: inetOrgPerson\nuid: pi{gid}\ncn: PI {gid}\n"
            f"sn:: {_b64(surname)}\n"
        )
        entries.append(group(gid, cn, pi_dn))
    path.write_text("version: 1\n\n" + "\n".join(entries), encoding="utf-8")
    return path


def ldif_config(path: Path) -> LdapConfig:
    return LdapConfig(
        url=None,
        ldif=path,
        bind_dn=None,
        bind_password=None,
        group_base=GROUP_BASE,
        people_base=PEOPLE_BASE,
    )


def product_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the product logged (the in-process S3 server logs with colour codes)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("humgen_storage"))


def assert_no_control_bytes(text: str | bytes, where: str) -> None:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    decoded = data.decode("utf-8", "replace")
    found = sorted({hex(ord(c)) for c in decoded if ord(c) in CONTROL_BYTES - {0x09, 0x0A}})
    assert found == [], f"control characters {found} in {where}"


def expected_groups(with_nul: bool = True) -> dict[int, Group]:
    groups = {
        gid: Group(gid, None, True, None, unsafe=True)
        for gid, cn in HOSTILE_NAMES.items()
        if with_nul or "\x00" not in cn
    }
    groups.update(
        {gid: Group(gid, cn, True, None, unsafe=True) for gid, (cn, _) in PI_SURNAMES.items()}
    )
    groups.update({gid: Group(gid, cn, True, sn) for gid, (cn, sn) in GOOD.items()})
    return groups


# ------------------------------------------------------------------ the directory


def test_ldif_directory_drops_unsafe_names_with_one_escaped_warning_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="humgen_storage.directory")
    directory = load_directory(ldif_config(hostile_ldif(tmp_path / "hostile.ldif")))
    assert directory.groups == expected_groups()
    assert directory.unsafe_gids() == [5001, 5002, 5003, 5004, 5005, 5006, 5007, 5010, 5011]
    messages = [r.getMessage() for r in caplog.records]
    for gid in (*HOSTILE_NAMES, *PI_SURNAMES):
        assert sum(f"gid {gid}:" in m for m in messages) == 1, (gid, messages)
    for message in messages:
        assert_no_control_bytes(message, "a log message")
    text = "\n".join(messages)
    assert 'group name "nul\\x00name" holds a control character' in text
    assert 'group name "esc\\x1b[31mred"' in text
    assert 'group name "cr\\x0dname"' in text
    assert 'group name "c1\\x85next"' in text
    assert 'group name "del\\x7f"' in text
    assert f'"{"x" * 80}... (5000 characters)" longer than 255 characters (5000)' in text
    assert 'group name ".hidden" is not a safe file name' in text
    assert 'PI surname "Smith\\x1b]0;owned\\x07" holds a control character' in text


@pytest.fixture(scope="module")
def hostile_slapd(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # slapd refuses a NUL in a directory string, so the live server holds the rest.
    path = hostile_ldif(tmp_path_factory.mktemp("ldif") / "hostile.ldif", with_nul=False)
    with running_slapd(path) as server:
        yield server


def test_live_directory_drops_the_same_names(hostile_slapd: SlapdServer) -> None:
    directory = load_directory(hostile_slapd.ldap_config())
    assert directory.groups == expected_groups(with_nul=False)


# ------------------------------------------------------------------ the jobs


def records() -> list[Record]:
    base = b"/lustre/scratch118"
    rows = [Record(base, 4096, 0, 0, R, R, R, "d", 2, 1)]
    for n, gid in enumerate((*HOSTILE_NAMES, *PI_SURNAMES, *GOOD)):
        rows.append(Record(base + b"/p%d" % gid, 1000 + gid, 1, gid, R, R, R, "f", 100 + n, 1))
    return rows


def site_config(tmp_path: Path, database_url: str | None = None, **extra: Any) -> str:
    sections = base_sections(tmp_path, database_url)
    sections["ldap"]["ldif"] = hostile_ldif(tmp_path / "hostile.ldif")
    sections.update(extra)
    quotas = {"fine": {"limit_kb": 10}, "longpi": {"limit_kb": 10}, "good": {"limit_kb": 10}}
    (tmp_path / "quotas.json").write_text(json.dumps(quotas))
    return str(write_ini(tmp_path / "site.ini", sections))


@pytest.fixture
def quotas_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_LFS_QUOTAS", str(tmp_path / "quotas.json"))


def test_report_on_mariadb_reports_unsafe_groups_by_gid_and_exits_3(
    tmp_path: Path,
    mysql_db: Any,
    mysql_url: str,
    quotas_file: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = site_config(tmp_path, mysql_url)
    path = write_mpistat(tmp_path / "mpistat", DAY, "118", records(), mtime=R)
    assert main(["--config", config, "report", str(path)]) == EXIT_DEGRADED

    tsv = tmp_path / "reports" / "report-output-files" / f"report-{DAY}.tsv"
    tsv_bytes = tsv.read_bytes()
    assert_no_control_bytes(tsv_bytes, str(tsv))
    by_group = {
        line.split("\t")[2]: line.split("\t") for line in tsv_bytes.decode().splitlines()[1:]
    }
    for gid in HOSTILE_NAMES:
        assert by_group[str(gid)][1:4] == ["-", str(gid), str(1000 + gid)]
    assert by_group["fine"][1:4] == ["-", "fine", "6010"]
    assert by_group["longpi"][1:4] == ["-", "longpi", "6011"]
    assert by_group["good"][1:4] == ["Jones", "good", "6020"]

    cfg = load_config(config)
    with open_database(cfg.database, cfg.source.parent) as db:
        rows = db.query("SELECT `Unix Group`, `PI`, `Used (bytes)` FROM `lustre_usage`", ())
    stored = {row[0]: (row[1], row[2]) for row in rows}
    assert stored == {
        "0": (None, 4096),
        **{str(gid): (None, 1000 + gid) for gid in HOSTILE_NAMES},
        "fine": (None, 6010),
        "longpi": (None, 6011),
        "good": ("Jones", 6020),
    }
    err = product_log(caplog)
    assert_no_control_bytes(err, "the log")
    assert "9 groups have an unsafe name (reported by gid) or PI (left empty)" in err


def test_split_uploads_no_control_byte_in_a_key_and_exits_3(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    s3 = {"bucket": s3_bucket, "prefix": "mpistat/", "endpoint_url": s3_endpoint}
    config = site_config(tmp_path, s3=s3)
    path = write_mpistat(tmp_path / "mpistat", DAY, "118", records(), mtime=R)
    assert main(["--config", config, "split", str(path)]) == EXIT_DEGRADED

    listed = s3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]
    keys = sorted(obj["Key"] for obj in listed)
    assert keys == [
        "mpistat/fine.dat.gz",
        "mpistat/good.dat.gz",
        "mpistat/groupfile",
        "mpistat/index.txt",
        "mpistat/longpi.dat.gz",
        "mpistat/passwdfile",
    ]
    index = (tmp_path / "groups" / DAY / "index.txt").read_bytes()
    assert_no_control_bytes(index, "index.txt")
    assert (
        gzip.decompress((tmp_path / "groups" / DAY / "good.dat.gz").read_bytes()).count(b"\n") == 1
    )
    err = product_log(caplog)
    assert_no_control_bytes(err, "the log")
    assert "gid 5003 (no usable name in the directory) has no safe file name" in err


def project_records() -> list[Record]:
    """One project directory per group under the inspector's root, each holding a file."""
    base = b"/lustre/scratch118/projects"
    rows = [Record(base, 4096, 0, 0, R, R, R, "d", 2, 1)]
    for n, gid in enumerate((*HOSTILE_NAMES, *PI_SURNAMES, *GOOD)):
        project = base + b"/p%d" % gid
        rows.append(Record(project, 4096, 1, gid, R, R, R, "d", 100 + 2 * n, 1))
        rows.append(Record(project + b"/f", 2**40, 1, gid, R, R, R, "f", 101 + 2 * n, 1))
    return rows


def test_inspect_reports_unsafe_groups_by_gid_and_exits_3(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    config = site_config(tmp_path, inspector={"118": "lustre/scratch118/projects"})
    write_mpistat(tmp_path / "mpistat", DAY, "118", project_records(), mtime=R)
    assert main(["--config", config, "inspect", "--tosql", "--date", "2026-11-20"]) == (
        EXIT_DEGRADED
    )
    out = capsys.readouterr().out
    assert_no_control_bytes(out, "the inspector table")
    assert_no_control_bytes(product_log(caplog), "the log")
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[1:]}
    # PI and Unix Group columns: an unsafe name is no name, as for an unknown gid
    assert rows["projects/p5001"][9:11] == ["-", "-"]
    assert rows["projects/p5002"][9:11] == ["-", "-"]
    assert rows["projects/p5010"][9:11] == ["-", "fine"]
    assert rows["projects/p5020"][9:11] == ["Jones", "good"]
