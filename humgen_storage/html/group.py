"""A group's page (history and forecast charts, members, directories, archived
directories, what changed) and a PI's page: pure, from ``data.SiteData``."""

from __future__ import annotations

from html import escape

from humgen_storage.html.data import Forecast, Group, SiteData
from humgen_storage.html.pages import (
    DIRECTORIES_SHOWN,
    MEMBERS_SHOWN,
    NO_PI,
    bars,
    changes_section,
    group_rows,
    page,
    pi_file,
    risk,
    shown_bytes,
    shown_files,
    size_cell,
)
from humgen_storage.html.svg import Ahead, bar_chart, history_chart

MEASURES = (("bytes", "bytes_history", shown_bytes), ("inodes", "inode_history", shown_files))


def _ahead(forecast: Forecast | None) -> Ahead | None:
    if forecast is None or forecast.days is None or forecast.days <= 0:
        return None
    return Ahead(forecast.days, forecast.days_low, forecast.days_high)


def _forecast_text(measure: str, forecast: Forecast | None) -> str:
    if forecast is None:
        return ""
    text = f"{measure}: {forecast.status}"
    if forecast.days is not None:
        low = "?" if forecast.days_low is None else f"{forecast.days_low:.0f}"
        high = "?" if forecast.days_high is None else f"{forecast.days_high:.0f}"
        text += f", full in {forecast.days:.0f} days (80 % interval {low} to {high} days)"
    return f'<p class="forecast">{escape(text)}</p>'


def _charts(data: SiteData, group: Group) -> str:
    parts = []
    key = (group.volume, group.name)
    for measure, attribute, shown in MEASURES:
        points = getattr(data, attribute).get(key)
        if not points:
            continue
        forecast = data.forecasts.get((group.volume, group.name, measure))
        parts.append(f"<h2>{measure.capitalize()}</h2>")
        parts.append(
            history_chart(
                f"{group.name} on {group.volume}: {measure} per night",
                [(p.day, p.used) for p in points],
                points[-1].limit,
                _ahead(forecast),
                shown,
            )
        )
        parts.append(_forecast_text(measure, forecast))
    return "".join(parts)


def _members(data: SiteData, group: Group) -> str:
    members = sorted(
        data.members.get((group.volume, group.name), []), key=lambda m: (-m.used, m.user)
    )
    if not members:
        return ""
    rows = "".join(
        f'<tr><td>{escape(m.user)}</td>{size_cell(m.used)}<td class="files">{m.files}</td>'
        f"<td>{'-' if m.last_modified_days is None else m.last_modified_days}</td></tr>"
        for m in members[:MEMBERS_SHOWN]
    )
    return (
        f'<h2>Members ({len(members)})</h2><table class="members"><tr><th>user</th><th>used</th>'
        f"<th>files</th><th>last modified (days)</th></tr>{rows}</table>"
    )


def _directories(data: SiteData, group: Group) -> str:
    rows = sorted(
        data.directories.get((group.volume, group.name), []),
        key=lambda d: (-d.total, d.project, d.directory),
    )
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{escape(d.project)}</td><td>{escape(d.directory)}</td>{size_cell(d.total)}"
        f'<td class="files">{d.files}</td></tr>'
        for d in rows[:DIRECTORIES_SHOWN]
    )
    return (
        '<h2>Largest project directories</h2><table class="directories"><tr><th>project</th>'
        f"<th>directory</th><th>total</th><th>files</th></tr>{body}</table>"
    )


def group_page(data: SiteData, group: Group) -> str:
    pi = f'<a href="{pi_file(group.pi)}">{escape(group.pi)}</a>' if group.pi else NO_PI
    archived = (
        f'<h2>Archived directories</h2><p class="archived">{escape(group.archived)}</p>'
        if group.archived
        else ""
    )
    body = (
        f"<h1>{escape(group.name)} on {escape(group.volume)}, {data.day}</h1><p>PI: {pi}</p>"
        + group_rows(data, [group])
        + _charts(data, group)
        + _members(data, group)
        + _directories(data, group)
        + archived
        + changes_section(
            data.changes.volumes if data.changes else [],
            (group.volume, group.name),
            {d.project for d in data.directories.get((group.volume, group.name), [])},
        )
    )
    return page(f"{group.name} on {group.volume}", body)


def pi_page(data: SiteData, pi: str | None) -> str:
    groups = sorted(
        (g for g in data.groups if g.pi == pi), key=lambda g: (risk(data, g), g.volume, g.name)
    )
    title = f"PI {pi}" if pi else "Groups without a PI"
    body = (
        f"<h1>{escape(title)}, {data.day}</h1>"
        + bar_chart(f"{title}: used against quota per group", bars(groups))
        + group_rows(data, groups)
    )
    return page(title, body)
