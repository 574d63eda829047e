"""The inspector's ``--tosql`` write: ``spaceman_tmp``, then ``spaceman`` (spec section 5).

People type Status, Action and Comment into Spaceman; losing them is data loss. So
the new rows are merged into ``spaceman`` keyed by (Project, Directory, Volume):

1. the run's rows go into an emptied ``spaceman_tmp``;
2. ``spaceman`` rows of the run's volumes that the run no longer reports are deleted;
3. rows that exist get the new numbers, PI and Unix Group, keeping ``index``,
   Status, Action and Comment;
4. rows that are new are copied from ``spaceman_tmp`` with ``no decision`` twice
   and an empty Comment;
5. ``spaceman_tmp`` is emptied again.

All in one transaction: a failure anywhere leaves both tables as they were. Rows of
volumes not in the run are never touched. Step 2 is guarded: a volume that has rows
but none in the run (its roots matched nothing: a misspelt root, a moved tree), or
whose deletions would exceed ``max_delete_fraction`` of its rows, keeps every row
(updates and new rows still go in) unless ``force``; ``MergeCounts.withheld`` says
which volumes and why, for the run to end degraded. The statements are plain parameterised
SQL that MySQL and SQLite both run; the existing keys are compared in Python and
rows are then addressed by their primary key, so no statement scans
``spaceman_tmp`` (which has no index) once per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, field

from humgen_storage.db import Database

UNKNOWN = "-"
NO_DECISION = "no decision"


@dataclass(frozen=True)
class SpacemanRow:
    """One row as Spaceman shows it: sizes in TiB, the volume's number as text."""

    project: str
    directory: str
    volume: str
    files: int
    total: float
    bam: float
    cram: float
    vcf: float
    pedbed: float
    last_modified_days: float | None
    pi: str | None
    project_total: float
    unix_group: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.project, self.directory, self.volume

    def values(self) -> tuple[object, ...]:
        """Column values in _COLUMNS order; unknown PI and Unix Group stored as '-'."""
        values = list(astuple(self))
        values[10] = self.pi if self.pi is not None else UNKNOWN
        values[12] = self.unix_group if self.unix_group is not None else UNKNOWN
        return tuple(values)


@dataclass(frozen=True)
class MergeCounts:
    inserted: int
    updated: int
    deleted: int
    # volume -> why its gone rows were kept (the deletion guard); empty when none was
    withheld: dict[str, str] = field(default_factory=dict)


def deletion_withheld(existing: int, reported: int, gone: int, max_fraction: float) -> str | None:
    """Why a volume's ``gone`` rows (of ``existing``; ``reported`` rows in the run) must
    not be deleted without --force, or None when they may be."""
    if existing and not reported:
        return f"the run has no rows there (its roots matched nothing) but spaceman has {existing}"
    if existing and gone > max_fraction * existing:
        return (
            f"the run would delete {gone} of its {existing} spaceman rows, more than "
            f"[inspector] max_delete_fraction = {max_fraction:g}"
        )
    return None


# The statements are written out in full: no SQL text is built at run time.
# Column order everywhere is SpacemanRow's.
_INSERT_TMP = (
    "INSERT INTO `spaceman_tmp` (`Project`, `Directory`, `Volume`, `Files`, `Total`, `BAM`, "
    "`CRAM`, `VCF`, `PEDBED`, `Last Modified (days)`, `PI`, `Project Total`, `Unix Group`) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_SELECT_EXISTING = (
    "SELECT `index`, `Project`, `Directory`, `Volume` FROM `spaceman` WHERE `Volume` = %s"
)
_DELETE_BY_INDEX = "DELETE FROM `spaceman` WHERE `index` = %s"
# Everything but the key, the index and people's columns (Status, Action, Comment).
_UPDATE_BY_INDEX = (
    "UPDATE `spaceman` SET `Files` = %s, `Total` = %s, `BAM` = %s, `CRAM` = %s, `VCF` = %s, "
    "`PEDBED` = %s, `Last Modified (days)` = %s, `PI` = %s, `Project Total` = %s, "
    "`Unix Group` = %s WHERE `index` = %s"
)
# New rows come from spaceman_tmp; the NOT EXISTS probe uses spaceman's unique key.
_INSERT_NEW = (
    "INSERT INTO `spaceman` (`Project`, `Directory`, `Volume`, `Files`, `Total`, `BAM`, "
    "`CRAM`, `VCF`, `PEDBED`, `Last Modified (days)`, `PI`, `Project Total`, `Unix Group`, "
    "`Status`, `Action`, `Comment`) "
    "SELECT t.`Project`, t.`Directory`, t.`Volume`, t.`Files`, t.`Total`, t.`BAM`, t.`CRAM`, "
    "t.`VCF`, t.`PEDBED`, t.`Last Modified (days)`, t.`PI`, t.`Project Total`, t.`Unix Group`, "
    "%s, %s, %s FROM `spaceman_tmp` t "
    "WHERE NOT EXISTS (SELECT 1 FROM `spaceman` s WHERE s.`Project` = t.`Project` "
    "AND s.`Directory` = t.`Directory` AND s.`Volume` = t.`Volume`) "
    "ORDER BY t.`index`"
)
_EMPTY_TMP = "DELETE FROM `spaceman_tmp`"


def merge_into_spaceman(
    database: Database,
    rows: Sequence[SpacemanRow],
    volumes: Sequence[str],
    max_delete_fraction: float = 0.5,
    force: bool = False,
) -> MergeCounts:
    """Replace the run's volumes' rows in ``spaceman`` by ``rows``, keeping people's
    decisions on rows that are still reported. One transaction. A volume that trips the
    deletion guard keeps its gone rows unless ``force`` (see the module's docstring)."""
    unknown = {row.volume for row in rows} - set(volumes)
    if unknown:
        raise ValueError(f"rows for volumes not in the run: {sorted(unknown)}")
    new_rows = {row.key: row for row in rows}
    if len(new_rows) != len(rows):
        raise ValueError("two rows share a (Project, Directory, Volume) key")
    with database.transaction() as cursor:
        cursor.execute(_EMPTY_TMP)
        cursor.executemany(_INSERT_TMP, [row.values() for row in rows])

        # Compared in Python, exactly; rows are then addressed by their primary key.
        existing: dict[tuple[str, str, str], int] = {}
        for volume in volumes:
            cursor.execute(_SELECT_EXISTING, (volume,))
            for index, project, directory, row_volume in cursor.fetchall():
                existing[(project, directory, row_volume)] = index

        withheld: dict[str, str] = {}
        gone: list[int] = []
        for volume in volumes:
            mine = {key: index for key, index in existing.items() if key[2] == volume}
            gone_here = [index for key, index in mine.items() if key not in new_rows]
            reported = sum(1 for row in rows if row.volume == volume)
            why = deletion_withheld(len(mine), reported, len(gone_here), max_delete_fraction)
            if why is not None and gone_here and not force:
                withheld[volume] = why
            else:
                gone.extend(gone_here)
        cursor.executemany(_DELETE_BY_INDEX, [(index,) for index in gone])

        kept = [(key, index) for key, index in existing.items() if key in new_rows]
        # values()[3:] are the columns after the key, in _UPDATE_BY_INDEX's order.
        cursor.executemany(
            _UPDATE_BY_INDEX, [(*new_rows[key].values()[3:], index) for key, index in kept]
        )

        inserted = cursor.execute(_INSERT_NEW, (NO_DECISION, NO_DECISION, ""))
        cursor.execute(_EMPTY_TMP)
    return MergeCounts(
        inserted=max(inserted, 0), updated=len(kept), deleted=len(gone), withheld=withheld
    )
