"""Finding, reading and validating the configuration file: one function per section.

The file is found by ``--config FILE``, else ``$HUMGEN_STORAGE_CONFIG``, else
``./humgen_storage.ini``. Relative paths in the file are resolved against the
directory holding the file, so a config and its data can move together.
Secrets may come from the environment, which wins over the file.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
import stat
from pathlib import Path

from humgen_storage.config import (
    CONFIG_ENV,
    DEFAULT_CONFIG_NAME,
    LDAP_PASSWORD_ENV,
    MYSQL_PASSWORD_ENV,
    ArchiveConfig,
    Config,
    DatabaseConfig,
    ForecastConfig,
    HtmlConfig,
    InputConfig,
    InspectorConfig,
    LdapConfig,
    LsfConfig,
    MetricsConfig,
    PathsConfig,
    QuotaConfig,
    S3Config,
    SplitterConfig,
    VolumesConfig,
)
from humgen_storage.config.feeds import parse_feeds, parse_notify
from humgen_storage.config.reader import SectionReader, resolve, resolve_command
from humgen_storage.directory.filters import FilterError, matches_every_group, parse_filter
from humgen_storage.errors import ConfigError

log = logging.getLogger(__name__)


def find_config_path(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return Path(DEFAULT_CONFIG_NAME)


def load_config(explicit: str | None = None) -> Config:
    """Find, read and validate the configuration."""
    source = find_config_path(explicit).absolute()
    if not source.is_file():
        raise ConfigError(f"{source}: configuration file not found (use --config or ${CONFIG_ENV})")
    # Inline comments are allowed after ' ;' or ' #', as in the spec's example.
    parser = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None)
    try:
        with source.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ConfigError(f"{source}: cannot read configuration: {exc}") from None
    return parse_config(parser, source)


def parse_config(parser: configparser.ConfigParser, source: Path) -> Config:
    r = SectionReader(parser, source)
    paths = _paths(r)
    config = Config(
        source=source,
        paths=paths,
        input=_input(r),
        volumes=VolumesConfig(
            report=r.volumes("volumes", "report"),
            inspector=r.volumes("volumes", "inspector"),
            splitter=r.volumes("volumes", "splitter"),
        ),
        database=_database(r),
        ldap=_ldap(r),
        quota=_quota(r),
        archive=_archive(r),
        inspector=_inspector(r),
        splitter=_splitter(r, paths.report_dir),
        s3=_s3(r),
        lsf=_lsf(r),
        workers=r.number("jobs", "workers", 0, minimum=0) or Config.workers,
        metrics=MetricsConfig(textfile=r.path("metrics", "textfile")),
        forecast=_forecast(r),
        html=HtmlConfig(output_dir=r.path("html", "output_dir")),
        feeds=parse_feeds(r),
        notify=parse_notify(r),
    )
    r.check_unknown()
    _warn_if_secret_readable(parser, source)
    return config


# One function per section. A key that is absent takes the default written on the
# dataclass (read back as ``SectionConfig.field``), so a default is never written twice.


def _paths(r: SectionReader) -> PathsConfig:
    d = PathsConfig
    return PathsConfig(
        mpistat_dir=r.required_path("paths", "mpistat_dir"),
        report_dir=r.required_path("paths", "report_dir"),
        max_days_ago=r.number("paths", "max_days_ago", d.max_days_ago, minimum=1),
        # Absent: 0, so None (keep everything); given: at least one day.
        keep_days=r.number("paths", "keep_days", 0, minimum=1) or d.keep_days,
    )


def _input(r: SectionReader) -> InputConfig:
    d = InputConfig
    max_bad = r.number("input", "max_bad_fraction", d.max_bad_fraction, minimum=0.0)
    if max_bad > 1:
        raise r.error("input", "max_bad_fraction", "must be a fraction between 0 and 1")
    return InputConfig(
        max_bad_fraction=max_bad,
        log_bad_lines=r.number("input", "log_bad_lines", d.log_bad_lines, minimum=0),
    )


def _database(r: SectionReader) -> DatabaseConfig:
    d = DatabaseConfig
    url = r.text("database", "url")
    if not url.startswith(("mysql://", "sqlite:///")):
        raise r.error("database", "url", "must start with mysql:// or sqlite:///")
    # Read even when the environment wins, so the key is known (``check_unknown``).
    in_file = r.raw("database", "password")
    password = os.environ.get(MYSQL_PASSWORD_ENV) or in_file
    return DatabaseConfig(
        url=url,
        password=password,
        connect_timeout=r.number("database", "connect_timeout", d.connect_timeout, minimum=0.001),
        read_timeout=r.number("database", "read_timeout", d.read_timeout, minimum=0.001),
        write_timeout=r.number("database", "write_timeout", d.write_timeout, minimum=0.001),
    )


def _ldap(r: SectionReader) -> LdapConfig:
    d = LdapConfig
    url = r.raw("ldap", "url")
    ldif = r.path("ldap", "ldif")
    bind_password = r.raw("ldap", "bind_password")
    if bool(url) == bool(ldif):
        raise r.error("ldap", "url", "set exactly one of 'url' and 'ldif'")
    return LdapConfig(
        url=url,
        ldif=ldif,
        bind_dn=r.raw("ldap", "bind_dn"),
        bind_password=os.environ.get(LDAP_PASSWORD_ENV) or bind_password,
        group_base=r.text("ldap", "group_base"),
        people_base=r.text("ldap", "people_base"),
        humgen_filter=_humgen_filter(r, d.humgen_filter),
        pi_attribute=r.text("ldap", "pi_attribute", d.pi_attribute),
        start_tls=r.flag("ldap", "start_tls", d.start_tls),
        ca_file=r.path("ldap", "ca_file"),
        page_size=r.number("ldap", "page_size", d.page_size, minimum=1),
        timeout=r.number("ldap", "timeout", d.timeout, minimum=0.0),
    )


def _humgen_filter(r: SectionReader, default: str) -> str:
    """The humgen filter, refused when it does not parse or would make every group
    humgen (an empty value, ``(objectClass=*)``, ``(&)``...): a typo here must not
    turn every group's usage into humgen usage."""
    if r.parser.has_option("ldap", "humgen_filter") and r.raw("ldap", "humgen_filter") is None:
        raise r.error("ldap", "humgen_filter", f"empty; remove the key for the default {default}")
    value = r.text("ldap", "humgen_filter", default)
    try:
        parsed = parse_filter(value)
    except FilterError as exc:
        raise r.error("ldap", "humgen_filter", str(exc)) from None
    if matches_every_group(parsed):
        raise r.error(
            "ldap", "humgen_filter", f"{value} matches every group: it would make all humgen"
        )
    return value


def _quota(r: SectionReader) -> QuotaConfig:
    d = QuotaConfig
    return QuotaConfig(
        command=resolve_command(r.text("quota", "command", d.command), r.source.parent),
        timeout=r.number("quota", "timeout", d.timeout, minimum=0.0),
        workers=r.number("quota", "workers", d.workers, minimum=1),
    )


def _archive(r: SectionReader) -> ArchiveConfig:
    return ArchiveConfig(
        threshold_bytes=r.number(
            "archive", "threshold_bytes", ArchiveConfig.threshold_bytes, minimum=0
        ),
        dirs={
            volume: tuple(resolve(d, r.source.parent) for d in dirs)
            for volume, dirs in r.per_volume("archive", skip={"threshold_bytes"}).items()
        },
    )


def _inspector(r: SectionReader) -> InspectorConfig:
    """``[inspector]`` roots per volume and ``[file_classes]``: both regexes, checked here."""
    classes = InspectorConfig.file_classes
    names = r.section_keys("file_classes")
    if r.parser.has_section("file_classes"):
        classes = tuple((name.upper(), r.text("file_classes", name)) for name in names)
    for name, pattern in classes:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise r.error("file_classes", name.lower(), f"bad regular expression: {exc}") from None
    roots = r.per_volume("inspector", skip={"max_delete_fraction"})
    for volume, patterns in roots.items():
        for root in patterns:
            try:
                re.compile(root)
            except re.error as exc:
                raise r.error("inspector", volume, f"bad root pattern {root!r}: {exc}") from None
    fraction = r.number(
        "inspector", "max_delete_fraction", InspectorConfig.max_delete_fraction, minimum=0.0
    )
    if fraction > 1:
        raise r.error("inspector", "max_delete_fraction", "must be a fraction between 0 and 1")
    return InspectorConfig(roots=roots, file_classes=classes, max_delete_fraction=fraction)


def _splitter(r: SectionReader, report_dir: Path) -> SplitterConfig:
    d = SplitterConfig
    prefixes = r.raw("splitter", "special_prefixes")
    return SplitterConfig(
        output_dir=r.path("splitter", "output_dir") or report_dir / "groups",
        special_prefixes=tuple(prefixes.split()) if prefixes else d.special_prefixes,
        max_open_files=r.number("splitter", "max_open_files", d.max_open_files, minimum=4),
        lines_per_second=r.number("splitter", "lines_per_second", d.lines_per_second, minimum=1.0),
        base_seconds=r.number("splitter", "base_seconds", d.base_seconds, minimum=0.0),
        node_bytes_bands=_node_bytes_bands(r),
        node_overhead=r.number("splitter", "node_overhead", d.node_overhead, minimum=0),
        compress_level=r.number("splitter", "compress_level", d.compress_level, minimum=0),
        buffer_bytes=r.number("splitter", "buffer_bytes", d.buffer_bytes, minimum=1024 * 1024),
        group_flush_bytes=r.number(
            "splitter", "group_flush_bytes", d.group_flush_bytes, minimum=4096
        ),
    )


def _s3(r: SectionReader) -> S3Config:
    d = S3Config
    part = 5 * 1024 * 1024  # S3 parts are at least 5 MiB (except the last)
    return S3Config(
        bucket=r.text("s3", "bucket", d.bucket),
        prefix=r.raw("s3", "prefix") or d.prefix,
        endpoint_url=r.raw("s3", "endpoint_url"),
        max_attempts=r.number("s3", "max_attempts", d.max_attempts, minimum=1),
        multipart_threshold=r.number(
            "s3", "multipart_threshold", d.multipart_threshold, minimum=part
        ),
        multipart_chunksize=r.number(
            "s3", "multipart_chunksize", d.multipart_chunksize, minimum=part
        ),
        region=r.raw("s3", "region"),
        connect_timeout=r.number("s3", "connect_timeout", d.connect_timeout, minimum=0.001),
        read_timeout=r.number("s3", "read_timeout", d.read_timeout, minimum=0.001),
        backoff_base=r.number("s3", "backoff_base", d.backoff_base, minimum=0.0),
        backoff_max=r.number("s3", "backoff_max", d.backoff_max, minimum=0.0),
    )


def _lsf(r: SectionReader) -> LsfConfig:
    d = LsfConfig
    return LsfConfig(
        group=r.text("lsf", "group", d.group),
        queue=r.text("lsf", "queue", d.queue),
        report_memory_mb=r.number("lsf", "report_memory_mb", d.report_memory_mb, minimum=1),
        report_cores=r.number("lsf", "report_cores", d.report_cores, minimum=1),
        # Absent: 0, so None (fall back to the report's request); given: at least 1.
        per_job={
            job: (
                r.number("lsf", f"{job}_memory_mb", 0, minimum=1) or None,
                r.number("lsf", f"{job}_cores", 0, minimum=1) or None,
            )
            for job in ("inspect", "split", "stage")
        },
    )


def _forecast(r: SectionReader) -> ForecastConfig:
    d = ForecastConfig
    critical = r.number("forecast", "critical_days", d.critical_days, minimum=0.0)
    warning = r.number("forecast", "warning_days", d.warning_days, minimum=0.0)
    if warning < critical:
        raise r.error("forecast", "warning_days", f"must be at least critical_days ({critical})")
    deletion = r.number("forecast", "deletion_fraction", d.deletion_fraction, minimum=0.0)
    if deletion > 1:
        raise r.error("forecast", "deletion_fraction", "must be a fraction between 0 and 1")
    return ForecastConfig(
        window_days=r.number("forecast", "window_days", d.window_days, minimum=2),
        min_points=r.number("forecast", "min_points", d.min_points, minimum=2),
        min_span_days=r.number("forecast", "min_span_days", d.min_span_days, minimum=1),
        critical_days=critical,
        warning_days=warning,
        deletion_fraction=deletion,
        keep_warning_days=r.number("forecast", "keep_warning_days", d.keep_warning_days, minimum=0),
    )


def _node_bytes_bands(r: SectionReader) -> tuple[tuple[float, int], ...]:
    """``[splitter] node_bytes_bands = 0.8:12000 1.5:10000 2:9000 4:8500 8000``.

    Pairs of (dir % below which it applies, bytes per node) in increasing order; the
    last value, without a bound, applies above every bound.
    """
    value = r.raw("splitter", "node_bytes_bands")
    if value is None:
        return SplitterConfig.node_bytes_bands
    *bounded, last = value.split()
    bands: list[tuple[float, int]] = []
    try:
        for item in bounded:
            bound, _, per_node = item.partition(":")
            bands.append((float(bound), int(per_node)))
        bands.append((float("inf"), int(last)))
    except ValueError:
        raise r.error(
            "splitter", "node_bytes_bands", f"expected 'percent:bytes ... bytes', got {value!r}"
        ) from None
    bounds = [bound for bound, _ in bands]
    if bounds != sorted(bounds):
        raise r.error("splitter", "node_bytes_bands", "bounds must increase")
    return tuple(bands)


def _warn_if_secret_readable(parser: configparser.ConfigParser, source: Path) -> None:
    """Warn when the file holds a password and others than its owner can read it."""
    holds_secret = bool(
        (parser.has_option("database", "password") and parser.get("database", "password").strip())
        or (
            parser.has_option("ldap", "bind_password")
            and parser.get("ldap", "bind_password").strip()
        )
        or re.search(r"://[^/@:]*:[^/@]+@", parser.get("database", "url", fallback=""))
    )
    if not holds_secret:
        return
    mode = source.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "%s holds a password and is readable by group or others; run: chmod 600 %s",
            source,
            source,
        )
