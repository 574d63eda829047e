"""The parse functions of ``[feeds]`` and ``[notify]`` (load.py calls them)."""

from __future__ import annotations

import string

from humgen_storage.config import FeedsConfig, NotifyConfig
from humgen_storage.config.reader import SectionReader

# What notify can mail about: the forecast's statuses that mean "act".
NOTIFY_STATUSES = frozenset({"full", "critical", "warning"})


def _template(r: SectionReader, section: str, key: str, default: str, fields: set[str]) -> str:
    """A ``str.format`` template naming only ``fields``: checked now, not at 3 am."""
    value = r.text(section, key, default)
    try:
        named = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise r.error(section, key, f"not a template: {exc}") from None
    unknown = named - fields
    if unknown:
        raise r.error(
            section,
            key,
            f"unknown field {{{sorted(unknown)[0]}}}; the fields are "
            + " ".join(f"{{{f}}}" for f in sorted(fields)),
        )
    return value


def parse_feeds(r: SectionReader) -> FeedsConfig:
    d = FeedsConfig
    return FeedsConfig(
        xdmod_dir=r.path("feeds", "xdmod_dir"),
        xdmod_resource=_template(r, "feeds", "xdmod_resource", d.xdmod_resource, {"volume"}),
        ondemand_file=r.path("feeds", "ondemand_file"),
        ondemand_path=_template(r, "feeds", "ondemand_path", d.ondemand_path, {"volume", "group"}),
        prometheus_usage=r.path("feeds", "prometheus_usage"),
    )


def parse_notify(r: SectionReader) -> NotifyConfig:
    d = NotifyConfig
    share = r.number("notify", "member_share", d.member_share, minimum=0.0)
    if share > 1:
        raise r.error("notify", "member_share", "must be a share between 0 and 1")
    statuses = tuple((r.raw("notify", "statuses") or " ".join(d.statuses)).split())
    wrong = [s for s in statuses if s not in NOTIFY_STATUSES]
    if wrong:
        raise r.error(
            "notify",
            "statuses",
            f"{wrong[0]!r} is not one of {' '.join(sorted(NOTIFY_STATUSES))}",
        )
    return NotifyConfig(
        smtp_host=r.text("notify", "smtp_host", d.smtp_host),
        smtp_port=r.number("notify", "smtp_port", d.smtp_port, minimum=1),
        smtp_timeout=r.number("notify", "smtp_timeout", d.smtp_timeout, minimum=0.1),
        starttls=r.flag("notify", "starttls", d.starttls),
        sender=r.text("notify", "sender", d.sender),
        recipient=_template(r, "notify", "recipient", d.recipient, {"pi"}),
        member_share=share,
        member_recipient=_template(r, "notify", "member_recipient", d.member_recipient, {"user"}),
        statuses=statuses,
        opt_out=frozenset((r.raw("notify", "opt_out") or "").split()),
        largest=r.number("notify", "largest", d.largest, minimum=1),
    )
