"""The Open OnDemand quota file: the schema written from quota.rb, hand-computed entries,
the database's totals."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from humgen_storage.config import DatabaseConfig
from humgen_storage.db import open_database
from humgen_storage.feeds import rows
from humgen_storage.feeds.ondemand import ondemand_document, write_ondemand
from tests.feeds.data import DAY, LONG_USER, database_url, fill

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "ondemand-quota.schema.json").read_text())


def document_of(tmp_path: Path) -> tuple[dict[str, object], list[tuple[str, str, int]]]:
    url = database_url(tmp_path)
    fill(url)
    with open_database(DatabaseConfig(url=url)) as db:
        groups, members = rows.group_usage(db, DAY), rows.member_usage(db, DAY)
        used = db.query(
            "SELECT `Lustre Volume`, `Unix Group`, `Used (bytes)` FROM `lustre_usage`"
            " WHERE `date` = %s",
            (DAY.isoformat(),),
        )
    path = tmp_path / "ood" / "quota.json"
    write_ondemand(path, ondemand_document(DAY, groups, members))
    return json.loads(path.read_text(encoding="utf-8")), [(v, g, int(u)) for v, g, u in used]


def test_the_file_is_valid_against_the_schema_of_quota_rb(tmp_path: Path) -> None:
    document, _ = document_of(tmp_path)
    jsonschema.Draft7Validator(SCHEMA).validate(document)
    assert document["version"] == 1
    assert document["timestamp"] == 1_795_132_800  # 2026-11-20T00:00:00Z


def test_each_member_sees_the_group_and_their_share_in_kib_blocks(tmp_path: Path) -> None:
    document, _ = document_of(tmp_path)
    quotas = document["quotas"]
    assert isinstance(quotas, list)
    seen = [
        (
            q["path"],
            q["user"],
            q["block_usage"],
            q["total_block_usage"],
            q["block_limit"],
            q["file_usage"],
            q["total_file_usage"],
            q["file_limit"],
        )
        for q in quotas
    ]
    assert {q["type"] for q in quotas} == {"fileset"}
    long_group_path = "/lustre/scratch118 (a-very-long-group-name-for-testing-xdmod)"
    assert seen == [
        # 1 000 000 bytes: 976.6 blocks, rounded up; the limit rounded down.
        ("/lustre/scratch115 (hgi)", "alice", 977, 977, 976, 12, 12, 100),
        # No per-group file count: the members' files; no limit: 0.
        (long_group_path, LONG_USER, 3, 3, 0, 3, 3, 0),
        # The quota look-up failed: no limit (0) rather than a made-up one.
        ("/lustre/scratch118 (carol)", "carol", 5, 5, 0, 5, 5, 0),
        # The quota system's own file count (31), not the crawl's (30).
        ("/lustre/scratch118 (hgi)", "alice", 5860, 9766, 19531, 20, 31, 1000),
        ("/lustre/scratch118 (hgi)", "bob", 3907, 9766, 19531, 10, 31, 1000),
    ]


def test_the_totals_are_the_databases(tmp_path: Path) -> None:
    document, used = document_of(tmp_path)
    quotas = document["quotas"]
    assert isinstance(quotas, list)
    totals = {q["path"]: q["total_block_usage"] for q in quotas}
    expected = {f"/lustre/{v} ({g})": -(-u // 1024) for v, g, u in used}
    assert totals == expected
    assert sum(expected.values()) == 977 + 3 + 5 + 9766
