"""The ``humgen-storage`` command line: parse, set up logging, load the configuration,
run one command, and map its failure to an exit status.

Commands are wired here and computed elsewhere: each is a module with
``add_arguments(parser)`` and ``run(args, config) -> int`` (the ``Command``
protocol), reached through a loader holding a plain function-level import. The
imports are deferred so that ``--version``, ``--help`` and the cron helpers
(``lsf``) start without numpy, boto3 or ldap3; they are written out, rather than
named by strings, so that mypy checks every command against the protocol and the
import graph shows who runs what.

The global options are parsed before the command is looked up, so the value of
``--config`` is never taken for the command's name.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from humgen_storage import __version__
from humgen_storage.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    ConfigError,
    HumgenError,
    JobFailed,
    Terminated,
    UsageError,
)
from humgen_storage.logs import setup_logging

if TYPE_CHECKING:
    from humgen_storage.config import Config

log = logging.getLogger("humgen_storage")

PROG = "humgen-storage"
# A signal stopped the run (run/processes.py): what the log line says, the exit status.
_STOPPED_BY: dict[type[BaseException], tuple[str, int]] = {
    KeyboardInterrupt: ("interrupted (SIGINT)", EXIT_INTERRUPTED),
    Terminated: ("terminated (SIGTERM)", EXIT_TERMINATED),
}


class Command(Protocol):
    """A command that runs on the site's configuration."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, config: Config) -> int: ...


class StandaloneCommand(Protocol):
    """A command that needs no configuration file (``crawl``)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, config: None) -> int: ...


@dataclass(frozen=True)
class CommandEntry:
    name: str
    summary: str
    load: Callable[[], Command]

    def add_arguments(self, parser: argparse.ArgumentParser) -> str | None:
        """Add the command's options; its module docstring, the description."""
        command = self.load()
        command.add_arguments(parser)
        return command.__doc__

    def start(self, args: argparse.Namespace) -> int:
        from humgen_storage.config.load import load_config
        from humgen_storage.run.record import current

        config = load_config(args.config)
        current().config = config  # where the run's manifest and metrics go
        return self.load().run(args, config)


@dataclass(frozen=True)
class StandaloneEntry:
    name: str
    summary: str
    load: Callable[[], StandaloneCommand]

    def add_arguments(self, parser: argparse.ArgumentParser) -> str | None:
        command = self.load()
        command.add_arguments(parser)
        return command.__doc__

    def start(self, args: argparse.Namespace) -> int:
        return self.load().run(args, None)


def _report() -> Command:
    from humgen_storage.report import job

    return job


def _inspect() -> Command:
    from humgen_storage.inspect import command

    return command


def _split() -> Command:
    from humgen_storage.split import job

    return job


def _manage() -> Command:
    from humgen_storage import manage

    return manage


def _schema() -> Command:
    from humgen_storage import schema

    return schema


def _forecast() -> Command:
    from humgen_storage.forecast import command

    return command


def _history() -> Command:
    from humgen_storage.history import command

    return command


def _notify() -> Command:
    from humgen_storage.notify import command

    return command


def _crawl() -> StandaloneCommand:
    from humgen_storage import crawl

    return crawl


def _submit() -> Command:
    from humgen_storage.submit import command

    return command


def _lsf() -> Command:
    from humgen_storage import submit

    return submit


def _changes() -> Command:
    from humgen_storage.changes import command

    return command


def _html() -> Command:
    from humgen_storage.html import command

    return command


COMMANDS: dict[str, CommandEntry | StandaloneEntry] = {
    entry.name: entry
    for entry in (
        CommandEntry(
            "report", "per-group usage into lustre_usage and report-YYYYMMDD.tsv", _report
        ),
        CommandEntry("inspect", "per-project directory inventory (Spaceman)", _inspect),
        CommandEntry("split", "per-group mpistat files for TreeServe, uploaded to S3", _split),
        CommandEntry(
            "manage", "run a job on the newest complete set of inputs, once per date", _manage
        ),
        CommandEntry("schema", "create the database tables (idempotent)", _schema),
        CommandEntry("forecast", "days until each group's quota fills (bytes, inodes)", _forecast),
        CommandEntry("history", "import a site's old report TSVs into lustre_usage", _history),
        CommandEntry(
            "changes",
            "what changed between two nights: groups, users, directories",
            _changes,
        ),
        CommandEntry("html", "the HTML report: an overview, a page per PI and per group", _html),
        CommandEntry(
            "notify", "mail PIs whose groups' quota is full or filling (once a day)", _notify
        ),
        StandaloneEntry("crawl", "walk a directory tree and write an mpistat file", _crawl),
        CommandEntry(
            "submit",
            "what cron runs: submit a job's manager (or the report's array) to LSF, or run it here",
            _submit,
        ),
        CommandEntry(
            "lsf",
            "what runs inside LSF: an array element's stage; the newest set, done-markers, volumes",
            _lsf,
        ),
    )
}


def _global_options(parser: argparse.ArgumentParser, top: bool) -> None:
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


def _version() -> str:
    """The version and the path blocks take: ``kernel: compiled`` or ``kernel: numpy``."""
    from humgen_storage.mpistat import kernel  # light: the standard library and the kernel

    return f"{__version__} (kernel: {kernel.active()})"


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with the options of ``commands`` (of every command when None).

    Only those commands' modules are imported: ``main`` passes the one command named,
    or none for ``--version`` and ``--help``.
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description="Nightly Lustre storage accounting from mpistat crawls."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _global_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, entry in COMMANDS.items():
        sub = subparsers.add_parser(name, help=entry.summary, description=entry.summary)
        _global_options(sub, top=False)
        if commands is None or name in commands:
            doc = entry.add_arguments(sub)
            sub.description = (doc or entry.summary).strip().splitlines()[0]
    return parser


def command_named(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: the first word after the global options.

    Parsed with the global options themselves, so ``--config split report`` names
    ``report``; ``--help`` and ``--version`` are left to the full parser.
    """
    globals_only = argparse.ArgumentParser(prog=PROG, add_help=False)
    _global_options(globals_only, top=True)
    globals_only.add_argument("command", nargs="?")
    globals_only.add_argument("rest", nargs=argparse.REMAINDER)
    try:
        known, _ = globals_only.parse_known_args(argv)
    except SystemExit:  # e.g. `--config` without a value: the full parser says so
        return None
    return known.command if known.command in COMMANDS else None


def run_command(
    entry: CommandEntry | StandaloneEntry,
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
) -> int:
    """Run one command; the one place where a failure becomes a log line and an exit status.

    An outage (LDAP, the database, S3) reads the same whichever job met it:
    ``<command>: <one line>; nothing was written``.
    """
    from humgen_storage.run.manifest import leave_records
    from humgen_storage.run.processes import stop_on_signals
    from humgen_storage.run.record import EXIT_DEGRADED, begin

    name = entry.name
    record = begin(name, job=getattr(args, "job", None) if name == "manage" else name)
    with stop_on_signals():  # SIGINT, SIGTERM: the run unwinds, writing nothing
        status = _run_and_map(entry, args, parser)
    if status == EXIT_OK and record.degraded:
        # Published, but something needs a person: said last, where a reader looks.
        for note in record.needs_a_person:
            log.warning("needs a person: %s", note)
        log.warning("%s: written but degraded (exit status %d)", name, EXIT_DEGRADED)
        status = EXIT_DEGRADED
    record.finish(status)
    leave_records(record)
    return status


def _run_and_map(
    entry: CommandEntry | StandaloneEntry,
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
) -> int:
    name = entry.name
    try:
        return int(entry.start(args))
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{PROG} {name}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except ConfigError as exc:
        log.error("%s", exc)
        return exc.exit_status
    except JobFailed as exc:
        for reason in exc.reasons:
            log.error("%s", reason)
        log.error("%s: %s; %s", name, exc, exc.outcome)
        return exc.exit_status
    except HumgenError as exc:  # an outage of LDAP, the database or S3; a bad input
        if args.verbose:
            log.exception("%s failed", name)
        log.error("%s: %s; %s", name, exc, exc.outcome)
        return exc.exit_status
    except (KeyboardInterrupt, Terminated) as exc:
        stopped, status = _STOPPED_BY[type(exc)]
        log.error("%s: %s; nothing was written", name, stopped)
        return status
    except Exception as exc:  # an expected failure is a HumgenError; this is a bug
        if args.verbose:
            log.exception("%s failed", name)
        else:
            log.error("%s failed: %s: %s (run with -v for details)", name, type(exc).__name__, exc)
        return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    named = command_named(words)
    parser = build_parser(() if named is None else (named,))
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or EXIT_OK)
    setup_logging(args.verbose)
    return run_command(COMMANDS[args.command], args, parser)


if __name__ == "__main__":
    sys.exit(main())
