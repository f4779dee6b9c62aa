"""--plot: the front as an image (matplotlib, imported only when asked for).

The target is checked *before* the solve (`check_plot_target`), so a typo in a path or an extension costs
one error line, not the run; the image is then written atomically (`atomic_write`), so the path holds
either the whole image or what it held before.

`--out` uses the same two helpers (sloplan/outfile.py).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .errors import InputError, shown_path
from .outfile import atomic_write, check_target
from .result import SolveResult

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
        got = f"extension {shown_path(path.suffix)}" if path.suffix else "no extension"
        raise InputError("plot", f"image format from the file's extension ({got}); accepted: {', '.join(formats)}")
    return fmt


_MODE_STYLE = {"static": ("s", "#1f77b4"), "agg": ("o", "#2ca02c"), "disagg": ("^", "#ff7f0e")}


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
        for mode in dict.fromkeys(p.mode for p in result.front):  # one marker and colour per serving mode
            pts = [p for p in result.front if p.mode == mode]
            marker, colour = _MODE_STYLE.get(mode, ("o", None))
            ax.scatter([p.tokens_per_s_per_user for p in pts], [p.tokens_per_s_per_gpu for p in pts], s=16,
                       marker=marker, color=colour, label=f"{mode} ({len(pts)})")
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
