"""humgen-storage crawl: a real tree, walked and written as mpistat, read back with the reader."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path

import pytest

from humgen_storage import crawl
from humgen_storage.cli import main
from humgen_storage.mpistat.files import InputFile
from humgen_storage.mpistat.patterns import FIELDS
from humgen_storage.mpistat.reader import MpistatReader
from tests.helpers import row_blocks

ODD_NAME = b"we\tird\nname \xff\xfe.txt"

TYPE_OF_MODE = {
    stat.S_IFREG: "f",
    stat.S_IFDIR: "d",
    stat.S_IFLNK: "l",
    stat.S_IFSOCK: "s",
    stat.S_IFBLK: "b",
    stat.S_IFCHR: "c",
    stat.S_IFIFO: "F",
}


def make_tree(root: Path) -> dict[str, bytes]:
    """A small tree with one of everything; returns some of its relative paths by role."""
    root.mkdir()
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "regular.txt").write_bytes(b"hello\n")
    os.link(root / "regular.txt", root / "sub" / "hardlink.txt")
    # Entirely sparse: 10 MiB long, no blocks; and one block of data 5 MiB in.
    with open(root / "sparse.img", "wb") as handle:
        handle.truncate(10 * 1024 * 1024)
    with open(root / "holey.img", "wb") as handle:
        handle.seek(5 * 1024 * 1024)
        handle.write(b"x")
    os.symlink("regular.txt", root / "link-to-file")
    os.symlink("sub", root / "link-to-dir")  # must not be followed
    os.symlink("nowhere", root / "dangling")
    os.mkfifo(root / "fifo")
    (root / "sub" / "deeper" / "data.bin").write_bytes(b"\0" * 10000)
    odd = os.fsencode(root / "sub") + b"/" + ODD_NAME
    fd = os.open(odd, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"odd")
    os.close(fd)
    # A socket, bound by a relative name (socket paths are short).
    here = os.getcwd()
    os.chdir(root)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind("sock")
    except OSError:
        pass
    finally:
        os.chdir(here)
    if os.geteuid() == 0:
        os.chown(root / "sub" / "deeper" / "data.bin", 4321, 4242)
        with contextlib.suppress(OSError):  # containers often forbid device nodes
            os.mknod(root / "null-device", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    return {
        "regular": b"regular.txt",
        "hardlink": b"sub/hardlink.txt",
        "sparse": b"sparse.img",
        "holey": b"holey.img",
        "odd": b"sub/" + ODD_NAME,
    }


def read_back(path: Path) -> list[tuple[bytes, tuple[int | str, ...]]]:
    """(path, (size, uid, gid, atime, mtime, ctime, type, inode, nlink, dev)) per record."""
    records = []
    with MpistatReader(InputFile.from_path(path), max_bad_fraction=0.0) as reader:
        for rows in row_blocks(reader, FIELDS):
            for row in rows:
                numbers = tuple(int(v) if i != 6 else v.decode() for i, v in enumerate(row[1:]))
                records.append((reader.format.decode_path(row[0]), numbers))
        assert reader.bad_lines == 0
    return records


def expected(st: os.stat_result) -> tuple[int | str, ...]:
    return (
        min(st.st_size, st.st_blocks * 512),
        st.st_uid,
        st.st_gid,
        st.st_atime_ns // 10**9,
        st.st_mtime_ns // 10**9,
        st.st_ctime_ns // 10**9,
        TYPE_OF_MODE.get(stat.S_IFMT(st.st_mode), "X"),
        st.st_ino,
        st.st_nlink,
        st.st_dev,
    )


def without_atime(numbers: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # Listing a directory may update its atime; every other field must be exact.
    return numbers[:3] + numbers[4:]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_tree(tmp_path / "tree")
    return tmp_path / "tree"


def test_crawl_matches_lstat(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "20261124_118.dat.gz"
    assert main(["crawl", str(tree), "--volume", "118", "-o", str(out)]) == 0

    records = read_back(out)
    prefix = b"/lustre/scratch118"
    # The first record is the root, shown as the volume's root.
    first_path, first = records[0]
    assert first_path == prefix
    assert without_atime(first) == without_atime(expected(os.lstat(tree)))

    seen = {}
    for path, numbers in records:
        assert path == prefix or path.startswith(prefix + b"/")
        relative = path[len(prefix) + 1 :]
        real = os.fsencode(tree) + (b"/" + relative if relative else b"")
        assert without_atime(numbers) == without_atime(expected(os.lstat(real))), path
        seen[relative] = numbers

    # Every entry of the tree is there once, and nothing else (no followed links).
    on_disk = {b""}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(tree)):
        for name in dirnames + filenames:
            on_disk.add(os.path.relpath(os.path.join(dirpath, name), os.fsencode(tree)))
    assert set(seen) == on_disk
    assert len(records) == len(on_disk)
    assert b"link-to-dir/hardlink.txt" not in seen

    def field(rel: bytes, name: str) -> int | str:
        return seen[rel][FIELDS.index(name) - 1]

    # The interesting cases, spelt out.
    assert field(b"regular.txt", "size") == 6
    assert field(b"regular.txt", "nlink") == 2
    assert field(b"sub/hardlink.txt", "inode") == field(b"regular.txt", "inode")
    assert field(b"sparse.img", "size") == 0  # 10 MiB apparent, no blocks
    holey = os.lstat(tree / "holey.img")
    assert field(b"holey.img", "size") == holey.st_blocks * 512 < holey.st_size
    assert field(b"link-to-file", "type") == "l"
    assert field(b"link-to-dir", "type") == "l"
    assert field(b"dangling", "type") == "l"
    assert field(b"fifo", "type") == "F"
    assert field(b"sub", "type") == "d"
    assert field(b"sub/" + ODD_NAME, "size") == 3
    if (tree / "sock").exists():
        assert field(b"sock", "type") == "s"
    if (tree / "null-device").exists():
        assert field(b"null-device", "type") == "c"
    if os.geteuid() == 0:
        assert field(b"sub/deeper/data.bin", "gid") == 4242
        assert field(b"sub/deeper/data.bin", "uid") == 4321

    # Each directory's record comes before its contents.
    order = [path for path, _ in records]
    assert order.index(prefix + b"/sub") < order.index(prefix + b"/sub/deeper")
    assert order.index(prefix + b"/sub/deeper") < order.index(prefix + b"/sub/deeper/data.bin")


def test_same_tree_same_file(tree: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "20261124_118.dat.gz", tmp_path / "b" / "20261124_118.dat.gz"
    first.parent.mkdir()
    second.parent.mkdir()
    assert main(["crawl", str(tree), "--volume", "118", "-o", str(first)]) == 0
    assert main(["crawl", str(tree), "--volume", "118", "-o", str(second)]) == 0
    assert [p for p, _ in read_back(first)] == [p for p, _ in read_back(second)]


def test_as_prefix(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "20261124_118.dat.gz"
    shown = "/lustre/scratch118/humgen/projects/"
    assert main(["crawl", str(tree), "--volume", "118", "-o", str(out), "--as", shown]) == 0
    records = read_back(out)
    assert records[0][0] == b"/lustre/scratch118/humgen/projects"
    assert (b"/lustre/scratch118/humgen/projects/sub/" + ODD_NAME) in {p for p, _ in records}


@pytest.mark.parametrize("shown", ["/lustre/scratch119", "lustre/scratch118", "/x"])
def test_as_prefix_must_name_the_volume(
    tree: Path, tmp_path: Path, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "20261124_118.dat.gz"
    assert main(["crawl", str(tree), "--volume", "118", "-o", str(out), "--as", shown]) == 2
    assert "--as" in capsys.readouterr().err
    assert not out.exists()


def test_other_output_names_are_written_with_a_warning(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "crawl.gz"
    assert main(["crawl", str(tree), "--volume", "118", "-o", str(out)]) == 0
    assert out.stat().st_size > 0
    assert "<YYYYMMDD>_118.dat.gz" in capsys.readouterr().err
    wrong_volume = tmp_path / "20261124_119.dat.gz"
    assert main(["crawl", str(tree), "--volume", "118", "-o", str(wrong_volume)]) == 0
    assert "will refuse it" in capsys.readouterr().err


def test_output_inside_the_tree_is_not_recorded(tree: Path) -> None:
    out = tree / "20261124_118.dat.gz"
    assert main(["crawl", str(tree), "--volume", "118", "-o", str(out)]) == 0
    names = {p.rsplit(b"/", 1)[-1] for p, _ in read_back(out)}
    assert not any(name.endswith(b".tmp") or name.endswith(b".dat.gz") for name in names)


def test_unreadable_directory_is_logged_and_skipped(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Root reads everything, so refuse the listing the way the kernel would.
    locked = os.fsencode(tree / "sub" / "deeper")
    real_scandir = crawl._scandir

    def scandir(path: bytes) -> list[os.DirEntry[bytes]]:
        if path == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(crawl, "_scandir", scandir)
    out = tmp_path / "20261124_118.dat.gz"
    assert main(["crawl", str(tree), "--volume", "118", "-o", str(out)]) == 0
    paths = {p for p, _ in read_back(out)}
    assert b"/lustre/scratch118/sub/deeper" in paths  # the directory itself is recorded
    assert b"/lustre/scratch118/sub/deeper/data.bin" not in paths
    assert b"/lustre/scratch118/sub/hardlink.txt" in paths
    err = capsys.readouterr().err
    assert "cannot list" in err and "Permission denied" in err


def test_failed_crawl_leaves_nothing(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: bytes) -> list[os.DirEntry[bytes]]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(crawl, "_scandir", broken)
    out = tmp_path / "20261124_118.dat.gz"
    assert main(["crawl", str(tree), "--volume", "118", "-o", str(out)]) == 1
    assert list(tmp_path.iterdir()) == [tree]


def test_missing_directory_and_bad_volume(tmp_path: Path) -> None:
    out = tmp_path / "20261124_118.dat.gz"
    assert main(["crawl", str(tmp_path / "absent"), "--volume", "118", "-o", str(out)]) == 1
    assert main(["crawl", str(tmp_path), "--volume", "1/8", "-o", str(out)]) == 2
    assert not out.exists()
