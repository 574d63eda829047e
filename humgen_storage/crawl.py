"""crawl: walk a directory tree and write an mpistat file, so anyone can make real input.

``humgen-storage crawl DIR --volume N -o FILE [--as /lustre/scratchN]`` writes one
record per directory entry in the base64 format (spec section 2.2), gzipped, to a
temporary name beside FILE that is renamed to FILE when the walk is complete.

What it records, like the real crawler:

- the first record is DIR itself, its path shown as the ``--as`` prefix (default
  ``/lustre/scratch<N>``); every other path is that prefix plus the entry's path
  relative to DIR, as raw bytes (any byte but NUL);
- every field comes from ``lstat``: symbolic links are recorded, never followed
  (DIR itself is followed when it is a link, as ``find -H`` does);
- size is ``min(st_size, st_blocks * 512)``, so sparse files count what they occupy;
- types ``f d l s b c F X`` (regular, directory, link, socket, block device,
  character device, FIFO, anything else);
- the walk stays on DIR's filesystem (as ``du -x``): a directory on another device
  is recorded but not entered;
- a directory that cannot be listed is recorded, its contents are skipped and it is
  logged (a summary count at the end); entries that vanish during the walk are
  skipped silently. The exit status is 0 even then, as with the real crawler.

Entries are written in name order within each directory, each directory's record
before its contents, so two crawls of an unchanged tree give the same file.
No configuration is needed.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from humgen_storage.errors import InputError, JobFailed, UsageError
from humgen_storage.mpistat.files import VOLUME_RE, InputFile, volume_name_of_root
from humgen_storage.mpistat.writer import stat_line
from humgen_storage.run.atomic import atomic_file

try:  # igzip writes several times faster than zlib; the stdlib is the fallback.
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - depends on the installation
    import gzip as _gzip  # type: ignore[no-redef]

log = logging.getLogger(__name__)

# Bytes of output lines collected before one write to the gzip stream.
WRITE_BUFFER = 1 << 20
PROGRESS_SECONDS = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="the tree to walk")
    parser.add_argument("--volume", required=True, metavar="N", help="the volume number, e.g. 118")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="the mpistat file to write; the jobs want <YYYYMMDD>_<N>.dat.gz",
    )
    parser.add_argument(
        "--as",
        dest="as_prefix",
        metavar="PATH",
        help="the path DIR is shown as (default: /lustre/scratch<N>); its second component "
        "must be scratch<N> or <N>",
    )


@dataclass
class CrawlStats:
    records: int = 0
    directories: int = 0
    unreadable: int = 0
    vanished: int = 0
    other_devices: int = 0


def _scandir(path: bytes) -> list[os.DirEntry[bytes]]:
    """The entries of one directory, in name order (bytes order)."""
    with os.scandir(path) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _count_failure(stats: CrawlStats, exc: OSError, message: str, path: bytes) -> None:
    """Count a path that vanished mid-crawl (normal on a live filesystem, not logged) or
    could not be read (logged with ``message`` % (path, reason))."""
    if isinstance(exc, FileNotFoundError):
        stats.vanished += 1
        return
    stats.unreadable += 1
    log.warning(message, os.fsdecode(path), exc.strerror or exc)


def walk(
    root: bytes, shown_as: bytes, stats: CrawlStats, skip: tuple[int, int] | None = None
) -> Iterator[bytes]:
    """Yield the lines of ``root``'s tree: the root first, then depth first in name order.

    ``skip`` is the (dev, inode) of a file not to record (the output being written).
    """
    root_stat = os.stat(root)  # DIR itself may be a link to the tree (find -H)
    if not stat.S_ISDIR(root_stat.st_mode):
        raise NotADirectoryError(root)
    device = root_stat.st_dev
    yield stat_line(shown_as, root_stat)
    stats.records += 1
    # (real path, shown path) of directories still to list; popped last-in first-out,
    # pushed in reverse name order so they are walked in name order.
    pending: list[tuple[bytes, bytes]] = [(root, shown_as)]
    while pending:
        real, shown = pending.pop()
        stats.directories += 1
        try:
            entries = _scandir(real)
        except OSError as exc:
            _count_failure(stats, exc, "cannot list %s: %s; its contents are skipped", real)
            continue
        subdirs = []
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                _count_failure(stats, exc, "cannot lstat %s: %s; skipped", entry.path)
                continue
            if skip is not None and (st.st_dev, st.st_ino) == skip:
                continue
            child = shown + b"/" + entry.name
            yield stat_line(child, st)
            stats.records += 1
            if stat.S_ISDIR(st.st_mode):
                if st.st_dev == device:
                    subdirs.append((entry.path, child))
                else:
                    stats.other_devices += 1
                    log.info("%s is on another filesystem; not entered", os.fsdecode(entry.path))
        pending.extend(reversed(subdirs))


def default_prefix(volume: str) -> str:
    return f"/lustre/scratch{volume}"


def check_prefix(prefix: str, volume: str) -> bytes:
    """The ``--as`` path as bytes, without a trailing slash; it must name the volume."""
    if not prefix.startswith("/"):
        raise UsageError(
            f"--as {prefix!r}: must be an absolute path, e.g. {default_prefix(volume)}"
        )
    shown = os.fsencode(prefix.rstrip("/"))
    name = volume_name_of_root(shown)
    if name not in (f"scratch{volume}", volume):
        raise UsageError(
            f"--as {prefix!r}: its second component must be scratch{volume} or {volume} "
            f"(the jobs check it against the volume in the file name), e.g. {default_prefix(volume)}"
        )
    return shown


def check_output_name(output: Path, volume: str) -> None:
    """Warn when the jobs would not accept the file under this name."""
    try:
        named = InputFile.from_path(output)
    except InputError:
        log.warning(
            "%s: the jobs read files named <YYYYMMDD>_%s.dat.gz; rename it before use",
            output,
            volume,
        )
        return
    if named.volume != volume:
        log.warning(
            "%s: the name says volume %s but the records are of volume %s; the jobs will refuse it",
            output,
            named.volume,
            volume,
        )


def crawl(directory: Path, volume: str, output: Path, shown_as: bytes) -> CrawlStats:
    """Walk ``directory`` and write the mpistat file ``output`` atomically."""
    output = output.absolute()
    stats = CrawlStats()
    started = last_log = time.monotonic()
    with atomic_file(output, binary=True) as raw, _gzip.GzipFile(fileobj=raw, mode="wb") as stream:
        written = os.fstat(raw.fileno())  # not to be recorded when it lies inside the tree
        buffer: list[bytes] = []
        size = 0
        for line in walk(os.fsencode(directory), shown_as, stats, (written.st_dev, written.st_ino)):
            buffer.append(line)
            size += len(line)
            if size >= WRITE_BUFFER:
                _flush(stream, buffer)
                size = 0
                now = time.monotonic()
                if now - last_log >= PROGRESS_SECONDS:
                    last_log = now
                    log.info("%d entries after %.0f s", stats.records, now - started)
        _flush(stream, buffer)
    return stats


def _flush(stream: io.BufferedIOBase, buffer: list[bytes]) -> None:
    stream.write(b"".join(buffer))
    buffer.clear()


def run(args: argparse.Namespace, config: object) -> int:
    volume = args.volume
    if not VOLUME_RE.match(volume):
        raise UsageError(f"--volume {volume!r}: expected a volume number such as 118")
    shown_as = check_prefix(args.as_prefix or default_prefix(volume), volume)
    directory = Path(args.directory)
    if not directory.is_dir():
        raise JobFailed(f"{directory}: not a directory")
    output = Path(args.output)
    check_output_name(output, volume)
    started = time.monotonic()
    try:
        stats = crawl(directory, volume, output, shown_as)
    except OSError as exc:
        raise JobFailed(f"crawl of {directory} failed: {exc}") from None
    log.info(
        "wrote %d records of %d directories under %s (as %s) to %s in %.1f s",
        stats.records,
        stats.directories,
        directory,
        os.fsdecode(shown_as),
        output,
        time.monotonic() - started,
    )
    if stats.unreadable:
        log.warning(
            "%d directories or entries could not be read and were skipped", stats.unreadable
        )
    if stats.other_devices:
        log.info("%d directories on other filesystems were not entered", stats.other_devices)
    return 0
