"""A PNG of decode latency and throughput against batch size (matplotlib, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from .errors import SimulatorError
from .generation import GenerationResult


def plot_batch_sweep(series: Mapping[str, Sequence[GenerationResult]], path: str | Path) -> Path:
    """Plot ms/token and tokens/s against batch, one line per series label; returns the path.

    Raises SimulatorError if matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never open a window
        import matplotlib.pyplot as plt
    except ImportError:
        raise SimulatorError(
            "--plot needs matplotlib: pip install matplotlib (the simulator itself does not)") from None
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, results in series.items():
        rows = sorted(results, key=lambda r: r.batch)
        batches = [r.batch for r in rows]
        lat.plot(batches, [r.ms_per_token for r in rows], marker="o", label=label)
        thr.plot(batches, [r.tokens_per_s for r in rows], marker="o", label=label)
        # Mark where decode turns compute-bound: past it, batching adds little throughput.
        bound = [r.batch for r in rows if r.bound == "compute"]
        if bound:
            thr.axvline(bound[0], color="grey", linestyle=":", linewidth=0.8)
    for ax, title, unit in ((lat, "decode latency", "ms / token"),
                            (thr, "decode throughput", "tokens / s")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    thr.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
