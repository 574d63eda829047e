"""The inspector's printed table: rows with their groups' names resolved, in the
project (Spaceman) and generic layouts, and the Spaceman row each one makes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from humgen_storage.directory import GroupDirectory
from humgen_storage.inspect.printed import TOTAL_DIRECTORY, generic_lines, project_lines
from humgen_storage.inspect.results import InspectorRow, InspectorRows
from humgen_storage.inspect.spaceman import SpacemanRow
from humgen_storage.mpistat.paths import display_name
from humgen_storage.tsv import tsv_line
from humgen_storage.units import human_size, tib

# The class columns of the table, by their configured names, in output order.
CLASS_COLUMNS = ("BAM", "CRAM", "VCF", "PEDBED")

# The columns both tables share, between their own first and last ones (spec section 5).
_MEASURE_COLUMNS = ("Total", "BAM", "CRAM", "VCF", "PED/BED", "Files", "Last Modified (days)")
PROJECT_HEADER = (
    "Project",
    "Directory",
    *_MEASURE_COLUMNS,
    "PI",
    "Unix Group",
    "Volume",
    "Project Total",
)
GENERIC_HEADER = ("Directory", *_MEASURE_COLUMNS, "Total (bytes)")


@dataclass(frozen=True)
class VolumeInspection:
    volume: str
    # Sorted; as ``finish`` gives them (columns, see InspectorRows), or a selection of them.
    rows: Sequence[InspectorRow]


@dataclass(frozen=True)
class TableRow:
    """One printed row: a volume's aggregate with its group's names resolved."""

    volume: str
    row: InspectorRow
    pi: str | None
    unix_group: str | None

    @property
    def project(self) -> str:
        return display_name(self.row.project)

    @property
    def directory(self) -> str:
        return display_name(self.row.directory) if self.row.directory else TOTAL_DIRECTORY

    def class_bytes(self) -> list[int]:
        return [self.row.class_bytes.get(name, 0) for name in CLASS_COLUMNS]

    def project_values(self) -> list[object]:
        sizes = [self.row.total_bytes, *self.class_bytes()]
        return [
            self.project,
            self.directory,
            *(tib(size) for size in sizes),
            self.row.files,
            self.row.last_modified_days,
            self.pi,
            self.unix_group,
            self.volume,
            tib(self.row.project_total_bytes),
        ]

    def generic_values(self) -> list[object]:
        sizes = [self.row.total_bytes, *self.class_bytes()]
        return [
            display_name(b"/".join(self.row.short_path)),
            *(human_size(size) for size in sizes),
            self.row.files,
            self.row.last_modified_days,
            self.row.total_bytes,
        ]

    def spaceman_row(self) -> SpacemanRow:
        bam, cram, vcf, pedbed = (tib(size) for size in self.class_bytes())
        return SpacemanRow(
            project=self.project,
            directory=self.directory,
            volume=self.volume,
            files=self.row.files,
            total=tib(self.row.total_bytes),
            bam=bam,
            cram=cram,
            vcf=vcf,
            pedbed=pedbed,
            last_modified_days=self.row.last_modified_days,
            pi=self.pi,
            project_total=tib(self.row.project_total_bytes),
            unix_group=self.unix_group,
        )


@dataclass(frozen=True)
class Table:
    """Every volume's rows (in run order, already sorted within a volume), with the PI
    and Unix Group of each row's gid when there is a directory.

    Its ``TableRow``s are made as they are read, and may be read more than once: the
    volumes' rows stay in their compact form (``InspectorRows``) meanwhile.
    """

    inspections: Sequence[VolumeInspection]
    directory: GroupDirectory | None

    def __iter__(self) -> Iterator[TableRow]:
        for inspection in self.inspections:
            yield from self.rows_of(inspection)

    def rows_of(self, inspection: VolumeInspection) -> Iterator[TableRow]:
        directory = self.directory
        for row in inspection.rows:
            pi = unix_group = None
            if directory is not None and row.gid is not None:
                group = directory.lookup(row.gid)
                pi, unix_group = group.pi, group.name
            yield TableRow(inspection.volume, row, pi, unix_group)

    def lines(self, inspection: VolumeInspection, generic: bool = False) -> Iterator[str]:
        """One volume's printed lines, in pieces. Whole volumes (``InspectorRows``, as
        ``finish`` gives them) are printed a column at a time (``inspect.printed``); a
        selection of rows (a PATH query's) a ``TableRow`` at a time, with the same text."""
        rows = inspection.rows
        if isinstance(rows, InspectorRows):
            if generic:
                return generic_lines(rows, CLASS_COLUMNS)
            return project_lines(rows, inspection.volume, self.directory, CLASS_COLUMNS)
        values = TableRow.generic_values if generic else TableRow.project_values
        return (tsv_line(values(row)) for row in self.rows_of(inspection))


def write_table(table: Table, out: IO[str], generic: bool = False, header: bool = True) -> None:
    if header:
        out.write(tsv_line(GENERIC_HEADER if generic else PROJECT_HEADER))
    for inspection in table.inspections:
        out.writelines(table.lines(inspection, generic))
