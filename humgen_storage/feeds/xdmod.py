"""XDMoD's storage realm: one JSON file a day, an array of usage records.

The format is ``ubccr/xdmod`` ``configuration/etl/etl_schemas.d/storage/usage.schema.json``
and ``docs/storage.md``: ``resource``, ``mountpoint``, ``user``, ``pi``, ``dt`` (RFC 3339,
UTC), ``file_count``, ``logical_usage`` and the optional ``physical_usage``,
``soft_threshold``, ``hard_threshold``, all sizes in bytes.

A Unix group is XDMoD's PI (the unit a Lustre quota is set on; the product's PI
column holds a surname, not a system user name). Each (volume, group) gives:

- the group's row, ``user`` = ``pi`` = the group, as XDMoD's own reference data
  gives a fileset quota: it carries the quota (soft and hard threshold: Lustre's
  block limit; left out when the look-up failed, 0 when there is none) and the
  bytes and files of the group that no member's row holds;
- one row per member, ``pi`` = the group, with the member's own bytes and files
  and no thresholds (a member has no quota of their own).

XDMoD sums rows, so a PI's total (and its usage against the quota) is the group's
total, counted once; a member whose name is the group's (a personal group) is folded
into the group's row. ``physical_usage`` is left out: the crawl measures logical sizes,
and the quota system's allocated bytes cannot be split between members.

XDMoD keeps user and PI names in 30 characters. A longer name becomes its first 21
characters, ``~`` and the first 8 hex digits of its SHA-256: stable from night to
night, distinct from any other name, and still recognisable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from humgen_storage.feeds.rows import GroupUsage, MemberUsage
from humgen_storage.run.atomic import atomic_file

MAX_NAME = 30
_HASH_DIGITS = 8
_KEPT = MAX_NAME - _HASH_DIGITS - 1

Record = dict[str, Any]


def xdmod_name(name: str) -> str:
    """``name`` within XDMoD's 30 characters (see the module's note)."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{name[:_KEPT]}~{digest[:_HASH_DIGITS]}"


def mountpoint(volume: str) -> str:
    return f"/lustre/{volume}"


def xdmod_file(directory: Path, day: dt.date) -> Path:
    """``<dir>/<YYYY-MM-DD>.json``, as XDMoD's shredder expects (``.json``)."""
    return directory / f"{day.isoformat()}.json"


def members_by_group(members: Iterable[MemberUsage]) -> dict[tuple[str, str], list[MemberUsage]]:
    grouped: dict[tuple[str, str], list[MemberUsage]] = {}
    for member in members:
        grouped.setdefault((member.volume, member.group), []).append(member)
    return grouped


def xdmod_records(
    day: dt.date,
    groups: Sequence[GroupUsage],
    members: Sequence[MemberUsage],
    resource: str = "{volume}",
) -> list[Record]:
    """The day's records: per group, its quota row, then its members' rows."""
    stamp = f"{day.isoformat()}T00:00:00Z"
    grouped = members_by_group(members)
    records: list[Record] = []
    for group in groups:
        pi = xdmod_name(group.group)
        base = {
            "resource": resource.format(volume=group.volume),
            "mountpoint": mountpoint(group.volume),
            "pi": pi,
            "dt": stamp,
        }
        own = grouped.get((group.volume, group.group), [])
        others = [m for m in own if xdmod_name(m.user) != pi]
        group_files = group.files if group.files is not None else sum(m.files for m in own)
        quota_row: Record = {
            **base,
            "user": pi,
            # The rest of the group: its own-named member's, and what no member's row holds.
            "file_count": max(0, group_files - sum(m.files for m in others)),
            "logical_usage": max(0, group.used_bytes - sum(m.used_bytes for m in others)),
        }
        if group.quota_bytes is not None:
            quota_row["soft_threshold"] = group.quota_bytes
            quota_row["hard_threshold"] = group.quota_bytes
        records.append(quota_row)
        records.extend(
            {
                **base,
                "user": xdmod_name(member.user),
                "file_count": member.files,
                "logical_usage": member.used_bytes,
            }
            for member in others
        )
    return records


def write_xdmod(directory: Path, day: dt.date, records: Sequence[Record]) -> Path:
    """The day's file, replaced atomically; its path."""
    path = xdmod_file(directory, day)
    with atomic_file(path) as handle:
        json.dump(list(records), handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    return path
