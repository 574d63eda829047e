"""File operations that never follow, or delete through, a link the product did not make.

The product runs as a privileged account in folders (``report_dir``, ``output_dir``)
that other people may be able to write. Every path below such a *base* (the folder
the configuration names, which may itself be reached through an administrator's
link) is therefore taken one component at a time, each opened relative to its
parent's descriptor with ``O_NOFOLLOW`` and checked with ``fstat``: a real
directory, owned by this account or by root. Files are created with ``O_EXCL`` and
``O_NOFOLLOW`` and the mode the caller asks for, which the kernel narrows by the
umask. Trees are removed relative to their checked parent's descriptor, by
``shutil.rmtree`` with ``dir_fd`` (its walk never follows a link on Linux).
Anything else found where the product expected its own directory or file is refused
with ``UnsafePathError`` naming it (exit status 1), and left as it was.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from humgen_storage.errors import UnsafePathError

# Created files follow the umask (the kernel applies it to this mode).
PUBLIC_FILE_MODE = 0o666
# Staging databases, locks and manifests: the owner's alone (SPEC section 11).
PRIVATE_FILE_MODE = 0o600
_DIRECTORY_MODE = 0o777
_OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _describe(path: Path, info: os.stat_result) -> str:
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symbolic link the product did not make; refusing to follow it"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory; refusing to use it"
    return f"{path} is owned by uid {info.st_uid}, not by this account; refusing to use it"


def _owned_as_expected(info: os.stat_result) -> bool:
    return info.st_uid in (os.geteuid(), 0)


def _open_child_directory(parent_fd: int, name: str, path: Path, create: bool) -> int:
    """The descriptor of directory ``name`` in ``parent_fd``, made when ``create``."""
    if create:
        try:
            os.mkdir(name, _DIRECTORY_MODE, dir_fd=parent_fd)
        except FileExistsError:
            pass
    try:
        fd = os.open(name, _OPEN_DIRECTORY, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        raise UnsafePathError(_describe(path, os.lstat(name, dir_fd=parent_fd))) from None
    info = os.fstat(fd)
    if not _owned_as_expected(info):
        os.close(fd)
        raise UnsafePathError(_describe(path, info))
    return fd


def _relative_parts(base: Path, target: Path) -> tuple[str, ...]:
    try:
        parts = target.relative_to(base).parts
    except ValueError:
        raise ValueError(f"{target} is not under {base}") from None
    if any(part in ("..", ".") for part in parts):
        raise ValueError(f"{target} is not a plain path under {base}")
    return parts


@contextmanager
def directory_fd(base: Path, target: Path, create: bool = True) -> Iterator[int]:
    """A descriptor of ``target`` reached from ``base`` one checked component at a time
    (made where missing when ``create``). ``base`` itself is the configured folder: it
    is made when missing and may be reached through a link an administrator made."""
    if create:
        base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        path = base
        for name in _relative_parts(base, target):
            path = path / name
            child = _open_child_directory(fd, name, path, create)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def make_directories(base: Path, target: Path) -> Path:
    """Make ``target`` (under ``base``) a real directory of ours, each component checked."""
    with directory_fd(base, target):
        return target


def check_not_link(path: Path) -> None:
    """Refuse ``path`` when it is a symbolic link (a missing path is fine)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(_describe(path, info))


def is_regular_file(path: Path) -> bool:
    """True for a regular file itself, never for a link to one."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def create_file(path: Path, mode: int = PUBLIC_FILE_MODE, flags: int = os.O_WRONLY) -> int:
    """A new file at ``path`` (never an existing one, never through a link): its fd."""
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except FileExistsError:
        check_not_link(path)
        raise


def open_file(
    path: Path, flags: int, mode: int = PUBLIC_FILE_MODE, dir_fd: int | None = None
) -> int:
    """Open (or, with ``O_CREAT``, make) a regular file without following a link.
    With ``dir_fd``, ``path``'s last component is opened in that directory."""
    name: str | Path = path if dir_fd is None else path.name
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise UnsafePathError(_describe(path, os.lstat(name, dir_fd=dir_fd))) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        # A hard link is another name for someone's file, as a symbolic one is.
        os.close(fd)
        raise UnsafePathError(f"{path} is not a regular file of its own; refusing to use it")
    return fd


def remove_tree(base: Path, target: Path) -> None:
    """Remove ``target`` (under ``base``) and everything in it, never through a link:
    a link at ``target`` or on the way to it is refused; a missing one is nothing to do."""
    if not base.exists():
        return
    try:
        with directory_fd(base, target.parent, create=False) as parent_fd:
            try:
                info = os.lstat(target.name, dir_fd=parent_fd)
            except FileNotFoundError:
                return
            if not stat.S_ISDIR(info.st_mode) or not _owned_as_expected(info):
                raise UnsafePathError(_describe(target, info))
            shutil.rmtree(target.name, dir_fd=parent_fd)
    except FileNotFoundError:
        return  # a component on the way is missing: nothing there to remove
