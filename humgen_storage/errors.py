"""Exceptions that map to exit statuses: UsageError -> 2, JobFailed -> 1."""

from __future__ import annotations


class UsageError(Exception):
    """The command line is wrong (exit status 2)."""


class JobFailed(Exception):
    """An expected failure: the message says why, one line per cause (exit status 1)."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or []
