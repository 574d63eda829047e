"""The lines and malformed lines a block-parsing process has seen (``run/blocks.py``).

A helper's counts travel back with its blocks' results; the reading process adds them
up and hands the totals to the reader, which applies the bad-fraction rule."""

from __future__ import annotations

from dataclasses import dataclass, field

from humgen_storage.mpistat.reader import MpistatReader

# How many malformed lines each process remembers for the log; the rest are counted.
KEEP_BAD = 20


@dataclass
class LineCounts:
    """Lines and malformed lines seen by one process, with the first few for the log."""

    lines: int = 0
    bad: int = 0
    samples: list[tuple[int, str]] = field(default_factory=list)

    def add(self, lines: int, bad: list[tuple[int, str]]) -> None:
        self.lines += lines
        self.bad += len(bad)
        self.samples.extend(bad[: KEEP_BAD - len(self.samples)])

    def absorb(self, other: LineCounts) -> None:
        self.lines += other.lines
        self.bad += other.bad
        if other.samples:
            # The first few by line number, however many blocks had bad lines: memory
            # must not grow with a file's malformed lines.
            self.samples = sorted(self.samples + other.samples)[:KEEP_BAD]

    def settle(self, reader: MpistatReader) -> None:
        """Hand the totals to the reader, which logs and applies the bad-fraction rule."""
        reader.lines += self.lines
        reader.record_bad_lines(sorted(self.samples), total=self.bad)
        reader.check_bad_fraction()
