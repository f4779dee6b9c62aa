"""Output files (`--out`, `--plot`): refuse a target that is not ours to replace, then write it whole or not at all.

A user's output path may name anything: a device, a FIFO, a symlink into someone else's tree, a
directory, a place no one can write. Replacing such a thing with a regular file destroys it, and
failing only after minutes of work loses the work, so `check_target` refuses all of these up front
(an InputError naming the option: exit 2, nothing written). `atomic_write` then writes to a hidden
temp file beside the target, fsyncs it and renames it over the target, so a reader sees the old
file or the new one, never half of one, and no temp file outlives a failure, a Ctrl-C or a SIGTERM
(only a SIGKILL during the write can leave the hidden temp; the target is whole or absent even then).
"""
from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
import tempfile
from pathlib import Path
from typing import IO
from collections.abc import Callable

from .errors import InputError, shown_path

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link (name the file it points to)"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))
_ACCEPTED = "a new file in an existing, writable directory, or an existing regular file"


def _refuse(field: str, path: Path, what: str) -> InputError:
    return InputError(field, f"{shown_path(path)} {what}; accepted: {_ACCEPTED}")


def _existing_mode(field: str, path: Path) -> int | None:
    """The target's permission bits when it is a regular file, None when it does not exist; refuses anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _refuse(field, path, f"cannot be used ({exc.strerror})") from None
    if stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode)
    kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
    raise _refuse(field, path, f"is {kind}")


def _temp_in(field: str, path: Path) -> tuple[int, str]:
    """A fresh hidden temp file beside `path` (same file system, so the final rename is atomic)."""
    parent = path.parent
    try:
        if not parent.is_dir():
            what = "does not exist" if not parent.exists() else "is not a directory"
            raise _refuse(field, path, f"cannot be written: its directory {what}")
        return tempfile.mkstemp(dir=parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    except OSError as exc:
        raise _refuse(field, path, f"cannot be written ({exc.strerror or type(exc).__name__})") from None


def check_target(field: str, path: Path) -> Path:
    """`path` if it is a new path in an existing writable directory or an existing regular file, else
    InputError(field). Writability is proven by creating (and removing) a temp file there: permission
    bits do not tell (root passes every check, /proc and read-only mounts still refuse)."""
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise _refuse(field, path, "names no file")
    _existing_mode(field, path)
    fd, tmp = _temp_in(field, path)
    os.close(fd)
    os.unlink(tmp)
    return path


def atomic_write(field: str, path: Path, write: Callable[[IO], None], *, binary: bool = False) -> None:
    """Call `write(fh)` on a hidden temp file beside `path`, fsync it, then rename it over `path`.

    The target is checked again (it may have changed since `check_target`). On any failure or
    interruption, KeyboardInterrupt included, the temp file is removed and the target is untouched;
    OSErrors (disk full, permissions) become InputError(field). A new file gets the usual 0666 & ~umask
    permissions; a replaced one keeps its own."""
    path = Path(path)
    mode = _existing_mode(field, path)
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = _temp_in(field, path)
    try:
        with _terminate_raises(), (os.fdopen(fd, "wb") if binary else
                                   os.fdopen(fd, "w", encoding="utf-8", newline="")) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _refuse(field, path, f"cannot be written ({exc.strerror or type(exc).__name__})") from None
        raise
    _sync_directory(path.parent)


@contextlib.contextmanager
def _terminate_raises():
    """While the temp file exists, SIGTERM exits through Python (SystemExit 143) so the temp is removed;
    only where nobody else handles SIGTERM, and only in the main thread (where signals are delivered)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable; best effort (some file systems cannot fsync a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
