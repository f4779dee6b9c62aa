"""--plot: the front as a PNG (matplotlib, imported only when asked for)."""
from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .result import SolveResult


def plot_front(result: SolveResult, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("plot", "matplotlib is not installed; accepted: pip install 'sloplan[plot]'") from None
    xs = [p.tokens_per_s_per_user for p in result.front]
    ys = [p.tokens_per_s_per_gpu for p in result.front]
    fig, ax = plt.subplots(figsize=(7, 4.5))
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
    fig.savefig(path, dpi=120)
    plt.close(fig)
