"""The XDMoD storage realm file: XDMoD's own schema, hand-computed rows, the database's totals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema

from humgen_storage.config import DatabaseConfig
from humgen_storage.db import open_database
from humgen_storage.feeds import rows
from humgen_storage.feeds.xdmod import MAX_NAME, write_xdmod, xdmod_name, xdmod_records
from tests.feeds.data import DAY, LONG_GROUP, LONG_USER, database_url, fill

SCHEMA = json.loads(
    (Path(__file__).parent / "schemas" / "xdmod-storage-usage.schema.json").read_text()
)


def records_of(tmp_path: Path) -> tuple[list[dict[str, object]], int, int]:
    """The day's records written and read back, and the database's bytes and files."""
    url = database_url(tmp_path)
    fill(url)
    with open_database(DatabaseConfig(url=url)) as db:
        groups, members = rows.group_usage(db, DAY), rows.member_usage(db, DAY)
        ((used,),) = db.query(
            "SELECT SUM(`Used (bytes)`) FROM `lustre_usage` WHERE `date` = %s", (DAY.isoformat(),)
        )
    path = write_xdmod(tmp_path / "xdmod", DAY, xdmod_records(DAY, groups, members))
    assert path == tmp_path / "xdmod" / "2026-11-20.json"
    files = sum(g.files if g.files is not None else 3 for g in groups)
    return json.loads(path.read_text(encoding="utf-8")), int(used), files


def test_every_record_is_valid_against_xdmods_schema(tmp_path: Path) -> None:
    records, _, _ = records_of(tmp_path)
    assert isinstance(records, list) and records
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    for record in records:
        validator.validate(record)


def test_long_names_keep_21_characters_and_a_hash() -> None:
    short = xdmod_name(LONG_GROUP)
    digest = hashlib.sha256(LONG_GROUP.encode()).hexdigest()[:8]
    assert short == "a-very-long-group-nam~" + digest
    assert len(short) == MAX_NAME
    assert xdmod_name("x" * 30) == "x" * 30
    assert xdmod_name("x" * 31) != xdmod_name("x" * 31 + "y")


def test_a_quota_row_per_group_and_a_row_per_member(tmp_path: Path) -> None:
    records, _, _ = records_of(tmp_path)
    seen = [
        (
            r["mountpoint"],
            r["pi"],
            r["user"],
            r["file_count"],
            r["logical_usage"],
            r.get("soft_threshold"),
            r.get("hard_threshold"),
        )
        for r in records
    ]
    long_pi, long_user = xdmod_name(LONG_GROUP), xdmod_name(LONG_USER)
    assert seen == [
        ("/lustre/scratch115", "hgi", "hgi", 0, 0, 1_000_000, 1_000_000),
        ("/lustre/scratch115", "hgi", "alice", 12, 1_000_000, None, None),
        # A group without a quota (0) keeps thresholds of 0, XDMoD's "none".
        ("/lustre/scratch118", long_pi, long_pi, 0, 0, 0, 0),
        ("/lustre/scratch118", long_pi, long_user, 3, 2049, None, None),
        # A personal group: the member named as the group is its quota row; the quota
        # look-up failed, so there are no thresholds.
        ("/lustre/scratch118", "carol", "carol", 5, 5000, None, None),
        ("/lustre/scratch118", "hgi", "hgi", 0, 0, 20_000_000, 20_000_000),
        ("/lustre/scratch118", "hgi", "alice", 20, 6_000_000, None, None),
        ("/lustre/scratch118", "hgi", "bob", 10, 4_000_000, None, None),
    ]
    assert {r["dt"] for r in records} == {"2026-11-20T00:00:00Z"}
    assert {r["resource"] for r in records} == {"scratch115", "scratch118"}


def test_the_totals_are_the_databases(tmp_path: Path) -> None:
    records, used, files = records_of(tmp_path)
    assert used == 11_007_049
    assert sum(int(r["logical_usage"]) for r in records) == used  # type: ignore[call-overload]
    assert sum(int(r["file_count"]) for r in records) == files == 30 + 3 + 5 + 12  # type: ignore[call-overload]


def test_members_holding_more_than_the_group_never_make_a_negative_row() -> None:
    group = rows.GroupUsage("scratch1", "g", None, 10, 100, 1, None, None)
    member = rows.MemberUsage("scratch1", "g", "u", 15, 4)
    quota_row, member_row = xdmod_records(DAY, [group], [member], resource="lustre-{volume}")
    assert (quota_row["logical_usage"], quota_row["file_count"]) == (0, 0)
    assert member_row["resource"] == "lustre-scratch1"
