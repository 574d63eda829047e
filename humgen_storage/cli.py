"""The ``humgen-storage`` command line.

Each subcommand lives in its own module with ``add_arguments(parser)`` and
``run(args, config) -> int``; this module only parses, sets up logging, loads the
configuration and maps failures to exit statuses (0 ok, 1 failure, 2 usage).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from humgen_storage import __version__
from humgen_storage.config import load_config
from humgen_storage.errors import ConfigError, JobFailed, UsageError
from humgen_storage.logs import setup_logging

log = logging.getLogger("humgen_storage")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


# name -> (module, one-line summary). Modules are imported only when their command
# runs, so `--version`, `lsf` and the cron helpers start fast (no numpy, boto3, ldap3).
COMMANDS = {
    "report": (
        "humgen_storage.report.job",
        "per-group usage into lustre_usage and report-YYYYMMDD.tsv",
    ),
    "inspect": ("humgen_storage.inspect.job", "per-project directory inventory (Spaceman)"),
    "split": ("humgen_storage.split.job", "per-group mpistat files for TreeServe, uploaded to S3"),
    "manage": (
        "humgen_storage.manage",
        "run a job on the newest complete set of inputs, once per date",
    ),
    "schema": ("humgen_storage.schema", "create the database tables (idempotent)"),
    "crawl": ("humgen_storage.crawl", "walk a directory tree and write an mpistat file"),
    "lsf": (
        "humgen_storage.submit",
        "what the cron scripts ask: LSF settings, the newest set, array volumes",
    ),
}


# Commands that run without a configuration file.
NO_CONFIG = {"crawl"}


def _common_options(parser: argparse.ArgumentParser, top: bool) -> None:
    # On subcommands the defaults are suppressed, so that `--config` and `-v` given
    # before the subcommand are not overwritten by the subparser's defaults.
    default_config = None if top else argparse.SUPPRESS
    default_verbose = False if top else argparse.SUPPRESS
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=default_config,
        help="configuration file (default: $HUMGEN_STORAGE_CONFIG, else ./humgen_storage.ini)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default_verbose,
        help="show debug logs and tracebacks",
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (all of them when None)."""
    parser = argparse.ArgumentParser(
        prog="humgen-storage",
        description="Nightly Lustre storage accounting from mpistat crawls.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, summary) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=summary, description=summary)
        _common_options(sub, top=False)
        if command is None or command == name:
            module = importlib.import_module(module_name)
            sub.description = (module.__doc__ or summary).strip().splitlines()[0]
            module.add_arguments(sub)
            sub.set_defaults(module=module)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv``: the first word that is one."""
    return next((word for word in argv if word in COMMANDS), None)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(words))
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    setup_logging(args.verbose)
    try:
        config = None if args.command in NO_CONFIG else load_config(args.config)
        return int(args.module.run(args, config))
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"humgen-storage {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    except JobFailed as exc:
        for reason in exc.reasons:
            log.error("%s", reason)
        log.error("%s: %s; nothing was written", args.command, exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        log.error("interrupted; nothing was written")
        return 130
    except Exception as exc:  # an expected failure is a JobFailed; this is a bug or an outage
        if args.verbose:
            log.exception("%s failed", args.command)
        else:
            log.error(
                "%s failed: %s: %s (run with -v for details)", args.command, type(exc).__name__, exc
            )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
