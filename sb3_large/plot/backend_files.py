"""A matplotlib backend whose ``show()`` writes every open figure to an image file, for machines without a display.

RL Zoo's plot scripts (``python -m rl_zoo3.cli plot_train``, ``all_plots``) end with ``plt.show()``; on a headless
machine that shows nothing. With ``MPLBACKEND=module://sb3_large.plot.backend_files`` each figure is saved as
``<figure label>.png`` in ``$SB3_LARGE_FIGURES`` (default: the current directory) and closed.
"""

import os
import re
from pathlib import Path

from matplotlib import pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FOLDER_ENV = "SB3_LARGE_FIGURES"


def figure_path(folder: Path, label: str, number: int) -> Path:
    """``folder/<label as a file name>.png`` (``figure_<number>.png`` for an unlabelled figure)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or f"figure_{number}"
    return folder / f"{stem}.png"


def show(*_args, **_kwargs) -> None:
    folder = Path(os.environ.get(FOLDER_ENV) or ".")
    folder.mkdir(parents=True, exist_ok=True)
    for number in plt.get_fignums():
        figure = plt.figure(number)
        path = figure_path(folder, figure.get_label(), number)
        figure.savefig(path, bbox_inches="tight")  # keep axis labels that the figure layout clips
        print(f"sb3_large: figure {figure.get_label() or number!r} saved to {path}")
        plt.close(figure)
