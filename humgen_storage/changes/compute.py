"""Rankings of changed cells between two snapshots: pure, plain data in and out.

A snapshot maps a cell (a group, a (group, user), a project directory) to its bytes and
files on one night. The cells of one kind partition what is counted (the groups a
volume; the leaf directories a volume's inspected roots, with the rest of the roots
under "elsewhere"), so the change of the whole is the listed cells' deltas plus
everything else, exactly: ``elsewhere`` is computed as that difference, and the
listed cells never overlap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

BYTES = "bytes"
FILES = "files"
MEASURES = (BYTES, FILES)
NEW = "new"
VANISHED = "vanished"
CHANGED = "changed"
# Cells listed per (volume, kind, measure).
TOP = 10

Key = tuple[str, ...]
# bytes, files (None: not counted for this kind)
Amounts = tuple[int, int | None]
Snapshot = Mapping[Key, Amounts]


@dataclass(frozen=True)
class Delta:
    key: Key
    before: Amounts | None  # None: the cell did not exist
    after: Amounts | None

    @property
    def state(self) -> str:
        if self.before is None:
            return NEW
        return VANISHED if self.after is None else CHANGED

    def amount(self, measure: str, which: Amounts | None) -> int:
        if which is None:
            return 0
        value = which[0] if measure == BYTES else which[1]
        return value or 0

    def change(self, measure: str) -> int:
        return self.amount(measure, self.after) - self.amount(measure, self.before)


@dataclass(frozen=True)
class Ranking:
    """The cells of one kind whose ``measure`` moved most, and the conservation line:
    ``sum(listed changes) + elsewhere == total_after - total_before``."""

    measure: str
    listed: tuple[Delta, ...]
    total_before: int
    total_after: int
    moved: int  # every absolute change, inside the cells and outside them

    @property
    def change(self) -> int:
        return self.total_after - self.total_before

    @property
    def elsewhere(self) -> int:
        return self.change - sum(delta.change(self.measure) for delta in self.listed)

    @property
    def explained(self) -> float:
        """The share of all movement (absolute changes) the listed cells account for."""
        if self.moved == 0:
            return 1.0
        return sum(abs(delta.change(self.measure)) for delta in self.listed) / self.moved


@dataclass(frozen=True)
class KindChanges:
    """One kind of cell (group, user, directory) on one volume."""

    kind: str
    rankings: tuple[Ranking, ...]  # one per measure counted
    new: tuple[Key, ...]
    vanished: tuple[Key, ...]

    def ranking(self, measure: str) -> Ranking | None:
        return next((r for r in self.rankings if r.measure == measure), None)


def total(snapshot: Snapshot, measure: str) -> int:
    index = 0 if measure == BYTES else 1
    return sum(amounts[index] or 0 for amounts in snapshot.values())


def compare(
    kind: str,
    before: Snapshot,
    after: Snapshot,
    totals: Mapping[str, tuple[int, int]] | None = None,
    top: int = TOP,
) -> KindChanges:
    """``totals``: measure -> (before, after) of the whole the cells are part of, when it
    holds more than the cells (a volume's inspected roots); else the cells' sums."""
    keys = sorted(set(before) | set(after))
    deltas = [Delta(key, before.get(key), after.get(key)) for key in keys]
    counted = [m for m in MEASURES if m == BYTES or _has_files(before, after)]
    rankings = []
    for measure in counted:
        moving = [d for d in deltas if d.change(measure) != 0 or d.state != CHANGED]
        # Largest absolute change first; ties by key, so the listing is stable.
        moving.sort(key=lambda d: (-abs(d.change(measure)), d.key))
        whole = (totals or {}).get(measure) or (total(before, measure), total(after, measure))
        in_cells = sum(d.change(measure) for d in deltas)
        # What moved: every cell's change, and the part of the whole's change outside
        # every cell (files directly in a directory that has rows below it).
        moved = sum(abs(d.change(measure)) for d in deltas) + abs(whole[1] - whole[0] - in_cells)
        rankings.append(Ranking(measure, tuple(moving[:top]), whole[0], whole[1], moved))
    return KindChanges(
        kind=kind,
        rankings=tuple(rankings),
        new=tuple(d.key for d in deltas if d.state == NEW),
        vanished=tuple(d.key for d in deltas if d.state == VANISHED),
    )


def _has_files(before: Snapshot, after: Snapshot) -> bool:
    return any(amounts[1] is not None for amounts in (*before.values(), *after.values()))


def leaf_directories(directories: list[str]) -> set[str]:
    """The directories no other one lies below (whole components): they do not overlap."""
    parents: set[str] = set()
    for directory in directories:
        parts = directory.split("/")
        parents.update("/".join(parts[:n]) for n in range(1, len(parts)))
    return {directory for directory in directories if directory not in parents}


@dataclass
class VolumeNight:
    """One volume's cells on one night, by kind; ``totals`` where a kind's cells are
    part of a larger whole (directories: the inspected roots' totals)."""

    groups: dict[Key, Amounts] = field(default_factory=dict)
    users: dict[Key, Amounts] = field(default_factory=dict)
    directories: dict[Key, Amounts] = field(default_factory=dict)
    directory_totals: dict[str, int] = field(default_factory=lambda: {BYTES: 0, FILES: 0})


@dataclass(frozen=True)
class VolumeChanges:
    volume: str
    kinds: tuple[KindChanges, ...]  # groups, users (when counted), directories

    def kind(self, name: str) -> KindChanges | None:
        return next((k for k in self.kinds if k.kind == name), None)


def volume_changes(
    before: Mapping[str, VolumeNight], after: Mapping[str, VolumeNight], top: int = TOP
) -> list[VolumeChanges]:
    """Every volume of either night, in name order."""
    result = []
    for volume in sorted(set(before) | set(after)):
        old, new = before.get(volume, VolumeNight()), after.get(volume, VolumeNight())
        kinds = [compare("group", old.groups, new.groups, top=top)]
        if old.users or new.users:
            kinds.append(compare("user", old.users, new.users, top=top))
        if old.directories or new.directories:
            totals = {m: (old.directory_totals[m], new.directory_totals[m]) for m in MEASURES}
            kinds.append(compare("directory", old.directories, new.directories, totals, top))
        result.append(VolumeChanges(volume, tuple(kinds)))
    return result
