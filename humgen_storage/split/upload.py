"""Uploading the splitter's output directory to S3 (``s3://<bucket>/<prefix><file name>``).

Decisions:

* **Unchanged objects are skipped** by size and SHA-256: every object we upload
  carries its SHA-256 in the user metadata ``x-amz-meta-sha256``; a file is skipped
  when the object exists with the same ``ContentLength`` and the same ``sha256``.
  Unlike an ETag, this does not depend on the multipart part size or on server-side
  encryption, and it works the same on AWS and on S3-compatible stores (Ceph,
  MinIO). An object written by something else (no ``sha256``) is uploaded again.
* **Retries are ours**, per file: up to ``[s3] max_attempts`` tries (default 5) of
  "check, then upload", with a back-off of ``backoff_base * 2**(n-1)`` seconds
  (at most ``backoff_max``) after try n, on transient errors only: connection
  failures and timeouts, HTTP 5xx, 429 and S3's throttling codes. botocore's own
  retries are off, so a try means one attempt at every request of the file and the
  limit is exactly what the config says. Other errors (missing bucket, access
  denied, no credentials) fail at once. The first file that still fails stops the
  upload: the run fails naming that file.
* **Multipart** above ``multipart_threshold`` bytes, in ``multipart_chunksize`` parts
  (boto3's managed transfer, which aborts a failed multipart upload).
* **Checksums on the wire** are only computed when the operation requires one
  (``request_checksum_calculation = when_required``): the newer default trailing
  checksums are rejected by several S3-compatible servers.
* **Order**: files in name order, with the names in ``last`` (the index) at the
  end, so a reader that starts from the index finds every file it lists.
* **Credentials** come only from boto3's usual sources (environment, shared
  credentials/config files, instance roles); nothing here takes, prints or logs one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humgen_storage.config import S3Config
from humgen_storage.errors import UploadError, UploadIncomplete
from humgen_storage.run.atomic import atomic_file

log = logging.getLogger(__name__)

SHA256_METADATA = "sha256"

# S3 error codes that mean "slow down / try again later" whatever the HTTP status.
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "PriorRequestNotComplete",
    }
)


@dataclass
class UploadedObject:
    """An object that now holds its file's bytes: as the ``.uploaded`` marker lists it."""

    key: str
    size: int
    sha256: str


@dataclass
class UploadSummary:
    uploaded: int = 0
    skipped: int = 0
    uploaded_bytes: int = 0
    objects: list[UploadedObject] = field(default_factory=list)  # in upload order


def make_client(config: S3Config) -> Any:
    """A boto3 S3 client for the configured endpoint, with our timeouts and no retries of its own."""
    import boto3
    from botocore.config import Config as BotoConfig

    boto_config = BotoConfig(
        region_name=config.region,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=config.endpoint_url, config=boto_config
    )


def _transfer_config(config: S3Config) -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=config.multipart_threshold,
        multipart_chunksize=config.multipart_chunksize,
    )


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def object_key(config: S3Config, name: str) -> str:
    return f"{config.prefix}{name}"


def upload_order(directory: Path, last: Sequence[str] = ()) -> list[Path]:
    """Regular files of ``directory`` by name, those named in ``last`` at the end.

    Hidden files (the ``.uploaded`` marker, a temporary) are the product's own
    bookkeeping, never objects; no group file's name starts with a dot.
    """
    files = sorted(
        (p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: (p.name in last, p.name),
    )
    return files


def upload_directory(
    directory: Path,
    config: S3Config,
    last: Sequence[str] = (),
    client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    shown_as: Path | None = None,
) -> UploadSummary:
    """Upload every file of ``directory``; UploadError naming the first file that fails.

    ``shown_as`` is the directory named in messages, when ``directory`` is a
    temporary name the admin would not recognise.
    """
    client = client or make_client(config)
    transfer = _transfer_config(config)
    summary = UploadSummary()
    files = upload_order(directory, last)
    where = f"s3://{config.bucket}/{config.prefix}"
    log.info(
        "uploading %d files to %s%s",
        len(files),
        where,
        f" at {config.endpoint_url}" if config.endpoint_url else "",
    )
    for number, path in enumerate(files):
        try:
            local = _LocalFile(
                path, (shown_as or directory) / path.name, path.stat().st_size, file_sha256(path)
            )
            sent = _upload_with_retries(client, transfer, config, local, sleep)
        except UploadError as exc:
            _report_stopped(config, summary, files[number:])
            if summary.uploaded:
                raise UploadIncomplete(str(exc)) from None
            raise
        except BaseException:
            _report_stopped(config, summary, files[number:])
            raise
        if sent:
            summary.uploaded += 1
            summary.uploaded_bytes += local.size
        else:
            summary.skipped += 1
        summary.objects.append(
            UploadedObject(object_key(config, path.name), local.size, local.digest)
        )
    log.info(
        "upload to %s done: %d files uploaded (%d bytes), %d unchanged and skipped",
        where,
        summary.uploaded,
        summary.uploaded_bytes,
        summary.skipped,
    )
    return summary


def _report_stopped(config: S3Config, summary: UploadSummary, not_sent: Sequence[Path]) -> None:
    """Say which objects the stopped upload updated and which it did not, so an admin
    knows what S3 holds until the next run completes it."""
    where = f"s3://{config.bucket}/{config.prefix}"
    done = [o.key for o in summary.objects]
    log.warning(
        "upload to %s stopped: %d objects hold the new files (%d sent now, %d already there): %s",
        where,
        len(done),
        summary.uploaded,
        summary.skipped,
        " ".join(done) or "none",
    )
    log.warning(
        "upload to %s stopped: %d objects not updated (each keeps its previous version, if any): %s",
        where,
        len(not_sent),
        " ".join(object_key(config, path.name) for path in not_sent),
    )


def write_upload_marker(marker: Path, config: S3Config, summary: UploadSummary) -> None:
    """The split's done-marker, written (atomically) after the last object: where the
    objects went, then one ``key<TAB>size<TAB>sha256`` line per object."""
    endpoint = f" at {config.endpoint_url}" if config.endpoint_url else ""
    with atomic_file(marker) as handle:
        handle.write(f"# uploaded to s3://{config.bucket}/{config.prefix}{endpoint}\n")
        for uploaded in summary.objects:
            handle.write(f"{uploaded.key}\t{uploaded.size}\t{uploaded.sha256}\n")


@dataclass(frozen=True)
class _LocalFile:
    """A file to upload, as the upload compares and names it."""

    path: Path
    shown: Path  # as messages name it
    size: int
    digest: str  # SHA-256, hex


def _upload_with_retries(
    client: Any,
    transfer: Any,
    config: S3Config,
    local: _LocalFile,
    sleep: Callable[[float], None],
) -> bool:
    """True when uploaded, False when the object was already there."""
    path, shown, size, digest = local.path, local.shown, local.size, local.digest
    key = object_key(config, path.name)
    target = f"s3://{config.bucket}/{key}"
    for attempt in range(1, config.max_attempts + 1):
        try:
            if _is_unchanged(client, config.bucket, key, size, digest):
                log.debug("%s: unchanged at %s, skipped", path.name, target)
                return False
            client.upload_file(
                str(path),
                config.bucket,
                key,
                ExtraArgs={"Metadata": {SHA256_METADATA: digest}},
                Config=transfer,
            )
            log.debug("%s: uploaded to %s (%d bytes)", path.name, target, size)
            return True
        except Exception as exc:  # noqa: BLE001 - classified below; unknown errors are permanent
            reason = _describe(exc, config)
            if not _is_transient(exc):
                raise UploadError(f"upload of {shown} to {target} failed: {reason}") from None
            if attempt == config.max_attempts:
                raise UploadError(
                    f"upload of {shown} to {target} failed after {attempt} tries: {reason}"
                ) from None
            delay = min(config.backoff_max, config.backoff_base * 2 ** (attempt - 1))
            log.warning(
                "%s: try %d of %d failed (%s); retrying in %.3g s",
                path.name,
                attempt,
                config.max_attempts,
                reason,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _is_unchanged(client: Any, bucket: str, key: str, size: int, digest: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _status(exc) == 404:
            return False  # no such object (or no such bucket: the upload says which)
        raise
    return bool(
        head.get("ContentLength") == size
        and head.get("Metadata", {}).get(SHA256_METADATA) == digest
    )


# ------------------------------------------------------------------ error triage


def _root_cause(exc: BaseException) -> BaseException:
    """boto3 wraps a failed upload's ClientError in S3UploadFailedError."""
    from boto3.exceptions import S3UploadFailedError

    seen = 0
    while isinstance(exc, S3UploadFailedError) and seen < 5:
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
        seen += 1
    return exc


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def _is_transient(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    cause = _root_cause(exc)
    if isinstance(cause, BotoConnectionError | HTTPClientError | ConnectionError | TimeoutError):
        return True
    if isinstance(cause, ClientError):
        status = _status(cause) or 0
        return status >= 500 or status == 429 or _code(cause) in _TRANSIENT_CODES
    return False


def _describe(exc: BaseException, config: S3Config) -> str:
    """One line for the admin; names the bucket or the credentials problem plainly."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    cause = _root_cause(exc)
    if isinstance(cause, NoCredentialsError):
        return "no S3 credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials)"
    if isinstance(cause, ClientError):
        code = _code(cause)
        if code == "NoSuchBucket":
            endpoint = config.endpoint_url or "the default AWS endpoint"
            return f"bucket {config.bucket!r} does not exist at {endpoint}"
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return f"access denied ({code}): check the S3 credentials and the bucket's policy"
        status = _status(cause)
        message = (
            cause.response.get("Error", {}).get("Message", "")
            if isinstance(cause.response, dict)
            else ""
        )
        return f"HTTP {status} {code}{': ' + message if message else ''}".strip()
    text = str(cause).splitlines()[0] if str(cause) else ""
    described = f"{type(cause).__name__}: {text}" if text else type(cause).__name__
    if isinstance(cause, ReadTimeoutError):  # a server that accepted and fell silent
        described += f" (no answer within {config.read_timeout:g} s, [s3] read_timeout)"
    elif isinstance(cause, ConnectTimeoutError):
        described += f" (no connection within {config.connect_timeout:g} s, [s3] connect_timeout)"
    return described
