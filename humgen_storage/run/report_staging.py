"""The report's staged volumes: one SQLite file per volume (``run.staging``'s area),
holding the rows of lustre_usage, usage_by_user and usage_quota the volume makes.

Plain data (loading runs no code from the file); every integer that may be a sum is
decimal text, exact however large.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humgen_storage.run.staging import atomic_sqlite, exact_text, integer_or_none, read_staged


@dataclass(frozen=True)
class UsageRow:
    """One row of lustre_usage, as staged and as loaded."""

    volume_name: str
    pi: str | None
    group: str
    used: int
    quota: int | None
    consumption: str
    last_modified: float | None
    archived: str | None
    date: str  # YYYY-MM-DD
    is_humgen: bool


@dataclass(frozen=True)
class UserRows:
    """A volume's usage_by_user rows as columns, one entry per (group, user) pair: no
    object per row on the way from the aggregate to the database (a volume may have
    tens of thousands). ``groups`` as lustre_usage's `Unix Group` (the name, or the gid
    as text); ``users`` the people entry's uid, or the uid number as text."""

    groups: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    used: list[int] = field(default_factory=list)
    files: list[int] = field(default_factory=list)
    last_modified: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.groups)

    def rows(self) -> Iterator[tuple[str, str, int, int, float]]:
        """(group, user, used, files, last modified) per pair."""
        return zip(self.groups, self.users, self.used, self.files, self.last_modified, strict=True)


@dataclass(frozen=True)
class QuotaRow:
    """One row of usage_quota: a group's inodes in the crawl beside the quota system's
    own figures (None when the look-up failed or the group has no name)."""

    volume_name: str
    group: str
    files: int  # distinct inodes of the group in the crawl
    quota_used_bytes: int | None
    quota_used_files: int | None
    inode_quota: int | None  # the file hard limit; 0: no limit
    date: str  # YYYY-MM-DD


@dataclass(frozen=True)
class StagedVolume:
    volume: str  # the number, e.g. "118"
    volume_name: str  # e.g. "scratch118"
    source: str  # the input file it came from
    lines: int
    bad_lines: int
    rows: tuple[UsageRow, ...]
    # Named groups whose quota look-up failed (their Quota is NULL): the stage ran in
    # another process, maybe another LSF job; the finaliser reports them.
    quota_failures: tuple[str, ...] = ()
    users: UserRows = field(default_factory=UserRows)
    quotas: tuple[QuotaRow, ...] = ()


def save_usage(path: Path, staged: StagedVolume) -> None:
    """Stage one report volume's rows in a file that appears only once complete."""
    with atomic_sqlite(path) as db:
        db.execute(
            "CREATE TABLE volume (volume TEXT, volume_name TEXT, source TEXT, lines INTEGER, bad_lines INTEGER)"
        )
        db.execute(
            "INSERT INTO volume VALUES (?, ?, ?, ?, ?)",
            (staged.volume, staged.volume_name, staged.source, staged.lines, staged.bad_lines),
        )
        db.execute("CREATE TABLE quota_failures (grp TEXT)")
        db.executemany(
            "INSERT INTO quota_failures VALUES (?)", [(g,) for g in staged.quota_failures]
        )
        db.execute(
            "CREATE TABLE usage (volume_name TEXT, pi TEXT, grp TEXT, used TEXT, quota TEXT,"
            " consumption TEXT, last_modified REAL, archived TEXT, date TEXT, is_humgen INTEGER)"
        )
        db.executemany(
            "INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.volume_name,
                    r.pi,
                    r.group,
                    exact_text(r.used),
                    exact_text(r.quota),
                    r.consumption,
                    r.last_modified,
                    r.archived,
                    r.date,
                    int(r.is_humgen),
                )
                for r in staged.rows
            ],
        )
        _save_users_and_quotas(db, staged)


def _save_users_and_quotas(db: sqlite3.Connection, staged: StagedVolume) -> None:
    # The users' rows as five JSON arrays in one value: a volume may have tens of
    # thousands, and a row each would cost more to write and read than the JSON. Its
    # integers are exact at any size, its floats round-trip.
    db.execute("CREATE TABLE users (columns TEXT)")
    users = staged.users
    db.execute(
        "INSERT INTO users VALUES (?)",
        (
            json.dumps(
                [users.groups, users.users, users.used, users.files, users.last_modified],
                allow_nan=False,
            ),
        ),
    )
    db.execute(
        "CREATE TABLE quotas (volume_name TEXT, grp TEXT, files TEXT, quota_used_bytes TEXT,"
        " quota_used_files TEXT, inode_quota TEXT, date TEXT)"
    )
    db.executemany(
        "INSERT INTO quotas VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                q.volume_name,
                q.group,
                exact_text(q.files),
                exact_text(q.quota_used_bytes),
                exact_text(q.quota_used_files),
                exact_text(q.inode_quota),
                q.date,
            )
            for q in staged.quotas
        ],
    )


def _load_users(db: sqlite3.Connection) -> UserRows:
    (columns,) = db.execute("SELECT columns FROM users").fetchone()
    groups, users, used, files, last_modified = json.loads(columns)
    return UserRows(groups, users, used, files, [float(days) for days in last_modified])


def _load_quotas(db: sqlite3.Connection) -> tuple[QuotaRow, ...]:
    rows = db.execute(
        "SELECT volume_name, grp, files, quota_used_bytes, quota_used_files, inode_quota, date"
        " FROM quotas ORDER BY rowid"
    ).fetchall()
    return tuple(
        QuotaRow(
            volume_name,
            group,
            int(files),
            integer_or_none(used_bytes),
            integer_or_none(used_files),
            integer_or_none(inode_quota),
            date,
        )
        for volume_name, group, files, used_bytes, used_files, inode_quota, date in rows
    )


def load_usage(path: Path) -> StagedVolume:
    """The volume as ``save_usage`` staged it."""
    with closing(read_staged(path)) as db:
        volume_row = db.execute(
            "SELECT volume, volume_name, source, lines, bad_lines FROM volume"
        ).fetchone()
        rows = db.execute(
            "SELECT volume_name, pi, grp, used, quota, consumption, last_modified, archived, date, is_humgen"
            " FROM usage"
        ).fetchall()
        quota_failures = db.execute("SELECT grp FROM quota_failures ORDER BY rowid").fetchall()
        users, quotas = _load_users(db), _load_quotas(db)
    number, volume_name, source, lines, bad_lines = volume_row
    return StagedVolume(
        volume=number,
        volume_name=volume_name,
        source=source,
        lines=lines,
        bad_lines=bad_lines,
        rows=tuple(_usage_row(row) for row in rows),
        quota_failures=tuple(group for (group,) in quota_failures),
        users=users,
        quotas=quotas,
    )


def _usage_row(row: tuple[Any, ...]) -> UsageRow:
    volume_name, pi, group, used, quota, consumption, last_modified, archived, date, is_humgen = row
    return UsageRow(
        volume_name,
        pi,
        group,
        int(used),
        integer_or_none(quota),
        consumption,
        last_modified,
        archived,
        date,
        bool(is_humgen),
    )
