"""Every expected failure of humgen_storage, and the exit status it ends a run with.

An error here is one line a person can act on (it names the file, server or key and
never a secret), so the command line prints it without a traceback. The exit status
belongs to the error; ``cli.run_command`` is the one place that turns an error into
a log line and that status. This module imports nothing of the package, so every
layer (the input format, the directory, the database, the jobs) can raise these.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM (SPEC §8)


class HumgenError(Exception):
    """An expected failure; nothing of the run was written (exit status 1)."""

    exit_status = EXIT_FAILED
    # What the failure left behind, said after the message.
    outcome = "nothing was written"


class UsageError(HumgenError):
    """The command line is wrong (exit status 2)."""

    exit_status = EXIT_USAGE


class ConfigError(HumgenError):
    """A configuration problem; the message names the file, section and key."""


class InputError(HumgenError):
    """A volume's input cannot be used; the message is one line naming the file."""


class DirectoryError(HumgenError):
    """The directory cannot be loaded. One line naming the server URL or the LDIF file
    (and line); never a password."""


class DatabaseError(HumgenError):
    """A database problem, described in one line without secrets."""


class UploadError(HumgenError):
    """An upload to S3 failed for good (after its retries); the message names the object."""

    outcome = "the objects not updated keep their previous version; the next run uploads them"


class UploadIncomplete(UploadError):
    """An upload that stopped after it had updated some objects: the night's files are
    partly in S3, which is "written but degraded" (SPEC §8: objects left unuploaded)."""

    exit_status = 3


class OutputError(HumgenError):
    """A file of the run could not be written (a full disk, a permission): one line
    naming the file."""


class JobFailed(HumgenError):
    """A job failed: the message says what, ``reasons`` one line per cause (a volume, say)."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or []


class UnsafePathError(HumgenError):
    """A path under report_dir or output_dir that the product did not make: a symbolic
    link, or not a directory or file owned as expected. The message names it."""


class Terminated(BaseException):  # noqa: N818 - named like KeyboardInterrupt, its sibling
    """SIGTERM reached the run's main process: the run stops, nothing is written (exit
    status 143). A BaseException, like KeyboardInterrupt for SIGINT, so that no
    ``except Exception`` on the way reports it as a failure and carries on."""

    exit_status = EXIT_TERMINATED
