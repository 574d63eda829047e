"""``changes`` as plain text: one block per volume and kind, each ending with its
conservation line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from humgen_storage.changes.compute import BYTES, KindChanges, Ranking, VolumeChanges
from humgen_storage.units import human_size

# New or vanished names printed per kind; the rest are counted.
NAMES_SHOWN = 10


def signed_size(change: int) -> str:
    """``+1.5 GiB`` / ``-10`` / ``0``: a human size with its sign."""
    if change == 0:
        return "0"
    return ("+" if change > 0 else "-") + human_size(abs(change))


def signed(change: int) -> str:
    return f"{change:+d}" if change else "0"


def cell_name(key: tuple[str, ...]) -> str:
    return " ".join(key) if len(key) > 1 else key[0]


PLURALS = {"group": "groups", "user": "users", "directory": "directories"}


def ranking_lines(kind: str, ranking: Ranking) -> Iterator[str]:
    unit = "bytes" if ranking.measure == BYTES else "files"
    human = signed_size if ranking.measure == BYTES else signed
    yield (
        f"  {PLURALS[kind]} by {unit}: {human(ranking.change)} ({signed(ranking.change)} {unit};"
        f" {ranking.total_before} -> {ranking.total_after}); the {len(ranking.listed)} listed"
        f" explain {ranking.explained:.1%} of the movement"
    )
    for delta in ranking.listed:
        change = delta.change(ranking.measure)
        state = "" if delta.state == "changed" else f" ({delta.state})"
        yield f"    {human(change):>12}  {signed(change):>18}  {cell_name(delta.key)}{state}"
    yield f"    {human(ranking.elsewhere):>12}  {signed(ranking.elsewhere):>18}  elsewhere"
    listed = " ".join(signed(d.change(ranking.measure)) for d in ranking.listed) or "0"
    yield (
        f"    conservation: {listed} + elsewhere {signed(ranking.elsewhere)}"
        f" = {signed(ranking.change)} {unit}"
    )


def names_line(what: str, kind: str, keys: Sequence[tuple[str, ...]]) -> Iterator[str]:
    if keys:
        shown = ", ".join(cell_name(key) for key in keys[:NAMES_SHOWN])
        more = f" and {len(keys) - NAMES_SHOWN} more" if len(keys) > NAMES_SHOWN else ""
        yield f"  {what} {PLURALS[kind]} ({len(keys)}): {shown}{more}"


def kind_lines(kind: KindChanges) -> Iterator[str]:
    for ranking in kind.rankings:
        yield from ranking_lines(kind.kind, ranking)
    yield from names_line("new", kind.kind, kind.new)
    yield from names_line("vanished", kind.kind, kind.vanished)


def render(changes: Sequence[VolumeChanges], since: dt.date, day: dt.date) -> str:
    lines = [f"What changed from {since} to {day} ({(day - since).days} days)"]
    for volume in changes:
        lines.append("")
        lines.append(volume.volume)
        for kind in volume.kinds:
            lines.extend(kind_lines(kind))
    return "\n".join(lines) + "\n"
