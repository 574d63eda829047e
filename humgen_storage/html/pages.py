"""The pages, built from plain data (``data.SiteData``): pure, one string per file.

Every name from the directory or the files is escaped (``html.escape``); sizes are in
human units with the exact bytes in the ``title`` attribute (shown on hover).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from html import escape

from humgen_storage.changes.compute import BYTES, Delta, Ranking, VolumeChanges
from humgen_storage.changes.text import PLURALS, cell_name, signed, signed_size
from humgen_storage.html.data import Group, GroupKey, SiteData
from humgen_storage.html.style import STYLE
from humgen_storage.html.svg import Bar, bar_chart
from humgen_storage.units import human_size

# Most urgent first; a status the forecast does not know goes last.
RISK_ORDER = ("full", "critical", "warning", "ok", "shrinking", "not enough history", "unlimited")
NO_PI = "(no PI)"
MEMBERS_SHOWN = 50
DIRECTORIES_SHOWN = 20


def slug(name: str) -> str:
    """A file-name part for any name: letters, digits, ``-`` and ``_`` kept, every other
    character as ``.XX`` hex (so two names never share a file)."""
    return re.sub(r"[^A-Za-z0-9_-]", lambda m: "".join(f".{b:02x}" for b in m[0].encode()), name)


def group_file(group: Group | GroupKey) -> str:
    volume, name = (group.volume, group.name) if isinstance(group, Group) else group
    return f"group-{slug(volume)}-{slug(name)}.html"


def pi_file(pi: str | None) -> str:
    return f"pi-{slug(pi)}.html" if pi else "pi-.none.html"


def size_cell(size: int | None, css: str = "bytes") -> str:
    if size is None:
        return '<td class="none">-</td>'
    return f'<td class="{css}" title="{size} bytes">{escape(human_size(size))}</td>'


def shown_bytes(size: int) -> str:
    return f"{human_size(size)} ({size} bytes)"


def shown_files(count: int) -> str:
    return f"{count} files"


def risk(data: SiteData, group: Group) -> tuple[int, float, float]:
    forecast = data.forecasts.get((group.volume, group.name, "bytes"))
    status = forecast.status if forecast else "unknown"
    rank = RISK_ORDER.index(status) if status in RISK_ORDER else len(RISK_ORDER)
    days = forecast.days if forecast and forecast.days is not None else float("inf")
    share = group.used / group.quota if group.quota else 0.0
    return (rank, days, -share)


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f'<body><p class="nav"><a href="index.html">overview</a></p>{body}</body></html>\n'
    )


def _forecast_cells(data: SiteData, group: Group) -> str:
    forecast = data.forecasts.get((group.volume, group.name, "bytes"))
    if forecast is None:
        return '<td class="none">-</td><td class="none">-</td>'
    days = "-" if forecast.days is None else f"{forecast.days:.0f}"
    return (
        f'<td class="status {escape(slug(forecast.status))}">{escape(forecast.status)}</td>'
        f'<td class="days">{days}</td>'
    )


def group_rows(data: SiteData, groups: Sequence[Group]) -> str:
    rows = []
    for g in groups:
        share = f"{g.used / g.quota:.0%}" if g.quota else "-"
        pi = f'<a href="{pi_file(g.pi)}">{escape(g.pi)}</a>' if g.pi else "-"
        days = "-" if g.last_modified_days is None else f"{g.last_modified_days}"
        rows.append(
            f'<tr><td><a href="{group_file(g)}">{escape(g.name)}</a></td>'
            f"<td>{escape(g.volume)}</td><td>{pi}</td>{size_cell(g.used, 'used')}"
            f"{size_cell(g.quota, 'quota')}<td>{share}</td>{_forecast_cells(data, g)}"
            f"<td>{days}</td></tr>"
        )
    return (
        "<table><tr><th>group</th><th>volume</th><th>PI</th><th>used</th><th>quota</th>"
        "<th>used/quota</th><th>forecast</th><th>days to full</th>"
        "<th>last modified (days)</th></tr>" + "".join(rows) + "</table>"
    )


def bars(groups: Sequence[Group]) -> list[Bar]:
    return [
        Bar(
            g.name,
            g.used,
            g.quota,
            f"{g.name}: {shown_bytes(g.used)}"
            + (f" of {shown_bytes(g.quota)}" if g.quota else ", no quota"),
            group_file(g),
        )
        for g in groups
    ]


def overview(data: SiteData) -> str:
    by_volume: dict[str, list[Group]] = defaultdict(list)
    for group in sorted(data.groups, key=lambda g: (risk(data, g), g.name)):
        by_volume[group.volume].append(group)
    since = f" (changes since {data.since})" if data.since else ""
    body = [f"<h1>Lustre usage on {data.day}{since}</h1>"]
    for volume in sorted(by_volume):
        groups = by_volume[volume]
        body.append(f"<h2>{escape(volume)}</h2>")
        body.append(bar_chart(f"{volume}: used against quota per group", bars(groups)))
        body.append(group_rows(data, groups))
    body.append(changes_section(data.changes.volumes if data.changes else []))
    return page(f"Lustre usage {data.day}", "".join(body))


def changes_section(
    volumes: Iterable[VolumeChanges], only: GroupKey | None = None, projects: Iterable[str] = ()
) -> str:
    """What changed, as tables each ending with its conservation line; ``only`` a group's
    cells (its users, and the directories below its ``projects``), with the volume's
    totals."""
    prefixes = tuple(f"{project}/" for project in projects)
    parts = ['<section class="changes"><h2>What changed</h2>']
    for volume in volumes:
        if only is not None and volume.volume != only[0]:
            continue
        parts.append(f"<h3>{escape(volume.volume)}</h3>")
        for kind in volume.kinds:
            for ranking in kind.rankings:
                listed = [d for d in ranking.listed if only is None or _concerns(d, only, prefixes)]
                parts.append(_ranking_table(kind.kind, ranking.measure, listed, ranking))
            for what, all_keys in (("new", kind.new), ("vanished", kind.vanished)):
                keys = [
                    k
                    for k in all_keys
                    if only is None or _concerns(Delta(k, None, None), only, prefixes)
                ]
                if keys:
                    names = ", ".join(escape(cell_name(k)) for k in keys[:10])
                    parts.append(f"<p>{what} {PLURALS[kind.kind]} ({len(keys)}): {names}</p>")
    parts.append("</section>")
    return "".join(parts)


def _concerns(delta: Delta, group: GroupKey, prefixes: tuple[str, ...]) -> bool:
    if len(delta.key) > 1 or not delta.key[0].count("/"):
        return delta.key[0] == group[1]  # a group, or a group's user
    return f"{delta.key[0]}/".startswith(prefixes)


def _ranking_table(kind: str, measure: str, listed: Sequence[Delta], ranking: Ranking) -> str:
    def cell(change: int) -> str:
        if measure == BYTES:
            return f'<td class="delta" title="{signed(change)} bytes">{escape(signed_size(change))}</td>'
        return f'<td class="delta">{signed(change)}</td>'

    rows = "".join(
        f"<tr><td>{escape(cell_name(d.key))}</td>{cell(d.change(measure))}"
        f"<td>{'' if d.state == 'changed' else d.state}</td></tr>"
        for d in listed
    )
    # Elsewhere is what the rows shown leave out (on a group's page, other groups' too),
    # so the line adds up for what the reader sees.
    change = ranking.change
    elsewhere = change - sum(d.change(measure) for d in listed)
    terms = " ".join(signed(d.change(measure)) for d in listed) or "0"
    return (
        f'<table class="ranking"><caption>{PLURALS[kind]} by {measure}</caption>'
        f"<tr><th>{kind}</th><th>change</th><th></th></tr>{rows}"
        f"<tr><td>elsewhere</td>{cell(elsewhere)}<td></td></tr>"
        f'<tr class="total"><td>volume</td>{cell(change)}<td></td></tr></table>'
        f'<p class="conservation">{terms} + elsewhere {signed(elsewhere)} = {signed(change)} {measure}</p>'
    )
