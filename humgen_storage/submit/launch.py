"""Running what requests.py built: ``bsub`` for a submission, or the command here.

Every call takes an argument list; no shell ever reads a command line of ours (LSF's
own shell reads the words ``Submission.argv`` quoted for it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from humgen_storage.children import child_environment
from humgen_storage.errors import JobFailed
from humgen_storage.run.safe_files import open_file
from humgen_storage.submit.requests import Submission

_JOB_ID = re.compile(r"Job <([0-9]+)>")
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT


def bsub_on_path() -> bool:
    return shutil.which("bsub") is not None


def submit(submission: Submission) -> str | None:
    """Submit with ``bsub``; print its answer and return the job id it gave.

    A refusal raises ``JobFailed`` with bsub's own words, so nothing that depends on this
    submission is submitted after it."""
    done = subprocess.run(
        submission.argv(),
        # bsub hands its environment to the job, which reads its secrets from the file.
        env=child_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    answer = done.stdout.strip()
    if done.returncode != 0:
        raise JobFailed(f"bsub refused {submission.name} (exit status {done.returncode}): {answer}")
    print(answer, flush=True)
    found = _JOB_ID.search(answer)
    return found[1] if found else None


def run_here(
    label: str,
    command: Sequence[str],
    out: Path,
    err: Path,
    extra_env: Mapping[str, str] | None = None,
) -> int:
    """Run ``command`` here, its output appended to the log files; its exit status.

    The command is this product's own wrapper, so it keeps the environment whole: a
    password given only in the environment is what it runs with. The logs are opened
    without following a link (they live under ``report_dir``)."""
    with (
        os.fdopen(open_file(out, _APPEND), "a") as stdout,
        os.fdopen(open_file(err, _APPEND), "a") as stderr,
    ):
        status = subprocess.run(
            list(command),
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, **(extra_env or {})},
            check=False,
        ).returncode
    print(
        f"{label}: {Path(command[0]).name} finished with exit status {status}; logs: {out} {err}",
        flush=True,
    )
    return status
