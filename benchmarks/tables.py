"""The Markdown tables and figures the benchmarks write (and BENCHMARKS.md / the README quote)."""

import statistics
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """``| a | b |`` rows under a header and its ``|---|`` separator."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_std(values: Iterable[float]) -> str:
    """``mean +/- std`` over seeds (population std), the mean alone for one seed."""
    values = list(values)
    text = f"{statistics.mean(values):.1f}"
    return text + f" +/- {statistics.pstdev(values):.1f}" if len(values) > 1 else text


def per_seed(values: dict[int, float]) -> str:
    """``0: 12, 1: 30``: every seed's value, in seed order."""
    return ", ".join(f"{seed}: {value:.0f}" for seed, value in sorted(values.items()))


@contextmanager
def figure_axes(
    path: Path, title: str, xlabel: str, ylabel: str, size: tuple[float, float] = (7, 4.5)
) -> Iterator["Axes"]:
    """Axes to draw on (headless); on exit they get the labels, a grid and a legend, and the figure is written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    try:
        yield ax
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
