"""The day's mails, composed from plain rows: pure, no I/O.

One mail per PI (``lustre_usage.PI``), listing each of their groups with a forecast
status in ``[notify] statuses``: the measure (bytes, files), used and limit (exact
and human), the days until full, the group's largest members and directories. With
``member_share`` a member using at least that share of a listed group's bytes gets
one mail of their own listing those groups. One address gets at most one mail: a
member whose address is already a PI's is left to the PI's mail.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from humgen_storage.config import NotifyConfig
from humgen_storage.feeds.rows import Directory, GroupForecast, GroupUsage, MemberUsage
from humgen_storage.units import human_size


@dataclass(frozen=True)
class GroupNotice:
    """One group of a mail: its usage, its bad forecasts, its largest users and folders."""

    usage: GroupUsage
    forecasts: tuple[GroupForecast, ...]
    members: tuple[MemberUsage, ...]
    directories: tuple[Directory, ...]
    # Members at or over ``member_share`` of the group's bytes (all of them, not only
    # the largest listed).
    sharers: tuple[MemberUsage, ...] = ()


@dataclass
class Mail:
    recipient: str  # the address
    addressee: str  # the PI or the user, as named in the tables
    groups: list[GroupNotice] = field(default_factory=list)


def _amount(measure: str, value: int) -> str:
    if measure == "bytes":
        return f"{value} bytes ({human_size(value)})"
    return f"{value} files"


def forecast_line(f: GroupForecast) -> str:
    limit = f"{_amount(f.measure, f.limit)}" if f.limit else "no limit"
    share = f" ({100 * f.used / f.limit:.0f} %)" if f.limit else ""
    if f.status == "full":
        when = "full now"
    elif f.days_until_full is not None:
        when = f"full in about {f.days_until_full:g} days"
    else:
        when = "no date forecast"
    return f"{f.status}: {f.measure} {_amount(f.measure, f.used)} used of {limit}{share}, {when}"


def group_lines(notice: GroupNotice) -> list[str]:
    usage = notice.usage
    lines = [f"{usage.group} on {usage.volume}"]
    lines += [f"  {forecast_line(f)}" for f in notice.forecasts]
    if notice.members:
        lines.append("  largest members:")
        lines += [f"    {m.user}: {_amount('bytes', m.used_bytes)}" for m in notice.members]
    if notice.directories:
        lines.append("  largest directories:")
        lines += [f"    {d.directory}: {d.total_tib:g} TiB" for d in notice.directories]
    return lines


def subject(mail: Mail) -> str:
    names = ", ".join(f"{g.usage.group} on {g.usage.volume}" for g in mail.groups)
    return f"Lustre quota: {len(mail.groups)} group(s) full or filling: {names}"


def text_body(mail: Mail, day: str) -> str:
    lines = [
        f"Dear {mail.addressee},",
        "",
        f"The storage accounting of {day} finds these groups' quotas full or filling:",
        "",
    ]
    for notice in mail.groups:
        lines += [*group_lines(notice), ""]
    lines.append("Delete or archive what is no longer needed, or ask for a larger quota.")
    return "\n".join(lines) + "\n"


def html_body(mail: Mail, day: str) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(n.usage.group)}</td><td>{html.escape(n.usage.volume)}</td>"
        f"<td>{html.escape(forecast_line(f))}</td></tr>"
        for n in mail.groups
        for f in n.forecasts
    )
    return (
        f"<p>Dear {html.escape(mail.addressee)},</p>"
        f"<p>The storage accounting of {html.escape(day)} finds these groups' quotas full"
        ' or filling:</p><table border="1"><tr><th>group</th><th>volume</th>'
        f"<th>forecast</th></tr>{rows}</table><pre>"
        + html.escape("\n".join(line for n in mail.groups for line in group_lines(n)))
        + "</pre>"
    )


def email_message(mail: Mail, day: str, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = subject(mail)
    message.set_content(text_body(mail, day))
    message.add_alternative(html_body(mail, day), subtype="html")
    return message


def notices(
    groups: Sequence[GroupUsage],
    forecasts: Sequence[GroupForecast],
    members: Sequence[MemberUsage],
    directories: Sequence[Directory],
    settings: NotifyConfig,
) -> list[GroupNotice]:
    """The groups with a forecast status worth a mail, in the tables' order."""
    bad: dict[tuple[str, str], list[GroupForecast]] = {}
    for f in forecasts:
        if f.status in settings.statuses:
            bad.setdefault((f.volume, f.group), []).append(f)
    result = []
    for usage in groups:
        key = (usage.volume, usage.group)
        if key not in bad:
            continue
        own = [m for m in members if (m.volume, m.group) == key]
        folders = [
            d
            for d in directories
            if d.group == usage.group and d.directory.startswith(f"/lustre/{usage.volume}/")
        ]
        result.append(
            GroupNotice(
                usage,
                tuple(bad[key]),
                tuple(own[: settings.largest]),
                tuple(folders[: settings.largest]),
                tuple(m for m in own if _over_share(m, usage, settings.member_share)),
            )
        )
    return result


def _over_share(member: MemberUsage, usage: GroupUsage, share: float) -> bool:
    return share > 0 and member.used_bytes >= share * usage.used_bytes


def mails(group_notices: Sequence[GroupNotice], settings: NotifyConfig) -> list[Mail]:
    """One mail per PI, then one per member over ``member_share``; opt-outs left out."""
    by_address: dict[str, Mail] = {}
    for notice in group_notices:
        pi = notice.usage.pi
        if pi is None:
            continue
        address = settings.recipient.format(pi=pi)
        if pi in settings.opt_out or address in settings.opt_out:
            continue
        by_address.setdefault(address, Mail(address, pi)).groups.append(notice)
    pi_addresses = set(by_address)
    for notice in group_notices:
        for member in notice.sharers:
            address = settings.member_recipient.format(user=member.user)
            opted_out = member.user in settings.opt_out or address in settings.opt_out
            if opted_out or address in pi_addresses:
                continue
            by_address.setdefault(address, Mail(address, member.user)).groups.append(notice)
    return list(by_address.values())
