"""The inspector's aggregation (spec section 5) on a small hand-made tree.

Every expected number below was worked out by hand from the records in TREE_115
(tests/inspect/trees.py); the comment next to each row says which records make it up.
"""

from __future__ import annotations

import binascii
import re

import pytest

from humgen_storage.inspect.aggregate import ProjectInspector
from humgen_storage.inspect.path_query import PathSelection, select_path
from humgen_storage.inspect.placing import RowPlacement
from humgen_storage.inspect.results import InspectorRow
from humgen_storage.inspect.roots import compile_root, directory_cut, literal_prefix
from humgen_storage.inspect.tables import RowTable
from humgen_storage.mpistat.paths import BASE64_FIELD, encoded_prefix, go_quote
from humgen_storage.mpistat.patterns import Format, clean_block
from humgen_storage.mpistat.writer import Record
from tests.inspect.trees import M0, REF, ROOTS_115, ROOTS_118, TREE_115, U, d, f

# Every test runs on the compiled kernel and on the numpy path (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("kernel_path")

CLASSES = (
    ("BAM", r"\.(bam|sam)(\.gz)?$"),
    ("CRAM", r"\.cram(\.gz)?$"),
    ("VCF", r"\.(vcf|bcf|gvcf)(\.gz)?$"),
    ("PEDBED", r"\.(ped|bed)(\.gz)?$"),
)


def classes(bam: int = 0, cram: int = 0, vcf: int = 0, pedbed: int = 0) -> dict[str, int]:
    return {"BAM": bam * U, "CRAM": cram * U, "VCF": vcf * U, "PEDBED": pedbed * U}


# (short path, files, total U, classes, last modified days, gid, project total U)
EXPECTED_DEPTH_2 = [
    # everything under projects/ (both MDTs); newest: s2.sam, in the future, so 0 days
    (b"projects", 12, 22, classes(13, 2, 4, 2), 0.0, 1003, 22),
    # readme, s1.bam, s1.cram, link, x.vcf, data.bed, s2.sam, gone.ped (no link-again: beta)
    (b"projects/alpha", 8, 18, classes(13, 2, 1, 1), 0.0, 1001, 18),
    # deep/ folds into seq at depth 2; s2.sam's future mtime counts as the reference
    (b"projects/alpha/seq", 6, 16, classes(13, 2, 1, 0), 0.0, 1002, 18),
    (b"projects/alpha/users", 1, 1, classes(pedbed=1), 50.0, 1001, 18),
    (b"projects/alpha/users/alice", 1, 1, classes(pedbed=1), 50.0, 1006, 18),
    # b.bcf, new\nline.ped, and the link's second name (a file, no bytes, newest at 3 days)
    (b"projects/beta", 3, 3, classes(vcf=2, pedbed=1), 3.0, 1004, 3),
    (b"projects/beta/Users", 1, 2, classes(vcf=2), 60.0, 1004, 3),
    (b"projects/beta/Users/bob", 1, 2, classes(vcf=2), 60.0, 1005, 3),
    (b"projects/beta/caf\xe9\tnew\nline", 1, 1, classes(pedbed=1), 62.0, 1003, 3),
    (b"teams", 1, 1, classes(cram=1), 70.0, 1002, 1),
    (b"teams/t113", 1, 1, classes(cram=1), 70.0, 1002, 1),
]


def expected(depth: int) -> list[tuple[object, ...]]:
    rows = []
    for short, *rest in EXPECTED_DEPTH_2:
        parts = short.split(b"/")
        users = len(parts) > 2 and parts[2].lower() == b"users"
        if len(parts) <= depth + 1 + (users and depth >= 2):
            rows.append((short, *rest))
    if depth >= 3:
        # deep/ becomes a row of its own: x.vcf.gz, and the directory's own mtime
        rows.insert(3, (b"projects/alpha/seq/deep", 1, 1, classes(vcf=1), 2.0, 1001, 18))
    return rows


def block(records: tuple[Record, ...], fmt: Format = Format.BASE64) -> bytes:
    """The records' lines, one block as the reader hands it to ``add_block``."""
    return b"".join(record.line(fmt) for record in records)


def aggregate(
    records: tuple[Record, ...] = TREE_115,
    depth: int = 2,
    fmt: Format = Format.BASE64,
    roots: tuple[str, ...] = ROOTS_115,
    only_under: tuple[bytes, ...] = (),
) -> list[InspectorRow]:
    inspector = ProjectInspector(roots, CLASSES, REF, fmt, depth=depth, only_under=only_under)
    # Two blocks, as the reader would hand them over, to check that state carries across.
    inspector.add_block(fmt, block(records[:7], fmt), 1)
    inspector.add_block(fmt, block(records[7:], fmt), 8)
    return inspector.finish()


def as_tuples(rows: list[InspectorRow]) -> list[tuple[object, ...]]:
    return [
        (
            b"/".join(row.short_path),
            row.files,
            row.total_bytes // U,
            dict(row.class_bytes),
            row.last_modified_days,
            row.gid,
            row.project_total_bytes // U,
        )
        for row in rows
    ]


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_rows_at_each_depth_in_both_formats(depth: int, fmt: Format) -> None:
    rows = aggregate(depth=depth, fmt=fmt)
    assert as_tuples(rows) == expected(depth)
    assert all(row.total_bytes % U == 0 for row in rows)


def test_depth_0_is_the_roots_only() -> None:
    assert [b"/".join(row.short_path) for row in aggregate(depth=0)] == [b"projects", b"teams"]


def test_hard_link_bytes_stay_with_the_first_name_in_input_order() -> None:
    # With beta's name first, beta gets the bytes and alpha/seq only counts the file.
    reordered = tuple(r for r in TREE_115 if b"link-again" not in r.path)
    second = next(r for r in TREE_115 if b"link-again" in r.path)
    first_at = next(i for i, r in enumerate(reordered) if b"seq/link.bam" in r.path)
    records = (second, *reordered[:first_at], *reordered[first_at:])
    by_path = {b"/".join(row.short_path): row for row in aggregate(records)}
    assert by_path[b"projects/beta"].total_bytes == 3 * U + 8 * U
    assert by_path[b"projects/beta"].class_bytes["BAM"] == 8 * U
    assert by_path[b"projects/alpha/seq"].files == 6
    assert by_path[b"projects/alpha/seq"].total_bytes == 8 * U
    assert by_path[b"projects"].total_bytes == 22 * U


def test_same_inode_on_another_device_is_another_file() -> None:
    records = (
        d(M0 + b"/projects", 1, 1),
        f(M0 + b"/projects/a.bam", 1, 1, nlink=2, inode=9, dev=1),
        f(M0 + b"/projects/b.bam", 1, 1, nlink=2, inode=9, dev=2),
        f(M0 + b"/projects/c.bam", 1, 1, nlink=2, inode=9, dev=1),
    )
    (root,) = aggregate(records)
    assert (root.files, root.total_bytes) == (3, 2 * U)


def test_only_files_and_directories_take_part() -> None:
    records = (
        d(M0 + b"/projects", 1, 10),
        *(
            Record(path=M0 + b"/projects/x" + kind.encode(), size=U, mtime=REF, type=kind)
            for kind in "lsbcFX"
        ),
    )
    (root,) = aggregate(records)
    assert (root.files, root.total_bytes, root.last_modified_days) == (0, 0, 10.0)


def test_future_only_mtimes_give_0_days_and_no_directory_record_gives_no_gid() -> None:
    records = (f(M0 + b"/projects/p/a.bam", 1, -5),)  # future mtime, no directory records
    rows = aggregate(records)
    assert [(b"/".join(r.short_path), r.last_modified_days, r.gid) for r in rows] == [
        (b"projects", 0.0, None),
        (b"projects/p", 0.0, None),
    ]


def test_future_only_directory_is_0_days_old_under_a_fractional_reference() -> None:
    # The input file's mtime may carry a fraction of a second: a future mtime counts as
    # the reference and is shown as 0.0 days, never as NULL or a negative number.
    reference = REF + 0.75
    records = (
        d(M0 + b"/projects", 1001, 30),
        d(M0 + b"/projects/new", 1002, -2),  # the directory and its file both in the future
        f(M0 + b"/projects/new/a.vcf", 1, -1),
        d(M0 + b"/projects/old", 1003, 3),
        f(M0 + b"/projects/old/b.bam", 1, 4),
    )
    inspector = ProjectInspector(ROOTS_115, CLASSES, reference, Format.BASE64)
    inspector.add_block(Format.BASE64, block(records), 1)
    rows = inspector.finish()
    # (REF + 0.75 - REF) / 86400 rounds to 0.0; (REF + 0.75 - (REF - 3 days)) to 3.0
    assert [(b"/".join(r.short_path), r.last_modified_days, r.gid) for r in rows] == [
        (b"projects", 0.0, 1001),
        (b"projects/new", 0.0, 1002),
        (b"projects/old", 3.0, 1003),
    ]


def test_first_matching_root_wins_and_short_path_starts_at_its_last_component() -> None:
    roots = ("lustre/scratch118/humgen", "lustre/scratch118/humgen/hgi/projects")
    records = (f(b"/lustre/scratch118/humgen/hgi/projects/p/a.bam", 1, 1),)
    rows = aggregate(records, roots=roots, depth=1)
    assert [b"/".join(r.short_path) for r in rows] == [b"humgen", b"humgen/hgi"]


def test_root_must_end_at_a_component_boundary() -> None:
    records = (
        f(M0 + b"/projects-old/p/a.bam", 1, 1),
        f(M0 + b"/projects/p/a.bam", 1, 1),
        f(M0 + b"/projects\n/p/a.bam", 1, 1),  # $ would match before the newline; \Z does not
    )
    rows = aggregate(records)
    assert [(b"/".join(r.short_path), r.files) for r in rows] == [
        (b"projects", 1),
        (b"projects/p", 1),
    ]


def test_only_under_keeps_one_project() -> None:
    rows = aggregate(only_under=(b"projects", b"beta"))
    assert [b"/".join(r.short_path) for r in rows] == [
        b"projects",
        b"projects/beta",
        b"projects/beta/Users",
        b"projects/beta/Users/bob",
        b"projects/beta/caf\xe9\tnew\nline",
    ]
    assert rows[1].project_total_bytes == 3 * U


def test_undecodable_path_under_a_root_is_skipped_and_counted() -> None:
    directory = b"/lustre/scratch115/realdata/mdt0/projects/pp/"  # a multiple of 3 bytes
    good = block((f(directory + b"a.bam", 1, 1),))
    bad_field = binascii.b2a_base64(directory, newline=False) + b"QQ"  # no padding fixes it
    assert re.fullmatch(BASE64_FIELD, bad_field)  # the pattern checks alphabet and padding
    lines = good + bad_field + good[good.index(b"\t") :]
    valid, bad = clean_block(Format.BASE64, lines, 1)  # and every job's validation the length
    assert valid == good and [n for n, _ in bad] == [2]
    # Handed the line anyway, the inspector still skips and counts it.
    inspector = ProjectInspector(ROOTS_115, CLASSES, REF, Format.BASE64)
    inspector.add_block(Format.BASE64, lines, 1)
    assert inspector.undecodable.count == 1
    assert [line for line, _ in inspector.undecodable.examples] == [2]
    assert [r.files for r in inspector.finish()] == [1, 1]


def test_users_rule() -> None:
    assert directory_cut([b"projects", b"foo", b"USERS", b"al", b"x"], 2) == (
        b"projects",
        b"foo",
        b"USERS",
        b"al",
    )
    assert directory_cut([b"projects", b"foo", b"users", b"al", b"x", b"y"], 3) == (
        b"projects",
        b"foo",
        b"users",
        b"al",
        b"x",
    )
    assert directory_cut([b"projects", b"foo", b"users", b"al"], 1) == (b"projects", b"foo")
    assert directory_cut([b"projects", b"users", b"al"], 2) == (b"projects", b"users", b"al")
    assert directory_cut([b"projects", b"foo", b"users2", b"al"], 2) == (
        b"projects",
        b"foo",
        b"users2",
    )


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        ("lustre/scratch115/realdata/mdt[0-9]/projects", "lustre/scratch115/realdata/mdt"),
        ("lustre/scratch118/humgen/hgi/projects", "lustre/scratch118/humgen/hgi/projects"),
        ("lustre/scratch11?/x", "lustre/scratch1"),
        ("lustre/scratch1{1,2}/x", "lustre/scratch"),
        ("lustre/s+/x", "lustre/s"),
        ("lustre/a.b", "lustre/a"),
        ("a/b|c/d", ""),
        ("(?i)lustre", ""),
        # escaped characters (re.escape of a PATH taken as a root) are themselves
        (r"lustre/old\-team\ data\.v2/x", "lustre/old-team data.v2/x"),
        (r"lustre/a\|b", "lustre/a|b"),
        (r"lustre/a\.*", "lustre/a"),
        (r"lustre/a\\b", "lustre/a\\b"),
        (r"lustre/a\d", "lustre/a"),
        ("lustre/a\\", "lustre/a"),
        (r"lustre/a[0-9]/b\|c", "lustre/a"),
        (r"lustre/a\-b[0-9]|c", ""),
    ],
)
def test_literal_prefix(pattern: str, literal: str) -> None:
    assert literal_prefix(pattern) == literal


@pytest.mark.parametrize("fmt", [Format.BASE64, Format.WRSTAT])
def test_encoded_prefix_is_a_prefix_of_every_matching_path_field(fmt: Format) -> None:
    root = compile_root(ROOTS_115[0])
    prefix = encoded_prefix(root.literal, quoted=fmt is Format.WRSTAT)
    assert len(prefix) > 30
    for tail in (b"0/projects", b"7/projects/a\tb/\xff\n", b"1/projects/\xe2\x82\xac"):
        path = root.literal + tail
        assert root.regex.match(path, 1)
        field = go_quote(path) if fmt is Format.WRSTAT else binascii.b2a_base64(path, newline=False)
        assert field.startswith(prefix)


def test_quoted_prefix_stops_where_go_might_escape() -> None:
    assert encoded_prefix(b'/lustre/a"b', quoted=True) == b'"/lustre/a'
    assert encoded_prefix("/lustre/é".encode(), quoted=True) == b'"/lustre/'
    assert encoded_prefix(b"/lustre/a\\b", quoted=True) == b'"/lustre/a'
    assert encoded_prefix(b"/lustre/a\tb", quoted=True) == b'"/lustre/a'
    assert encoded_prefix(b"/lustre/~ok", quoted=True) == b'"/lustre/~ok'  # 0x7E is plain


def test_base64_prefix_is_the_whole_3_byte_groups() -> None:
    assert encoded_prefix(b"/lustre/sc", quoted=False) == b"L2x1c3RyZS9z"  # "/lustre/s"
    assert encoded_prefix(b"/lu", quoted=False) == b"L2x1"
    assert encoded_prefix(b"/l", quoted=False) == b""


def test_class_is_the_first_matching_pattern_of_the_name() -> None:
    records = (
        f(M0 + b"/projects/p/a.bam.gz", 1, 1),
        f(M0 + b"/projects/p/a.vcf.bam", 2, 1),
        f(M0 + b"/projects/p.bam/a.txt", 4, 1),  # the directory's name does not count
    )
    own_classes = (("CRAM", r"\.bam"), ("BAM", r"\.(bam|sam)(\.gz)?$"))
    inspector = ProjectInspector(ROOTS_115, own_classes, REF, Format.BASE64, depth=0)
    inspector.add_block(Format.BASE64, block(records), 1)
    (root,) = inspector.finish()
    assert dict(root.class_bytes) == {"CRAM": 3 * U, "BAM": 0}
    assert root.total_bytes == 7 * U


ROOTS = {"118": ROOTS_118, "115": ROOTS_115}


@pytest.mark.parametrize(
    ("path", "selection"),
    [
        (
            b"/lustre/scratch115/realdata/mdt1/projects/alpha",
            PathSelection("115", (b"projects", b"alpha")),
        ),
        (b"/lustre/scratch115/projects/alpha", PathSelection("115", (b"projects", b"alpha"))),
        (
            b"/lustre/scratch115/realdata/projects/alpha/seq",
            PathSelection("115", (b"projects", b"alpha", b"seq")),
        ),
        (b"/lustre/scratch115/teams", PathSelection("115", (b"teams",))),
        (
            b"/lustre/scratch118/humgen/hgi/projects/gamma",
            PathSelection("118", (b"projects", b"gamma")),
        ),
        (b"/lustre/scratch118/projects/gamma", PathSelection("118", (b"projects", b"gamma"))),
        (b"/lustre/scratch115", PathSelection("115")),
        (b"/lustre/scratch115/realdata/mdt0", PathSelection("115")),
        (b"/lustre/scratch118/humgen", PathSelection("118")),
        # under no root, on a configured volume: the PATH is the root
        (
            b"/lustre/scratch115/other/projects/alpha",
            PathSelection("115", (b"alpha",), path_root="lustre/scratch115/other/projects/alpha"),
        ),
        (
            b"/lustre/scratch118/humgen/old-team.data",
            PathSelection(
                "118", (b"old-team.data",), path_root=r"lustre/scratch118/humgen/old\-team\.data"
            ),
        ),
        (b"/lustre/scratch999/projects/x", None),
        (b"/lustre/scratch115x/projects/alpha", None),
        (b"/lustre", None),
        (b"/", None),
        (b"/nfs/users/alice", None),
    ],
)
def test_select_path(path: bytes, selection: PathSelection | None) -> None:
    assert select_path(path, ROOTS) == selection


def test_path_taken_as_root_matches_itself_only() -> None:
    path = b"/lustre/scratch118/a+b [x]/caf\xe9 (1)"
    selection = select_path(path, ROOTS)
    assert selection is not None and selection.path_root is not None
    assert selection.roots(ROOTS_118) == (selection.path_root,)
    assert selection.short_prefix == (b"caf\xe9 (1)",)
    root = compile_root(selection.path_root)
    assert root.literal == path  # the whole path filters the encoded field
    for inside in (path, path + b"/x", path + b"/\n"):
        assert root.regex.match(inside, 1), inside
    for outside in (path + b"x/y", b"/lustre/scratch118/a+b [x]/caf\xe9 (2)"):
        assert not root.regex.match(outside, 1), outside
    placement = RowPlacement((root,), 2, (), RowTable(0))
    assert placement.short_path(path + b"/sub/f.bam") == [b"caf\xe9 (1)", b"sub", b"f.bam"]
    assert root.components is not None  # re.escape's escapes are punctuation: by prefix
    assert select_path(b"/lustre/scratch118/humgen/hgi/projects", ROOTS) == PathSelection(
        "118", (b"projects",)
    )
    assert PathSelection("118").roots(ROOTS_118) == ROOTS_118


def test_select_path_between_mount_and_some_roots() -> None:
    roots = {"118": ("lustre/scratch118/humgen/hgi/projects", "lustre/scratch118/vr/projects")}
    selection = select_path(b"/lustre/scratch118/humgen", roots)
    assert selection == PathSelection("118", (), ("projects",))
    assert selection is not None and selection.project == ()


def test_combined_class_search_matches_sequential_search() -> None:
    # A back-reference disables the combined pre-filter; the result must not change.
    own_classes = (("BAM", r"(a)\1\.bam$"), ("CRAM", r"\.cram$"))
    records = (f(M0 + b"/projects/aa.bam", 1, 1), f(M0 + b"/projects/x.cram", 2, 1))
    inspector = ProjectInspector(ROOTS_115, own_classes, REF, Format.BASE64, depth=0)
    inspector.add_block(Format.BASE64, block(records), 1)
    assert dict(inspector.finish()[0].class_bytes) == {"BAM": U, "CRAM": 2 * U}
    assert re.search(r"\\[1-9]", own_classes[0][1])


def test_first_name_outside_the_roots_takes_the_bytes_with_it() -> None:
    records = (
        f(M0 + b"/other/first.bam", 4, 1, nlink=2, inode=77, dev=1),  # under no root
        d(M0 + b"/projects", 1, 1),
        f(M0 + b"/projects/second.bam", 4, 1, nlink=2, inode=77, dev=1),
    )
    (root,) = aggregate(records)
    assert (root.files, root.total_bytes, root.class_bytes["BAM"]) == (1, 0, 0)


def test_path_query_rows_equal_full_run_rows() -> None:
    full = {row.short_path: row for row in aggregate()}
    for row in aggregate(only_under=(b"projects", b"beta")):
        if len(row.short_path) >= 2:
            assert row == full[row.short_path]


def test_class_pattern_with_a_global_flag() -> None:
    own_classes = (("BAM", r"(?i)\.bam$"), ("CRAM", r"\.cram$"))
    records = (f(M0 + b"/projects/A.BAM", 1, 1), f(M0 + b"/projects/x.cram", 2, 1))
    inspector = ProjectInspector(ROOTS_115, own_classes, REF, Format.BASE64, depth=0)
    inspector.add_block(Format.BASE64, block(records), 1)
    assert dict(inspector.finish()[0].class_bytes) == {"BAM": U, "CRAM": 2 * U}
