"""Open OnDemand's quota file: what the dashboard reads to warn a user of a quota.

The format is the one ``OSC/ondemand`` ``apps/dashboard/app/models/quota.rb`` parses
(version 1): ``{"version": 1, "timestamp": T, "quotas": [...]}``, each quota with
``type``, ``path``, ``user``, ``block_usage`` and ``total_block_usage``,
``block_limit`` (1 KiB blocks), ``file_usage``, ``total_file_usage``, ``file_limit``;
a limit of 0 is no limit. The dashboard shows a user only the entries naming them,
so each group's quota (``type`` ``fileset``) is repeated for every member with their
own usage: each member sees the group's total and limit, and their own share.

Bytes become blocks rounded up (a 1-byte file holds a block). The group's files are
the quota system's own count when known, else the crawl's distinct inodes.
``timestamp`` is the crawl's date, midnight UTC.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from humgen_storage.feeds.rows import GroupUsage, MemberUsage
from humgen_storage.feeds.xdmod import members_by_group
from humgen_storage.run.atomic import atomic_file

BLOCK_SIZE = 1024
VERSION = 1


def blocks(size: int) -> int:
    return -(-size // BLOCK_SIZE)


def day_timestamp(day: dt.date) -> int:
    """Midnight UTC of ``day``, Unix time."""
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())


def group_files(group: GroupUsage, members: Sequence[MemberUsage]) -> int:
    if group.quota_used_files is not None:
        return group.quota_used_files
    if group.files is not None:
        return group.files
    return sum(member.files for member in members)


def ondemand_document(
    day: dt.date,
    groups: Sequence[GroupUsage],
    members: Sequence[MemberUsage],
    path: str = "/lustre/{volume} ({group})",
) -> dict[str, Any]:
    grouped = members_by_group(members)
    quotas: list[dict[str, Any]] = []
    for group in groups:
        own = grouped.get((group.volume, group.group), [])
        shared = {
            "type": "fileset",
            "path": path.format(volume=group.volume, group=group.group),
            "total_block_usage": blocks(group.used_bytes),
            "block_limit": (group.quota_bytes or 0) // BLOCK_SIZE,
            "total_file_usage": group_files(group, own),
            "file_limit": group.inode_quota or 0,
        }
        quotas.extend(
            {
                **shared,
                "user": member.user,
                "block_usage": blocks(member.used_bytes),
                "file_usage": member.files,
            }
            for member in own
        )
    return {"version": VERSION, "timestamp": day_timestamp(day), "quotas": quotas}


def write_ondemand(path: Path, document: dict[str, Any]) -> None:
    with atomic_file(path) as handle:
        json.dump(document, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
