"""--plot: the front as an image (matplotlib, imported only when asked for).

The target is checked *before* the solve (`check_plot_target`), so a typo in a path or an extension costs
one error line, not the run; the image is then written atomically (`atomic_write`), so the path holds
either the whole image or what it held before.

`check_target` and `atomic_write` below are a LOCAL STAND-IN for the shared safe-output helper
`sloplan/outfile.py` (helper D, used by `--out`), with its exact signatures: on merge, delete the block
marked below and import both from `.outfile`.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO, Callable

from .errors import InputError
from .result import SolveResult

_SHOWN_CHARS = 120  # echoed paths are bounded and on one line (design.md, Contracts)


def shown(path: Path | str) -> str:
    """A path as a message may echo it: newlines and control characters escaped, length bounded."""
    text = repr(str(path))[1:-1]
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


# ----- local stand-in for sloplan/outfile.py (same API: check_target, atomic_write); delete on merge -----
def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symbolic link"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def _refuse_non_regular(field: str, path: Path) -> None:
    """An existing target must be a regular file: renaming over a directory, FIFO, device or symlink
    would destroy it (or fail half-way), so those are refused, never replaced."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(field, f"cannot use {shown(path)}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(field, f"{shown(path)} is a {_kind(st.st_mode)}, refusing to replace it; "
                                "accepted: a new path or a regular file")


def check_target(field: str, path: Path) -> Path:
    """Refuse, before any work is done, an output path that would be damaged or cannot be written:
    an existing non-regular file, a missing folder, a folder we cannot create files in (probed by
    creating and removing a temp file there: permission bits lie for root and for /proc-like mounts)."""
    path = Path(path)
    _refuse_non_regular(field, path)
    parent = path.parent
    if not parent.is_dir():
        raise InputError(field, f"folder {shown(parent)} does not exist; accepted: a path in an existing folder")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".sloplan-", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(field, f"cannot create a file in {shown(parent)}: {exc.strerror}") from None
    return path


def _final_mode(path: Path) -> int:
    """What the file would have had if written in place: the old file's mode, else 0o666 less the umask
    (mkstemp makes 0o600 files, which would silently hide a plot from the user's group)."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(field: str, path: Path, write: Callable[[IO], None], *, binary: bool = False) -> None:
    """`write(fh)` fills a temp file in the target's folder, which is then renamed over `path`: the path
    holds the whole new file or its old content, and the temp file is removed on any failure."""
    path = Path(path)
    mode = _final_mode(path)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(field, f"cannot create a file in {shown(path.parent)}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, mode)
        _refuse_non_regular(field, path)  # the target may have changed while we worked
        os.replace(tmp_name, path)
    except BaseException as exc:  # Ctrl-C included: never leave the temp file behind
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise InputError(field, f"cannot write {shown(path)}: {exc.strerror or exc}") from None
        raise
# ----- end of the local stand-in for sloplan/outfile.py -----


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("plot", "matplotlib is not installed; accepted: pip install 'sloplan[plot]'") from None
    return plt


def image_formats() -> tuple[str, ...]:
    """What the Agg canvas writes here: its file types, less PGF when its TeX engine is not installed
    (matplotlib lists PGF unconditionally but needs xelatex/lualatex/pdflatex to measure text)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    _pyplot()
    formats = sorted(FigureCanvasAgg.get_supported_filetypes())
    if shutil.which(matplotlib.rcParams["pgf.texsystem"]) is None:
        formats.remove("pgf")
    return tuple(formats)


def check_plot_target(path: Path) -> str:
    """The image format the path asks for (its extension), once the path is known to be writable."""
    check_target("plot", path)
    fmt, formats = path.suffix.lower().removeprefix("."), image_formats()
    if fmt not in formats:
        got = f"extension {shown(path.suffix)}" if path.suffix else "no extension"
        raise InputError("plot", f"image format from the file's extension ({got}); accepted: {', '.join(formats)}")
    return fmt


def plot_front(result: SolveResult, path: Path, fmt: str) -> None:
    """The front (tokens/s/GPU vs tokens/s/user) with the best plan marked; there must be a front (an empty
    one would be an empty image, which says nothing: the caller reports that instead)."""
    if not result.front:
        raise ValueError("plot_front needs a non-empty front")
    plt = _pyplot()
    xs = [p.tokens_per_s_per_user for p in result.front]
    ys = [p.tokens_per_s_per_gpu for p in result.front]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    try:
        ax.step(xs, ys, where="post", color="#999", lw=0.8)
        ax.scatter(xs, ys, s=14, label="front")
        if result.best:
            ax.scatter([result.best.tokens_per_s_per_user], [result.best.tokens_per_s_per_gpu], marker="x", s=80,
                       color="red", label="best under SLOs")
        req = result.request
        ax.set_title(f"{req['model']} · {req['total_gpus']}× {req['system']} · {req['backend']}")
        ax.set_xlabel("tokens/s/user")
        ax.set_ylabel("tokens/s/GPU")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        atomic_write("plot", path, lambda fh: fig.savefig(fh, format=fmt, dpi=120), binary=True)
    finally:
        plt.close(fig)
