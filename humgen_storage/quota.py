"""Lustre group quotas: the hard block limit from ``lfs quota -q -g GROUP MOUNT``.

The report shows each group's hard limit next to its usage. A quota look-up that
fails, hangs or prints something unexpected must not stop the report: it is logged
and the quota becomes NULL (``None``), which the report prints as such.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath

from humgen_storage.config import QuotaConfig

log = logging.getLogger(__name__)

# A kbytes or quota column: digits, maybe in [..] (inaccurate data), maybe marked '*'
# (over a limit). The real tool can print "N*" and then its own over-limit '*'.
_NUMBER_TOKEN = re.compile(r"^\[?\d+\]?\*{0,2}$")
_LIMIT_TOKEN = re.compile(r"^\[?(\d+)\]?$")

# After a timeout the process group is killed; this bounds the wait for it to go.
_REAP_SECONDS = 5.0


class QuotaParseError(ValueError):
    """The command's output is not the one line of numbers ``lfs quota -q`` prints."""


def parse_quota_output(output: str) -> int:
    """Hard block limit in bytes from `lfs quota -q -g G MOUNT` stdout.

    The 4th whitespace-separated token of the whole output (so a long filesystem name
    that puts the numbers on the next line changes nothing), '[' ']' stripped,
    KiB * 1024. 0 means no limit and is returned as 0. Raises QuotaParseError on
    anything else.
    """
    tokens = output.split()
    if len(tokens) < 4:
        raise QuotaParseError(f"expected at least 4 fields, got {len(tokens)}: {output.strip()!r}")
    used, soft, hard = tokens[1], tokens[2], tokens[3]
    # Checking the used and soft columns too catches output in another layout (a
    # header without -q, -h units) whose 4th field happens to be a number.
    for name, token in (("kbytes used", used), ("soft quota", soft)):
        if not _NUMBER_TOKEN.match(token):
            raise QuotaParseError(f"{name} field is not a number: {token!r}")
    match = _LIMIT_TOKEN.match(hard)
    if not match:
        raise QuotaParseError(f"hard limit field is not a number of KiB: {hard!r}")
    return int(match.group(1)) * 1024


def _bad_name(value: str) -> bool:
    """Empty, or would be read as an option by the command."""
    return not value or value.startswith("-")


def _volume_label(mount: str) -> str:
    """The log's volume field for a mount point: /lustre/scratch118 -> scratch118."""
    return PurePosixPath(mount).name or mount


def _warn(group: str, mount: str, reason: str) -> None:
    log.warning(
        "no quota for group %r on %s: %s",
        group,
        mount,
        reason,
        extra={"volume": _volume_label(mount)},
    )


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _kill_process_group(process: subprocess.Popen[str]) -> None:
    """Kill the command and anything it started (it leads its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        process.kill()


def _command_words(cfg: QuotaConfig) -> list[str] | None:
    try:
        words = shlex.split(cfg.command)
    except ValueError:
        return None
    return words or None


def fetch_quota(group: str, mount: str, cfg: QuotaConfig) -> int | None:
    """Run `<cfg.command> quota -q -g <group> <mount>` and return the hard limit in bytes.

    An argument list, never a shell; cfg.command may be a path or hold extra words
    (split with shlex). On a non-zero exit, a timeout (the command and its children
    are killed), unparsable output or a missing command: log a WARNING naming the
    group, the mount and the reason, and return None.
    """
    if _bad_name(group):
        _warn(group, mount, "not a usable group name")
        return None
    if _bad_name(mount):
        _warn(group, mount, "not a usable mount point")
        return None
    words = _command_words(cfg)
    if words is None:
        _warn(group, mount, f"[quota] command is not a usable command line: {cfg.command!r}")
        return None
    argv = [*words, "quota", "-q", "-g", group, mount]
    # The C locale keeps the command's messages and number formats the ones we parse.
    env = {**os.environ, "LC_ALL": "C"}
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
            # Its own process group, so a timeout can kill whatever it started too.
            start_new_session=True,
        )
    except OSError as exc:
        _warn(group, mount, f"cannot run {words[0]}: {exc.strerror or exc}")
        return None

    try:
        stdout, stderr = process.communicate(timeout=cfg.timeout)
    except subprocess.TimeoutExpired:
        _kill_process_group(process)
        try:
            process.communicate(timeout=_REAP_SECONDS)
        except subprocess.TimeoutExpired:
            # Something escaped the group and holds the pipes; stop waiting for it.
            process.kill()
            if process.stdout:
                process.stdout.close()
            if process.stderr:
                process.stderr.close()
            process.wait()
        _warn(group, mount, f"{words[0]} timed out after {cfg.timeout:g} s and was killed")
        return None

    if process.returncode != 0:
        detail = _first_line(stderr) or _first_line(stdout) or "no message"
        _warn(group, mount, f"{words[0]} exited with status {process.returncode}: {detail}")
        return None
    try:
        limit = parse_quota_output(stdout)
    except QuotaParseError as exc:
        _warn(group, mount, f"unexpected output from {words[0]}: {exc}")
        return None
    if "[" in stdout:
        # Kept (the spec strips the brackets), but an admin should know an OST or MDT
        # did not answer.
        log.warning(
            "quota for group %r on %s may be inaccurate: %s reported unreachable devices",
            group,
            mount,
            words[0],
            extra={"volume": _volume_label(mount)},
        )
    return limit


def fetch_quotas(groups: Iterable[str], mount: str, cfg: QuotaConfig) -> dict[str, int | None]:
    """Quotas of many groups on one mount, cfg.workers commands at a time.

    Returns {group: bytes or None}. A group that is empty or starts with '-' is never
    passed to the command (None and a warning).
    """
    wanted = list(dict.fromkeys(groups))  # each group once, in the order given
    results: dict[str, int | None] = {}
    runnable: list[str] = []
    for group in wanted:
        if _bad_name(group):
            _warn(group, mount, "not a usable group name")
            results[group] = None
        else:
            runnable.append(group)
    if not runnable:
        return results

    # One warning instead of one per group when the command is not there at all.
    words = _command_words(cfg)
    if words is None or shutil.which(words[0]) is None:
        reason = (
            f"[quota] command is not a usable command line: {cfg.command!r}"
            if words is None
            else f"command not found: {words[0]}"
        )
        log.warning(
            "no quotas for %d groups on %s: %s",
            len(runnable),
            mount,
            reason,
            extra={"volume": _volume_label(mount)},
        )
        results.update(dict.fromkeys(runnable))
        return results

    workers = max(1, min(cfg.workers, len(runnable)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="quota") as pool:
        limits = pool.map(lambda group: fetch_quota(group, mount, cfg), runnable)
        results.update(zip(runnable, limits, strict=True))
    # Callers get the groups in the order they gave them.
    return {group: results[group] for group in wanted}
