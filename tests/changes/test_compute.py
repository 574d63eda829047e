"""The rankings and the conservation line, against hand-computed deltas."""

from __future__ import annotations

import random

from humgen_storage.changes.compute import (
    BYTES,
    FILES,
    compare,
    leaf_directories,
)


def test_ranking_new_vanished_and_conservation() -> None:
    before = {("a",): (100, 10), ("b",): (50, 5), ("c",): (7, 1), ("gone",): (30, 3)}
    after = {("a",): (160, 12), ("b",): (45, 5), ("c",): (7, 1), ("new",): (20, 4)}
    changes = compare("group", before, after, top=2)
    ranking = changes.ranking(BYTES)
    assert ranking is not None
    # a +60, gone -30, new +20, b -5, c 0: the two largest listed.
    assert [(d.key, d.change(BYTES), d.state) for d in ranking.listed] == [
        (("a",), 60, "changed"),
        (("gone",), -30, "vanished"),
    ]
    assert (ranking.total_before, ranking.total_after, ranking.change) == (187, 232, 45)
    # new +20 and b -5 are elsewhere: 60 - 30 + 15 = 45.
    assert ranking.elsewhere == 15
    assert sum(d.change(BYTES) for d in ranking.listed) + ranking.elsewhere == ranking.change
    assert ranking.moved == 60 + 30 + 20 + 5
    assert ranking.explained == 90 / 115
    files = changes.ranking(FILES)
    assert files is not None
    assert [(d.key, d.change(FILES)) for d in files.listed] == [(("new",), 4), (("gone",), -3)]
    # 19 -> 22 files; a's +2 is elsewhere: 4 - 3 + 2 = 3.
    assert (files.change, files.elsewhere, files.moved) == (3, 2, 9)
    assert changes.new == (("new",),) and changes.vanished == (("gone",),)


def test_a_whole_larger_than_its_cells() -> None:
    before = {("p/x",): (10, 1)}
    after = {("p/x",): (40, 2)}
    totals = {BYTES: (100, 140), FILES: (5, 5)}
    ranking = compare("directory", before, after, totals).ranking(BYTES)
    assert ranking is not None
    assert (ranking.change, ranking.elsewhere, ranking.moved) == (40, 10, 40)
    assert ranking.explained == 30 / 40


def test_groups_without_files_count_bytes_only() -> None:
    changes = compare("group", {("a",): (1, None)}, {("a",): (2, None)})
    assert [r.measure for r in changes.rankings] == [BYTES]


def test_leaf_directories_split_on_whole_components() -> None:
    dirs = ["p", "p/a", "p/a/b", "p/ab", "q"]
    assert leaf_directories(dirs) == {"p/a/b", "p/ab", "q"}


def test_ten_cells_explain_a_change_concentrated_in_ten_places() -> None:
    """Generated nights: 500 groups drifting by up to 1 GiB each, then up to ten planted
    events of 1-50 TiB (growth, deletion, a new group, a vanished one)."""
    rng = random.Random(19)
    tib, gib = 2**40, 2**30
    for trial in range(50):
        before = {(f"g{i}",): (rng.randrange(100 * tib), rng.randrange(10**6)) for i in range(500)}
        after = {
            key: (max(0, size + rng.randrange(-gib, gib)), files + rng.randrange(-50, 50))
            for key, (size, files) in before.items()
        }
        events = rng.randrange(1, 11)
        for n, key in enumerate(rng.sample(sorted(before), events)):
            size = rng.randrange(tib, 50 * tib)
            if n == 0:
                after[(f"new{trial}",)] = (size, 10**5)
            elif n == 1:
                del after[key]
            else:
                old = after[key]
                after[key] = (old[0] + size if n % 2 else max(0, old[0] - size), old[1])
        ranking = compare("group", before, after).ranking(BYTES)
        assert ranking is not None
        assert ranking.explained >= 0.95, (trial, events, ranking.explained)
        assert sum(d.change(BYTES) for d in ranking.listed) + ranking.elsewhere == ranking.change
