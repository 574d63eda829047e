"""Configuration: one INI file, validated into typed dataclasses.

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
from dataclasses import dataclass, field
from pathlib import Path

from humgen_storage.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONFIG_NAME = "humgen_storage.ini"
CONFIG_ENV = "HUMGEN_STORAGE_CONFIG"
MYSQL_PASSWORD_ENV = "HUMGEN_MYSQL_PASSWORD"
LDAP_PASSWORD_ENV = "HUMGEN_LDAP_PASSWORD"

DEFAULT_SPECIAL_PREFIXES = (
    "/lustre/scratch116/vr/projects",
    "/lustre/scratch116/humgen/projects",
    "/lustre/scratch116/tol/projects",
)

# [splitter] node_bytes_bands: (dir % below which it applies, bytes per node).
DEFAULT_NODE_BYTES_BANDS: tuple[tuple[float, int], ...] = (
    (0.8, 12000),
    (1.5, 10000),
    (2.0, 9000),
    (4.0, 8500),
    (float("inf"), 8000),
)

DEFAULT_FILE_CLASSES = (
    ("BAM", r"\.(bam|sam)(\.gz)?$"),
    ("CRAM", r"\.cram(\.gz)?$"),
    ("VCF", r"\.(vcf|bcf|gvcf)(\.gz)?$"),
    ("PEDBED", r"\.(ped|bed)(\.gz)?$"),
)

VOLUME_RE = re.compile(r"^[0-9A-Za-z_-]+$")


@dataclass(frozen=True)
class PathsConfig:
    mpistat_dir: Path
    report_dir: Path
    max_days_ago: int = 10

    @property
    def output_files_dir(self) -> Path:
        """Where the TSVs (and so the done-markers) live."""
        return self.report_dir / "report-output-files"

    @property
    def staging_root(self) -> Path:
        return self.report_dir / ".staging"


@dataclass(frozen=True)
class InputConfig:
    max_bad_fraction: float = 0.001
    # How many malformed lines per file are logged in full; the rest are counted.
    log_bad_lines: int = 5


@dataclass(frozen=True)
class VolumesConfig:
    report: tuple[str, ...]
    inspector: tuple[str, ...]
    splitter: tuple[str, ...]

    def for_job(self, job: str) -> tuple[str, ...]:
        return {"report": self.report, "inspect": self.inspector, "split": self.splitter}[job]


@dataclass(frozen=True)
class DatabaseConfig:
    url: str
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LdapConfig:
    url: str | None
    ldif: Path | None
    bind_dn: str | None
    bind_password: str | None = field(repr=False)
    group_base: str
    people_base: str
    humgen_filter: str = "(objectClass=sangerHumgenProjectGroup)"
    pi_attribute: str = "sangerProjectPI"
    start_tls: bool = False
    ca_file: Path | None = None
    page_size: int = 500
    timeout: float = 30.0


@dataclass(frozen=True)
class QuotaConfig:
    command: str = "lfs"
    timeout: float = 30.0
    workers: int = 8


@dataclass(frozen=True)
class ArchiveConfig:
    threshold_bytes: int = 104857600
    # volume number -> directories searched in order for <dir>/<group>/.imirrored
    dirs: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class InspectorConfig:
    # volume number -> root patterns in order (no leading '/')
    roots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # (column, regex) in order; the first match wins
    file_classes: tuple[tuple[str, str], ...] = DEFAULT_FILE_CLASSES


@dataclass(frozen=True)
class SplitterConfig:
    output_dir: Path
    special_prefixes: tuple[str, ...] = DEFAULT_SPECIAL_PREFIXES
    max_open_files: int = 256
    # index.txt formula constants (spec section 6)
    lines_per_second: float = 11000.0
    base_seconds: float = 100.0
    # (upper bound of dir %, bytes per node); the last pair's bound is ignored (applies above)
    node_bytes_bands: tuple[tuple[float, int], ...] = DEFAULT_NODE_BYTES_BANDS
    node_overhead: int = 50
    compress_level: int = 1
    # Memory bound per pool worker: buffered lines of all groups together, and the size
    # at which one group's buffer is written out (large writes, few gzip flushes).
    buffer_bytes: int = 64 * 1024 * 1024
    group_flush_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class S3Config:
    bucket: str
    prefix: str = "mpistat/"
    endpoint_url: str | None = None
    max_attempts: int = 5
    multipart_threshold: int = 64 * 1024 * 1024
    multipart_chunksize: int = 64 * 1024 * 1024
    region: str | None = None
    # Per request; a server that stops answering fails a try after read_timeout.
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    # Back-off before try n+1 is backoff_base * 2**(n-1) seconds, at most backoff_max.
    backoff_base: float = 1.0
    backoff_max: float = 60.0


@dataclass(frozen=True)
class LsfConfig:
    group: str = "hgi"
    queue: str = "normal"
    report_memory_mb: int = 2000
    report_cores: int = 4
    # Optional per-job requests (inspect, split, stage: one report array element):
    # job -> (memory MB or None, cores or None); None falls back to the report's,
    # except that an array element asks for 1 core.
    per_job: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    def request(self, job: str) -> tuple[int, int]:
        """(memory MB, cores) to ask LSF for ``job``."""
        memory, cores = self.per_job.get(job, (None, None))
        default_cores = 1 if job == "stage" else self.report_cores
        return memory or self.report_memory_mb, cores or default_cores


@dataclass(frozen=True)
class Config:
    source: Path
    paths: PathsConfig
    input: InputConfig
    volumes: VolumesConfig
    database: DatabaseConfig
    ldap: LdapConfig
    quota: QuotaConfig
    archive: ArchiveConfig
    inspector: InspectorConfig
    splitter: SplitterConfig
    s3: S3Config
    lsf: LsfConfig
    workers: int | None = None


class _Reader:
    """Typed access to one INI file, with errors that name file, section and key."""

    def __init__(self, parser: configparser.ConfigParser, source: Path) -> None:
        self.parser = parser
        self.source = source

    def error(self, section: str, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: [{section}] {key}: {message}")

    def raw(self, section: str, key: str) -> str | None:
        if not self.parser.has_option(section, key):
            return None
        value = self.parser.get(section, key).strip()
        return value or None

    def text(self, section: str, key: str, default: str | None = None) -> str:
        value = self.raw(section, key)
        if value is None:
            if default is None:
                raise self.error(section, key, "missing")
            return default
        return value

    def integer(self, section: str, key: str, default: int, minimum: int = 0) -> int:
        value = self.raw(section, key)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise self.error(section, key, f"not an integer: {value!r}") from None
        if number < minimum:
            raise self.error(section, key, f"must be at least {minimum}, got {number}")
        return number

    def number(self, section: str, key: str, default: float, minimum: float = 0.0) -> float:
        value = self.raw(section, key)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise self.error(section, key, f"not a number: {value!r}") from None
        if number < minimum:
            raise self.error(section, key, f"must be at least {minimum}, got {number}")
        return number

    def flag(self, section: str, key: str, default: bool) -> bool:
        if self.raw(section, key) is None:
            return default
        try:
            return self.parser.getboolean(section, key)
        except ValueError as exc:
            raise self.error(section, key, str(exc)) from None

    def path(self, section: str, key: str, required: bool = True) -> Path | None:
        value = self.raw(section, key)
        if value is None:
            if required:
                raise self.error(section, key, "missing")
            return None
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else (self.source.parent / path).resolve()

    def volumes(self, section: str, key: str) -> tuple[str, ...]:
        value = self.raw(section, key)
        if value is None:
            return ()
        volumes = tuple(value.split())
        for volume in volumes:
            if not VOLUME_RE.match(volume):
                raise self.error(section, key, f"not a volume number: {volume!r}")
        return volumes

    def per_volume(self, section: str, skip: set[str]) -> dict[str, tuple[str, ...]]:
        if not self.parser.has_section(section):
            return {}
        result: dict[str, tuple[str, ...]] = {}
        for key in self.parser.options(section):
            if key in skip or key in self.parser.defaults():
                continue
            if not VOLUME_RE.match(key):
                raise self.error(section, key, "expected a volume number as the key")
            result[key] = tuple((self.raw(section, key) or "").split())
        return result


def _resolve(path: str, base: Path) -> str:
    """A relative path in the file is relative to the file's directory."""
    return path if os.path.isabs(path) else str((base / path).resolve())


def _resolve_command(command: str, base: Path) -> str:
    # A bare name ("lfs") is looked up on PATH; a relative path is relative to the file.
    words = command.split(maxsplit=1)
    if "/" in words[0]:
        words[0] = _resolve(words[0], base)
    return " ".join(words)


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
    r = _Reader(parser, source)
    mpistat_dir = r.path("paths", "mpistat_dir")
    report_dir = r.path("paths", "report_dir")
    assert mpistat_dir is not None and report_dir is not None
    paths = PathsConfig(
        mpistat_dir=mpistat_dir,
        report_dir=report_dir,
        max_days_ago=r.integer("paths", "max_days_ago", 10, minimum=1),
    )
    max_bad = r.number("input", "max_bad_fraction", 0.001)
    if max_bad > 1:
        raise r.error("input", "max_bad_fraction", "must be a fraction between 0 and 1")
    inputs = InputConfig(
        max_bad_fraction=max_bad, log_bad_lines=r.integer("input", "log_bad_lines", 5)
    )

    volumes = VolumesConfig(
        report=r.volumes("volumes", "report"),
        inspector=r.volumes("volumes", "inspector"),
        splitter=r.volumes("volumes", "splitter"),
    )

    db_password = os.environ.get(MYSQL_PASSWORD_ENV) or r.raw("database", "password")
    database = DatabaseConfig(url=r.text("database", "url"), password=db_password)
    if not database.url.startswith(("mysql://", "sqlite:///")):
        raise r.error("database", "url", "must start with mysql:// or sqlite:///")

    ldap_url = r.raw("ldap", "url")
    ldif = r.path("ldap", "ldif", required=False)
    if bool(ldap_url) == bool(ldif):
        raise r.error("ldap", "url", "set exactly one of 'url' and 'ldif'")
    ldap = LdapConfig(
        url=ldap_url,
        ldif=ldif,
        bind_dn=r.raw("ldap", "bind_dn"),
        bind_password=os.environ.get(LDAP_PASSWORD_ENV) or r.raw("ldap", "bind_password"),
        group_base=r.text("ldap", "group_base"),
        people_base=r.text("ldap", "people_base"),
        humgen_filter=r.text("ldap", "humgen_filter", "(objectClass=sangerHumgenProjectGroup)"),
        pi_attribute=r.text("ldap", "pi_attribute", "sangerProjectPI"),
        start_tls=r.flag("ldap", "start_tls", False),
        ca_file=r.path("ldap", "ca_file", required=False),
        page_size=r.integer("ldap", "page_size", 500, minimum=1),
        timeout=r.number("ldap", "timeout", 30.0),
    )

    quota = QuotaConfig(
        command=_resolve_command(r.text("quota", "command", "lfs"), source.parent),
        timeout=r.number("quota", "timeout", 30.0),
        workers=r.integer("quota", "workers", 8, minimum=1),
    )

    archive = ArchiveConfig(
        threshold_bytes=r.integer("archive", "threshold_bytes", 104857600),
        dirs={
            volume: tuple(_resolve(d, source.parent) for d in dirs)
            for volume, dirs in r.per_volume("archive", skip={"threshold_bytes"}).items()
        },
    )

    classes: tuple[tuple[str, str], ...] = DEFAULT_FILE_CLASSES
    if parser.has_section("file_classes"):
        classes = tuple(
            (name.upper(), r.text("file_classes", name)) for name in parser.options("file_classes")
        )
    for name, pattern in classes:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise r.error("file_classes", name.lower(), f"bad regular expression: {exc}") from None
    inspector_roots = r.per_volume("inspector", skip=set())
    for volume, roots in inspector_roots.items():
        for root in roots:
            try:
                re.compile(root)
            except re.error as exc:
                raise r.error("inspector", volume, f"bad root pattern {root!r}: {exc}") from None
    inspector = InspectorConfig(roots=inspector_roots, file_classes=classes)

    prefixes = r.raw("splitter", "special_prefixes")
    output_dir = r.path("splitter", "output_dir", required=False) or report_dir / "groups"
    splitter = SplitterConfig(
        output_dir=output_dir,
        special_prefixes=tuple(prefixes.split()) if prefixes else DEFAULT_SPECIAL_PREFIXES,
        max_open_files=r.integer("splitter", "max_open_files", 256, minimum=4),
        lines_per_second=r.number("splitter", "lines_per_second", 11000.0, minimum=1.0),
        base_seconds=r.number("splitter", "base_seconds", 100.0),
        node_bytes_bands=_node_bytes_bands(r),
        node_overhead=r.integer("splitter", "node_overhead", 50),
        compress_level=r.integer("splitter", "compress_level", 1),
        buffer_bytes=r.integer("splitter", "buffer_bytes", 64 * 1024 * 1024, minimum=1024 * 1024),
        group_flush_bytes=r.integer("splitter", "group_flush_bytes", 1024 * 1024, minimum=4096),
    )

    s3 = S3Config(
        bucket=r.text("s3", "bucket", "branchserve"),
        prefix=r.raw("s3", "prefix") or "",
        endpoint_url=r.raw("s3", "endpoint_url"),
        max_attempts=r.integer("s3", "max_attempts", 5, minimum=1),
        # S3 parts are at least 5 MiB (except the last).
        multipart_threshold=r.integer(
            "s3", "multipart_threshold", 64 * 1024 * 1024, minimum=5 * 1024 * 1024
        ),
        multipart_chunksize=r.integer(
            "s3", "multipart_chunksize", 64 * 1024 * 1024, minimum=5 * 1024 * 1024
        ),
        region=r.raw("s3", "region"),
        connect_timeout=r.number("s3", "connect_timeout", 10.0, minimum=0.001),
        read_timeout=r.number("s3", "read_timeout", 120.0, minimum=0.001),
        backoff_base=r.number("s3", "backoff_base", 1.0),
        backoff_max=r.number("s3", "backoff_max", 60.0),
    )

    lsf = LsfConfig(
        group=r.text("lsf", "group", "hgi"),
        queue=r.text("lsf", "queue", "normal"),
        report_memory_mb=r.integer("lsf", "report_memory_mb", 2000, minimum=1),
        report_cores=r.integer("lsf", "report_cores", 4, minimum=1),
        per_job={
            job: (
                r.integer("lsf", f"{job}_memory_mb", 0, minimum=1) or None,
                r.integer("lsf", f"{job}_cores", 0, minimum=1) or None,
            )
            for job in ("inspect", "split", "stage")
        },
    )
    workers = r.integer("jobs", "workers", 0)

    config = Config(
        source=source,
        paths=paths,
        input=inputs,
        volumes=volumes,
        database=database,
        ldap=ldap,
        quota=quota,
        archive=archive,
        inspector=inspector,
        splitter=splitter,
        s3=s3,
        lsf=lsf,
        workers=workers or None,
    )
    _warn_if_secret_readable(parser, source)
    return config


def _node_bytes_bands(r: _Reader) -> tuple[tuple[float, int], ...]:
    """``[splitter] node_bytes_bands = 0.8:12000 1.5:10000 2:9000 4:8500 8000``.

    Pairs of (dir % below which it applies, bytes per node) in increasing order; the
    last value, without a bound, applies above every bound.
    """
    value = r.raw("splitter", "node_bytes_bands")
    if value is None:
        return DEFAULT_NODE_BYTES_BANDS
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
