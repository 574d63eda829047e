"""A shell stand-in for ``lfs quota`` with the Python stand-in's answers built in.

The report runs ``lfs quota -q -g <group> <mount>`` once per named group. The real
``lfs`` is a small C program whose start costs about a millisecond of CPU; the Python
stand-in (``fixtures/bin/lfs``) costs tens of milliseconds a call, which on a 2-core
machine is taken from the job being measured. This module asks the Python stand-in
once per group, when the workspace is prepared, and writes a ``/bin/sh`` script that
replays each answer exactly (standard output, standard error and exit status) and
hands any other call to the Python stand-in. The job's own side of each call (starting
the process, reading its output) is unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path


def _quoted(text: str) -> str:
    """``text`` as one single-quoted shell word."""
    return "'" + text.replace("'", "'\\''") + "'"


def write_quick_lfs(
    target: Path, stand_in: Path, names: Iterable[str], mount: str, env: dict[str, str]
) -> Path:
    """Write the replaying script to ``target`` (made executable) and return it."""
    cases = []
    for name in names:
        argv = ["quota", "-q", "-g", name, mount]
        done = subprocess.run(
            [sys.executable, str(stand_in), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        replay = []
        if done.stdout:
            replay.append(f"printf '%s' {_quoted(done.stdout)}")
        if done.stderr:
            replay.append(f"printf '%s' {_quoted(done.stderr)} >&2")
        replay.append(f"exit {done.returncode}")
        cases.append(f"  {_quoted(' '.join(argv))}) {'; '.join(replay)} ;;")
    fallback = f'exec {_quoted(sys.executable)} {_quoted(str(stand_in))} "$@"'
    script = "\n".join(
        [
            "#!/bin/sh",
            "# Written by bench/quick_lfs.py: the Python stand-in's answers, replayed.",
            'case "$*" in',
            *cases,
            f"  *) {fallback} ;;",
            "esac",
            "",
        ]
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(script)
    os.chmod(target, 0o755)
    return target
