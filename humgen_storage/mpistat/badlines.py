"""One account of a file's malformed lines (spec section 2.3): count them, log the
first few with the file and line number, and fail the volume past
``max_bad_fraction``.

The reader is the account of the file it reads; the block helpers
(``run/blocks.py``) count in their own processes and settle their totals here once,
so the policy is applied in one place whatever the number of processes.
"""

from __future__ import annotations

from pathlib import Path

from humgen_storage.errors import InputError
from humgen_storage.logs import VolumeLogger


class BadLineAccount:
    """Lines read and malformed lines of one file, and the rule applied to them."""

    def __init__(
        self, path: Path, max_bad_fraction: float, log_bad_lines: int, log: VolumeLogger
    ) -> None:
        self.path = path
        self.max_bad_fraction = max_bad_fraction
        self.log_bad_lines = log_bad_lines
        self.log = log
        self.lines = 0
        self.bad_lines = 0

    def record_bad_lines(self, bad: list[tuple[int, str]], total: int | None = None) -> None:
        """Count ``total`` (default: all of ``bad``) malformed lines; log the first few."""
        logged_before = min(self.bad_lines, self.log_bad_lines)
        for line_no, reason in bad[: max(0, self.log_bad_lines - logged_before)]:
            self.log.warning("%s line %d: malformed, skipped: %s", self.path, line_no, reason)
        before = self.bad_lines
        self.bad_lines += len(bad) if total is None else total
        if before <= self.log_bad_lines < self.bad_lines:
            self.log.warning("%s: more malformed lines; counting without logging", self.path)

    def check_bad_fraction(self) -> None:
        """Fail the volume when more than ``max_bad_fraction`` of its lines are
        malformed; otherwise say how many were skipped."""
        if self.bad_lines and self.bad_lines > self.max_bad_fraction * self.lines:
            raise InputError(
                f"{self.path}: {self.bad_lines} of {self.lines} lines are malformed, more than "
                f"max_bad_fraction {self.max_bad_fraction}"
            )
        if self.bad_lines:
            self.log.warning(
                "%s: skipped %d malformed of %d lines", self.path, self.bad_lines, self.lines
            )
