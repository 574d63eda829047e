"""inspect: per-project directory inventory of the inspector roots (Spaceman).

Without PATH every root of every inspector volume is scanned (volumes side by side
in a pool; within a volume, one process decompresses and the workers left over parse
its blocks, see run/blocks.py) in the newest complete set of the inspector volumes,
or the set of --date. Each volume's rows are staged in SQLite (``run.driver``); the
table is made from the staged volumes.
With PATH (which need not exist here) the path is mapped onto the configured root
patterns and only rows at or below it are printed, from its volume's newest file; a
PATH under no root, but on a configured volume, is itself taken as the root.
--tosql also merges the table into the Spaceman tables, keeping people's decisions.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from humgen_storage.config import Config
from humgen_storage.errors import ConfigError, UsageError
from humgen_storage.inspect.job import JOB, InspectJob, roots_by_volume
from humgen_storage.inspect.path_query import select_path
from humgen_storage.inspect.roots import DEFAULT_DEPTH
from humgen_storage.mpistat.paths import display_name
from humgen_storage.run import driver
from humgen_storage.run.inputs import add_input_arguments, find_set
from humgen_storage.run.volumes import default_workers

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="only rows at or below this directory (mapped onto the configured roots, "
        "or itself the root when under none; need not exist on this host)",
    )
    parser.add_argument(
        "--depth",
        type=_depth,
        default=DEFAULT_DEPTH,
        help="directory levels below a root to report (default %(default)s; "
        "one more below a users directory)",
    )
    parser.add_argument(
        "--generic",
        action="store_true",
        help="whole paths and human-readable sizes, with Total (bytes)",
    )
    parser.add_argument("--noheader", action="store_true", help="do not print the header line")
    parser.add_argument(
        "--tosql",
        action="store_true",
        help="also merge the rows into the spaceman table (not with PATH)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --tosql: delete gone spaceman rows even when the roots match nothing on a "
        "volume or more than [inspector] max_delete_fraction of its rows would go",
    )
    add_input_arguments(parser, files=False)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--stage-only",
        action="store_true",
        help="aggregate one volume (needs --volume) into the staging area; write nothing else",
    )
    mode.add_argument(
        "--finalise",
        action="store_true",
        help="publish every staged volume of --date as `manage inspect` does (spaceman + TSV)",
    )
    parser.add_argument("--volume", metavar="V", help="with --stage-only: the volume number")


def _depth(text: str) -> int:
    try:
        depth = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if depth < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {depth}")
    return depth


def _check_options(args: argparse.Namespace) -> None:
    if args.force and not (args.tosql or args.finalise):
        raise UsageError("--force goes with --tosql (or --finalise)")
    if args.tosql and args.path is not None:
        raise UsageError("--tosql writes whole volumes; it cannot be used with PATH")
    if (args.stage_only or args.finalise) and (args.path is not None or args.tosql or args.generic):
        raise UsageError("--stage-only and --finalise take no PATH, --tosql or --generic")
    if args.stage_only != bool(args.volume):
        raise UsageError("--stage-only and --volume V go together")
    if args.finalise and args.date is None:
        raise UsageError("--finalise needs --date YYYY-MM-DD")


def run(args: argparse.Namespace, config: Config) -> int:
    _check_options(args)
    workers = default_workers(args.workers or config.workers)
    if args.stage_only:
        return driver.stage_only(config, InspectJob(config), args.volume, args.date, workers)
    if args.finalise:
        return driver.finalise(config, InspectJob.managed(config, force=args.force), args.date)
    volumes = config.volumes.inspector
    if not volumes:
        raise ConfigError(f"{config.source}: [volumes] inspector: no inspector volumes configured")
    if args.path is not None:
        return _run_path(args, config, volumes, workers)
    job = InspectJob(
        config,
        depth=args.depth,
        names=not args.generic or args.tosql,
        tosql=args.tosql,
        generic=args.generic,
        header=not args.noheader,
        force=args.force,
    )
    if not args.tosql:
        # Only a run that writes spaceman needs the job's lock; one without it stages
        # in a folder of its own.
        input_set = find_set(config, volumes, args.date, "inspector volumes")
        return driver.run_job(config, job, input_set, workers, private=True)
    return driver.run_locked(
        config,
        JOB,
        lambda: driver.run_job(
            config, job, find_set(config, volumes, args.date, "inspector volumes"), workers
        ),
    )


def _run_path(
    args: argparse.Namespace, config: Config, volumes: Sequence[str], workers: int
) -> int:
    roots = roots_by_volume(config, volumes)
    path = normalise_path(args.path)
    selection = select_path(path, roots)
    if selection is None:
        raise UsageError(
            f"{args.path} is not on any inspector volume ("
            + "; ".join(f"{volume}: {' '.join(patterns)}" for volume, patterns in roots.items())
            + ")"
        )
    log.info(
        "%s: volume %s, short path %s%s",
        args.path,
        selection.volume,
        display_name(b"/".join(selection.short_prefix)) or "(the roots)",
        " (under no configured root: the path is the root)" if selection.path_root else "",
    )
    input_set = find_set(config, [selection.volume], args.date, "inspector volumes")
    job = InspectJob(
        config,
        depth=args.depth,
        roots={selection.volume: selection.roots(roots[selection.volume])},
        selection=selection,
        shown_path=args.path,
        names=not args.generic,
        generic=args.generic,
        header=not args.noheader,
    )
    return driver.run_job(config, job, input_set, workers, private=True)


def normalise_path(text: str) -> bytes:
    """Absolute, without '.', '..', repeated or trailing slashes; not resolved (it need not exist)."""
    return os.fsencode(os.path.normpath(os.path.abspath(text)))
