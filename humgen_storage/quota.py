"""Lustre group quotas from ``lfs quota -q -g GROUP MOUNT``: the hard block limit,
and from the same call the quota system's own figures (issue 18).

The report shows each group's hard limit next to its usage (``lustre_usage``), and
``usage_quota`` holds what the quota system counts: kbytes used, files used and the
file hard limit. A quota look-up that fails, hangs or prints something unexpected must
not stop the report: it is logged and the figures become NULL (``None``), which the
report prints as such.
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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath

from humgen_storage.children import child_environment
from humgen_storage.config import QuotaConfig

log = logging.getLogger(__name__)

# A kbytes or quota column: digits, maybe in [..] (inaccurate data), maybe marked '*'
# (over a limit). The real tool can print "N*" and then its own over-limit '*'.
_NUMBER_TOKEN = re.compile(r"^\[?\d+\]?\*{0,2}$")
_LIMIT_TOKEN = re.compile(r"^\[?(\d+)\]?$")
# Any of the other figures: the digits, with '[' ']' and the '*' markers stripped.
_FIGURE_TOKEN = re.compile(r"^\[?(\d+)\]?\*{0,2}$")
# Positions (0-based) in the whole output's tokens: the filesystem name, then kbytes
# used, block quota, block limit, block grace, files used, file quota, file limit, grace.
_KBYTES_USED, _FILES_USED, _FILE_LIMIT = 1, 5, 7

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


@dataclass(frozen=True)
class QuotaFigures:
    """One group's line of ``lfs quota -q``: the block limit (as ``parse_quota_output``
    reads it) and the quota system's own counts; a figure missing from the line or not
    a number is None."""

    block_limit: int  # bytes; 0: no limit
    used_bytes: int | None  # kbytes used x 1024
    files: int | None  # files (inodes) used
    file_limit: int | None  # the file hard limit; 0: no limit


def _figure(tokens: list[str], position: int) -> int | None:
    if position >= len(tokens):
        return None
    match = _FIGURE_TOKEN.match(tokens[position])
    return int(match.group(1)) if match else None


def parse_quota_figures(output: str) -> QuotaFigures:
    """Every figure of `lfs quota -q -g G MOUNT` stdout: the block limit as
    ``parse_quota_output`` (which raises QuotaParseError), then tokens 2, 6 and 8 of
    the whole output (wrapped lines change nothing), brackets and '*' stripped."""
    block_limit = parse_quota_output(output)
    tokens = output.split()
    used_kbytes = _figure(tokens, _KBYTES_USED)
    return QuotaFigures(
        block_limit=block_limit,
        used_bytes=None if used_kbytes is None else used_kbytes * 1024,
        files=_figure(tokens, _FILES_USED),
        file_limit=_figure(tokens, _FILE_LIMIT),
    )


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


def _kill_timed_out(process: subprocess.Popen[str]) -> None:
    """Kill a command that timed out, and whatever it started, and reap it."""
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


def fetch_quota(group: str, mount: str, cfg: QuotaConfig) -> int | None:
    """The hard limit in bytes from ``fetch_quota_figures``, or None."""
    figures = fetch_quota_figures(group, mount, cfg)
    return None if figures is None else figures.block_limit


def fetch_quota_figures(group: str, mount: str, cfg: QuotaConfig) -> QuotaFigures | None:
    """Run `<cfg.command> quota -q -g <group> <mount>` and return its figures.

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
    # Without the product's secrets: lfs never needs them.
    env = {**child_environment(), "LC_ALL": "C"}
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
        _kill_timed_out(process)
        _warn(group, mount, f"{words[0]} timed out after {cfg.timeout:g} s and was killed")
        return None

    if process.returncode != 0:
        detail = _first_line(stderr) or _first_line(stdout) or "no message"
        _warn(group, mount, f"{words[0]} exited with status {process.returncode}: {detail}")
        return None
    try:
        figures = parse_quota_figures(stdout)
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
    return figures


class QuotaLookups:
    """Quota look-ups on one mount, started as soon as a group is known.

    The report learns its groups while it reads a volume, which takes minutes to hours;
    each real ``lfs quota`` asks the quota servers over the network, so the look-ups
    run on ``cfg.workers`` threads meanwhile instead of one after another at the end.
    ``want`` starts look-ups (each group once); ``results`` waits for the ones asked
    for. A group that is empty or starts with '-' is never passed to the command.
    """

    def __init__(self, mount: str, cfg: QuotaConfig) -> None:
        self.mount = mount
        self.cfg = cfg
        # None: no look-up to run
        self._pending: dict[str, Future[QuotaFigures | None] | None] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._command_ok: bool | None = None  # decided at the first runnable group

    def __enter__(self) -> QuotaLookups:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for look-ups already running (each bounded by its timeout); start no more."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _usable_command(self) -> bool:
        """Whether the command can run; one warning instead of one per group when not."""
        if self._command_ok is None:
            words = _command_words(self.cfg)
            self._command_ok = words is not None and shutil.which(words[0]) is not None
            if not self._command_ok:
                reason = (
                    f"[quota] command is not a usable command line: {self.cfg.command!r}"
                    if words is None
                    else f"command not found: {words[0]}"
                )
                log.warning(
                    "no quotas on %s (every group's quota is NULL): %s",
                    self.mount,
                    reason,
                    extra={"volume": _volume_label(self.mount)},
                )
        return self._command_ok

    def want(self, groups: Iterable[str]) -> None:
        """Start looking up the groups not asked for before."""
        new = [g for g in dict.fromkeys(groups) if g not in self._pending]
        runnable = []
        for group in new:
            if _bad_name(group):
                _warn(group, self.mount, "not a usable group name")
                self._pending[group] = None
            else:
                runnable.append(group)
        if not runnable:
            return
        if not self._usable_command():
            self._pending.update(dict.fromkeys(runnable))
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=max(1, self.cfg.workers), thread_name_prefix="quota"
            )
        for group in runnable:
            self._pending[group] = self._pool.submit(
                fetch_quota_figures, group, self.mount, self.cfg
            )

    def results(self, groups: Iterable[str]) -> dict[str, int | None]:
        """{group: hard limit in bytes, or None}, in the order given, once all are done."""
        return {
            group: None if figures is None else figures.block_limit
            for group, figures in self.figures(groups).items()
        }

    def figures(self, groups: Iterable[str]) -> dict[str, QuotaFigures | None]:
        """{group: its figures, or None when the look-up failed}, in the order given,
        once all are done."""
        wanted = list(dict.fromkeys(groups))
        self.want(wanted)
        out: dict[str, QuotaFigures | None] = {}
        for group in wanted:
            future = self._pending[group]
            out[group] = None if future is None else future.result()
        return out
