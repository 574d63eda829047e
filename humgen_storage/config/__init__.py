"""Configuration: one INI file, validated into typed dataclasses (defined here).

Each setting's default is written once, on its dataclass; ``config.load`` reads the
file section by section and falls back on those defaults.

The file is found by ``--config FILE``, else ``$HUMGEN_STORAGE_CONFIG``, else
``./humgen_storage.ini``. Relative paths in the file are resolved against the
directory holding the file, so a config and its data can move together.
Secrets may come from the environment, which wins over the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass(frozen=True)
class PathsConfig:
    mpistat_dir: Path
    report_dir: Path
    max_days_ago: int = 10
    # Days after which what the product leaves behind (staging areas, run manifests,
    # dated split directories, cron logs) is pruned; None keeps everything.
    keep_days: int | None = None


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


@dataclass(frozen=True)
class DatabaseConfig:
    url: str
    password: str | None = field(default=None, repr=False)
    # MySQL only, in seconds: opening the TCP connection; then waiting for any answer
    # (the login handshake included) and sending a statement. A server that accepts and
    # then says nothing fails the run after read_timeout instead of holding it forever.
    # read_timeout is above InnoDB's default lock wait (50 s), which ends with an error.
    connect_timeout: float = 30.0
    read_timeout: float = 300.0
    write_timeout: float = 300.0


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
    # A --tosql run deletes none of a volume's spaceman rows (people's notes) when it
    # would delete more than this share of them, or when its roots match nothing there,
    # unless --force: a misspelt root must not wipe Status, Action and Comment.
    max_delete_fraction: float = 0.5


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
    bucket: str = "branchserve"
    # No prefix unless configured: keys are <bucket>/<file name> (the spec's example sets mpistat/).
    prefix: str = ""
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
class MetricsConfig:
    # A Prometheus textfile (node_exporter's textfile collector) every run rewrites;
    # None: no metrics file.
    textfile: Path | None = None


@dataclass(frozen=True)
class ForecastConfig:
    """The quota-full forecast (forecast/method.py; the README's "Forecast")."""

    # Nights looked back over, and what a fit needs: fewer points, or points spanning
    # fewer days, since the last quota change say "not enough history".
    window_days: int = 28
    min_points: int = 5
    min_span_days: int = 7
    # Days until full at or below which a group is critical, or warned about.
    critical_days: float = 7.0
    warning_days: float = 28.0
    # A drop of at least this share of the limit that holds for two nights is a bulk
    # deletion: the nights before it are lowered by the drop rather than fitted as a fall.
    deletion_fraction: float = 0.02
    # A warning stays up to this many days after the last night that warned by itself,
    # while the group may still fill soon (0: a warning is each night's own).
    keep_warning_days: int = 7


@dataclass(frozen=True)
class HtmlConfig:
    # `manage report` writes the HTML report here after publishing (none: it does not).
    output_dir: Path | None = None


@dataclass(frozen=True)
class FeedsConfig:
    """Files for the systems a site already runs (humgen_storage/feeds/); None: not written."""

    xdmod_dir: Path | None = None  # XDMoD storage realm JSON, <dir>/<YYYY-MM-DD>.json
    xdmod_resource: str = "{volume}"  # XDMoD's resource code; {volume}: scratch118
    ondemand_file: Path | None = None  # Open OnDemand quota JSON (version 1)
    # OnDemand shows this as the quota's path; a Lustre group quota covers the volume.
    ondemand_path: str = "/lustre/{volume} ({group})"
    prometheus_usage: Path | None = None  # textfile of usage, beside [metrics] textfile


@dataclass(frozen=True)
class NotifyConfig:
    """``notify``: mail PIs whose groups' forecast is bad (humgen_storage/notify/)."""

    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_timeout: float = 30.0  # seconds per SMTP call
    starttls: bool = False
    sender: str = "humgen-storage@localhost"
    recipient: str = "{pi}@localhost"  # {pi}: lustre_usage.PI
    # Members using at least this share of a listed group's bytes get their own mail;
    # 0: no member is mailed.
    member_share: float = 0.0
    member_recipient: str = "{user}@localhost"
    statuses: tuple[str, ...] = ("full", "critical", "warning")
    opt_out: frozenset[str] = frozenset()  # PIs, users or addresses never mailed
    largest: int = 5  # members and directories listed per group


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
    metrics: MetricsConfig = MetricsConfig()
    forecast: ForecastConfig = ForecastConfig()
    html: HtmlConfig = HtmlConfig()
    feeds: FeedsConfig = FeedsConfig()
    notify: NotifyConfig = NotifyConfig()
