"""The compiled kernel's placer (humgen_storage/_kernel_inspect.c) against the Python
placer: the same rows, record counts and complaints on generated volumes in both
formats, for every kind of root and file class the kernel takes and those it leaves
to Python, and for the paths it hands back undecoded. Also the two analyses that
decide when it is used (roots by component, classes as literals), checked against
the regular expressions they stand for, and that its memory follows the rows.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from humgen_storage.inspect.aggregate import ProjectInspector
from humgen_storage.inspect.classes import CONTAINS, ENDS, STARTS, FileClassifier, class_literals
from humgen_storage.inspect.roots import compile_root, component_patterns
from humgen_storage.mpistat import kernel
from humgen_storage.mpistat.paths import go_quote
from humgen_storage.mpistat.patterns import Format, clean_block
from humgen_storage.mpistat.writer import Record
from humgen_storage.run.aggregate import fold_raw, valid_runs
from tests.helpers import on_kernel_path
from tests.inspect.volumes import (
    BENCH_ROOTS,
    CLASSES,
    REF,
    VOLUME,
    lines_of,
    volume,
)

# Literals matched at the start, anywhere and as the whole name.
ODD_CLASSES = (("WHOLE", r"^bam$"), ("START", r"^x"), ("ANY", r"tmp|\.b\$m"), *CLASSES)
ROOT_SETS = {
    "bench": BENCH_ROOTS,
    "regex": ("lustre/scratch11[0-9]/humgen/proj[a-z]*", "lustre/scratch118/hum+gen"),
    # The first match wins, whatever the number of components of each root.
    "nested": ("lustre/scratch118/humgen/hgi/projects", "lustre/scratch118/humgen"),
    "volume": ("lustre/scratch118",),
    "no prefix filter": ("[l]ustre/scratch118/humgen/projects",),
}


def blocks(lines: bytes, count: int) -> list[tuple[int, bytes]]:
    """``lines`` cut into about ``count`` blocks of whole lines, with their first line."""
    cut = lines.splitlines(keepends=True)
    size = max(1, len(cut) // count)
    return [(1 + at, b"".join(cut[at : at + size])) for at in range(0, len(cut), size)]


def inspect_lines(lines: bytes, fmt: Format, **options: Any) -> tuple[Any, ...]:
    """The inspector's whole result on the active path, and whether the kernel placed."""
    options.setdefault("file_classes", CLASSES)
    inspector = ProjectInspector(reference=REF, path_format=fmt, **options)
    for first_line, block in blocks(lines, 4):
        inspector.add_block(fmt, block, first_line)
    undecodable = inspector.undecodable
    result = (list(inspector.finish()), inspector.records, undecodable.count, undecodable.examples)
    return result, inspector._compiled is not None


def both(lines: bytes, fmt: Format, placed_by_kernel: bool = True, **options: Any) -> Any:
    """The inspector's result, the same on both paths; ``placed_by_kernel``: whether the
    compiled kernel's placer (rather than the Python one) takes the compiled path."""
    with on_kernel_path(kernel.COMPILED):
        compiled, by_kernel = inspect_lines(lines, fmt, **options)
    with on_kernel_path(kernel.NUMPY):
        python, by_python = inspect_lines(lines, fmt, **options)
    assert compiled == python
    assert (by_kernel, by_python) == (placed_by_kernel, False)
    return compiled


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
@pytest.mark.parametrize("roots", ROOT_SETS.values(), ids=ROOT_SETS.keys())
def test_generated_volumes_at_every_depth(fmt: Format, roots: tuple[str, ...]) -> None:
    lines = lines_of(volume(seed=len(roots[0])), fmt)
    for depth in range(5):
        rows, records, undecodable, _ = both(lines, fmt, roots=roots, depth=depth)
        assert records > 100 and rows and undecodable == 0


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
@pytest.mark.parametrize(
    "only_under",
    [(b"projects",), (b"projects", b"p1"), (b"projects", b"p2", b"users", b"al", b"deep")],
)
def test_path_queries(fmt: Format, only_under: tuple[bytes, ...]) -> None:
    """Deeper than the cut too: the kernel waits for the components of the query."""
    deep = VOLUME + b"/humgen/projects/p2/users/al/deep"
    extra = [Record(path=deep + b"/x", type="d"), Record(path=deep + b"/x/a.bam", size=3)]
    lines = lines_of([*volume(seed=7), *extra], fmt)
    rows = both(lines, fmt, roots=BENCH_ROOTS, depth=3, only_under=only_under)[0]
    assert rows and all(row.short_path[:1] == (b"projects",) for row in rows)


def test_file_classes_at_the_start_anywhere_and_whole() -> None:
    lines = lines_of(volume(seed=3), Format.BASE64)
    rows = both(lines, Format.BASE64, roots=BENCH_ROOTS, file_classes=ODD_CLASSES)[0]
    assert all(rows[0].class_bytes[name] for name in ("WHOLE", "START", "ANY", "BAM"))


@pytest.mark.parametrize(
    ("roots", "classes"),
    [
        (("lustre/scratch118/humgen/(projects|teams)",), CLASSES),  # a group: not by component
        (("lustre/scratch118/humgen/.*",), CLASSES),  # may match any number of components
        (BENCH_ROOTS, (("BAM", r"\.b.m$"),)),  # not a choice of literals
    ],
)
def test_roots_and_classes_the_kernel_leaves_to_python(
    roots: tuple[str, ...], classes: tuple[tuple[str, str], ...]
) -> None:
    lines = lines_of(volume(seed=5), Format.BASE64)
    both(lines, Format.BASE64, placed_by_kernel=False, roots=roots, file_classes=classes)


TYPES = (("f", 1), ("f", 0), ("f", 2), ("d", 2), ("l", 1))  # (type, nlink)
UNDER = VOLUME + b"/humgen/projects/p1/"  # a multiple of 3 bytes: its base64 ends whole
BAD_BASE64 = (
    binascii.b2a_base64(UNDER, newline=False) + b"QQ",  # not whole groups
    binascii.b2a_base64(UNDER, newline=False) + b"QR==",  # padding bits set
    binascii.b2a_base64(UNDER, newline=False) + b"AAAA",  # NUL bytes
    binascii.b2a_base64(UNDER + b"x", newline=False)[:-1] + b"*",  # not the alphabet
    binascii.b2a_base64(UNDER, newline=False) + b"YQ=a",  # padding inside a group
)
QUOTED = go_quote(UNDER)[:-1]
BAD_QUOTED = (
    QUOTED + b'\\x00"',  # escapes to NUL
    QUOTED + b'\\u0000"',
    QUOTED + b'\\ud800"',  # a surrogate
    QUOTED + b'\\q"',  # no such escape
    QUOTED + b'a\0b"',  # a raw NUL
    QUOTED + b'a"b"',  # a quote inside
    QUOTED + b"a",  # no closing quote
    b'""',  # empty
    b"x" + QUOTED[1:] + b'a"',  # no opening quote
)


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_paths_the_kernel_does_not_decode_are_left_to_python(fmt: Format) -> None:
    """Handed lines that validation would have taken out, both paths skip and word
    (or take) them alike: the kernel leaves them to the Python placer."""
    good = [Record(path=UNDER + b"f.bam", size=5, type=kind, nlink=n) for kind, n in TYPES]
    lines = []
    for field in BAD_BASE64 if fmt is Format.BASE64 else BAD_QUOTED:
        for record in good:
            line = record.line(fmt)
            lines += [line, field + line[line.index(b"\t") :]]
    result = both(b"".join(lines), fmt, roots=BENCH_ROOTS)
    assert result[2] > 0  # some were undecodable


def folded(lines: bytes, fmt: Format) -> tuple[Any, ...]:
    """The inspector over ``lines`` as ``run.aggregate`` folds blocks: raw when it can."""
    inspector = ProjectInspector(BENCH_ROOTS, CLASSES, REF, fmt)
    raw = []
    for first_line, block in blocks(lines, 5):
        before = (inspector.records, inspector._links.waiting)
        raw.append(fold_raw(inspector, fmt, block, first_line) is not None)
        if not raw[-1]:  # nothing added (rows the block's records make again may be there)
            assert (inspector.records, inspector._links.waiting) == before
            valid, bad = clean_block(fmt, block, first_line)
            for run_first_line, run in valid_runs(valid, first_line, bad):
                inspector.add_block(fmt, run, run_first_line)
    return list(inspector.finish()), inspector.records, raw


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_raw_blocks_are_validated_as_they_are_placed(fmt: Format) -> None:
    """A clean block is validated and placed in one pass; one with a malformed line
    (or no final newline) adds nothing, and goes the usual way, with the same result."""
    cut = lines_of(volume(seed=13), fmt).splitlines(keepends=True)
    cut[len(cut) // 2] = cut[len(cut) // 2].replace(b"\t", b"\tx", 1)  # in the third block
    lines = b"".join(cut)[:-1]  # and the last block ends without a newline
    with on_kernel_path(kernel.COMPILED):
        compiled = folded(lines, fmt)
    with on_kernel_path(kernel.NUMPY):
        python = folded(lines, fmt)
    assert compiled[:2] == python[:2]
    assert compiled[2][0] and not compiled[2][-1] and compiled[2].count(False) == 2
    assert not any(python[2])


def test_memory_follows_the_rows_not_the_directories() -> None:
    """Thousands of directories below one row: the kernel keeps a few prefixes."""
    records = [Record(path=VOLUME + b"/humgen/projects/p1/seq", type="d")]
    for index in range(3000):
        directory = VOLUME + b"/humgen/projects/p1/seq/run%d/lane%d" % (index, index % 7)
        records += [Record(path=directory, type="d"), Record(path=directory + b"/a.bam")]
    with on_kernel_path(kernel.COMPILED):
        inspector = ProjectInspector(BENCH_ROOTS, CLASSES, REF, Format.BASE64)
        inspector.add_block(Format.BASE64, lines_of(records, Format.BASE64), 1)
        assert inspector._compiled is not None
        prefixes = inspector._compiled._kernel.prefix_count
    assert [b"/".join(row.short_path) for row in inspector.finish()] == [
        b"projects",
        b"projects/p1",
        b"projects/p1/seq",
    ]
    assert prefixes <= 10


def test_a_partial_sent_to_another_process_leaves_the_kernel_behind() -> None:
    import pickle

    lines = lines_of(volume(seed=11, records=300), Format.BASE64)
    with on_kernel_path(kernel.COMPILED):
        first = ProjectInspector(BENCH_ROOTS, CLASSES, REF, Format.BASE64)
        first.add_block(Format.BASE64, lines, 1)
        copy = pickle.loads(pickle.dumps(first))
        assert copy._compiled is None
        copy.add_block(Format.BASE64, lines, 10**6)  # the kernel is made again
        assert copy._compiled is not None
        first.merge(pickle.loads(pickle.dumps(first)))
        assert list(copy.finish()) == list(first.finish())


# -- the placer's own checks -------------------------------------------------------------


def placer(resolve: Any = lambda prefix, exact: (0, False)) -> Any:
    with on_kernel_path(kernel.COMPILED):
        compiled = kernel.compiled()
    assert compiled is not None
    return compiled.InspectPlacer(resolve, None, False, ())


def place(made: Any, records: Sequence[Record]) -> Any:
    block = lines_of(records, Format.BASE64)
    with on_kernel_path(kernel.COMPILED):
        separators = kernel.compiled().separators(block, False)  # type: ignore[union-attr]
    return made.place(block, separators)


def test_placer_checks_what_it_is_given() -> None:
    records = [Record(path=b"/a/b/c.bam")]
    files = np.frombuffer(place(placer(), records)[0], dtype=np.intp)
    assert files.tolist() == [0, 0, -1, 0, 0]
    block = lines_of(records, Format.BASE64)
    with pytest.raises(ValueError, match="separators"):
        placer().place(block, b"\0" * 8)
    bad = np.zeros(11, dtype=np.intp)
    with pytest.raises(ValueError, match="outside the block"):
        placer().place(block, bad)
    with pytest.raises(TypeError, match="tuple"):
        place(placer(lambda prefix, exact: 0), records)
    with pytest.raises(ValueError, match="resolve gave"):
        place(placer(lambda prefix, exact: (-7, False)), records)
    with pytest.raises(ZeroDivisionError):
        place(placer(lambda prefix, exact: (1 // 0, False)), records)


def test_placer_asks_about_each_prefix_once() -> None:
    asked: list[tuple[bytes, bool]] = []

    def resolve(prefix: bytes, exact: bool) -> tuple[int, bool]:
        asked.append((prefix, exact))
        return (-2 if prefix.count(b"/") < 2 and not exact else 5), False

    made = placer(resolve)
    records = [Record(path=b"/a/b/c/%d.bam" % i) for i in range(3)] + [Record(path=b"/a/x/y")]
    files = np.frombuffer(place(made, records)[0], dtype=np.intp).reshape(-1, 5)
    assert files[:, 1].tolist() == [5, 5, 5, 5]
    assert asked == [(b"/a", False), (b"/a/b", False), (b"/a/x", True)]
    place(made, records)
    assert len(asked) == 3 and made.prefix_count == 3


def test_placer_keeps_prefixes_apart_by_all_their_components() -> None:
    """A prefix is kept as the prefix one component shorter and its last component:
    the same last components under other parents, or the same bytes cut elsewhere, are
    other prefixes. Thousands of them, for the tables to grow."""
    rows: dict[bytes, int] = {}

    def resolve(prefix: bytes, exact: bool) -> tuple[int, bool]:
        # Every directory is its own row; every prefix needs one more component.
        return (rows.setdefault(prefix, len(rows)) if exact else -2), False

    made = placer(resolve)
    directories = [b"/a/b", b"/ab", b"/a/b/c", b"/ab/c", b"/a/bc", b"/b/a", b"/b", b"/a"]
    directories += [b"/d%d/e%d/x" % (i % 40, i) for i in range(3000)]
    records = [Record(path=directory + b"/f.bam") for directory in directories]
    for _ in range(2):  # the second time, from the tables alone
        files = np.frombuffer(place(made, records)[0], dtype=np.intp).reshape(-1, 5)
        assert files[:, 1].tolist() == [rows[directory] for directory in directories]
    assert len(rows) == len(directories)


def test_a_placer_places_one_block_at_a_time() -> None:
    made: Any = None

    def resolve(prefix: bytes, exact: bool) -> tuple[int, bool]:
        place(made, [Record(path=b"/x/y")])
        return 0, False

    made = placer(resolve)
    with pytest.raises(RuntimeError, match="one block at a time"):
        place(made, [Record(path=b"/a/b")])


# -- the analyses, against the regular expressions --------------------------------------

ROOT_PIECES = st.sampled_from(
    ["a", "b", "/", "[ab]", "[0-9]", "*", "+", "?", "{1,2}", "\\-", "\\ ", ".", "(a|b)", "[^a]"]
)
PATHS = st.lists(st.sampled_from(["a", "b", "1", "/", "-", " ", "\n"]), max_size=10)


@settings(max_examples=300, deadline=None)
@given(st.lists(ROOT_PIECES, min_size=1, max_size=8), st.lists(PATHS, min_size=1, max_size=8))
def test_roots_by_component_match_as_their_regex(pieces: list[str], paths: list[list[str]]) -> None:
    """When ``component_patterns`` takes a root, its regex matches a path exactly when
    the path's first components each match their pattern, and ends with them."""
    try:
        root = compile_root("".join(pieces))
    except re.error:
        return
    parts = root.components
    assert parts == component_patterns(root.pattern.encode())
    if parts is None:
        return
    for path in (b"/" + "".join(chars).encode() for chars in paths):
        components = path[1:].split(b"/")
        by_component = len(components) >= len(parts) and all(
            part.fullmatch(component) for part, component in zip(parts, components, strict=False)
        )
        match = root.regex.match(path, 1)
        assert (match is not None) == by_component, (root.pattern, path)
        if match is not None:
            assert match.end() == len(b"/".join(components[: len(parts)])) + 1


CLASS_PIECES = st.sampled_from(
    ["a", "b", ".", "\\.", "(a|b)", "(?:ab|)", "?", "^", "$", "|", "\\$", "*", "[ab]", "(?i)"]
)
CLASS_NAMES = st.lists(st.sampled_from([b"a", b"b", b".", b"$", b"\n", b"A"]), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(CLASS_PIECES, min_size=1, max_size=7), st.lists(CLASS_NAMES, max_size=8))
def test_classes_as_literals_search_as_their_regex(
    pieces: list[str], names: list[list[bytes]]
) -> None:
    """When ``class_literals`` takes a pattern, a name has one of its literals (where
    each says) exactly when the pattern's search finds it; and the kernel agrees."""
    pattern = "".join(pieces)
    try:
        search = re.compile(pattern.encode()).search
    except re.error:
        return
    literals = class_literals(pattern.encode())
    if literals is None:
        return
    for name in (b"".join(chars) for chars in names):
        bare = name[:-1] if name.endswith(b"\n") else name
        found = any(
            literal in name
            if mode == CONTAINS
            else name.startswith(literal)
            if mode == STARTS
            else (name.endswith(literal) or bare.endswith(literal))
            if mode == ENDS
            else literal in (name, bare)
            for literal, mode in literals
        )
        assert found == (search(name) is not None), (pattern, name)
    classifier = FileClassifier([("X", pattern)])
    assert classifier.literals is not None
    with on_kernel_path(kernel.COMPILED):
        compiled = kernel.compiled()
        assert compiled is not None
        made = compiled.InspectPlacer(lambda p, e: (0, False), None, False, classifier.literals)
    records = [Record(path=b"/d/" + b"".join(chars)) for chars in names if b"".join(chars)]
    files = np.frombuffer(place(made, records)[0], dtype=np.intp).reshape(-1, 5)
    expected = [classifier.position(r.path[3:]) for r in records]
    assert files[:, 2].tolist() == [-1 if kind is None else kind for kind in expected]


def test_class_literals_of_the_default_classes() -> None:
    assert class_literals(rb"\.(bam|sam)(\.gz)?$") == [
        (b".bam.gz", ENDS),
        (b".bam", ENDS),
        (b".sam.gz", ENDS),
        (b".sam", ENDS),
    ]
    assert FileClassifier(CLASSES).literals is not None
    for pattern in (rb"(?i)\.bam$", rb"\.b.m$", rb"a$b", rb"\d", rb"(a))", rb"a{2}"):
        assert class_literals(pattern) is None, pattern
