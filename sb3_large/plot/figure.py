"""The figure: a column of panels per environment, a row per key (returns, then diagnostics), per experiment the
mean over its runs and a band of one standard deviation; one legend below the panels; written atomically."""

import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from sb3_large.files import atomic_path
from sb3_large.plot.runs import DIAGNOSTICS, EVAL_RETURN, RETURNS, TRAIN_RETURN, Run, Series

TITLES = {EVAL_RETURN: "evaluation return", TRAIN_RETURN: "training-episode return (moving mean)"}
DEFAULT_SUFFIXES = ("_srank", "_dormant")  # effective rank and dormant units: what the diagnostics are for
SHORT = 20  # a series of at most this many points is drawn with markers
PANEL_HEIGHT = 3.4  # inches per row of panels
LEGEND_COLUMNS = 2  # experiments side by side in the legend where their labels fit
LEGEND_ROW_HEIGHT, LEGEND_LINE_HEIGHT = 0.15, 0.15  # inches per legend row (spacing) and per line of label text
MIN_LABEL_CHARS = 20  # labels are wrapped no narrower


def mean_and_spread(curves: Iterable[Series]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(steps, mean, std, count) over runs on the union of their steps; a run counts only within its own range."""
    curves = [(np.asarray(x, float), np.asarray(y, float)) for x, y in curves]
    steps = np.unique(np.concatenate([x for x, _ in curves]))
    values = np.full((len(curves), len(steps)), np.nan)
    for i, (x, y) in enumerate(curves):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        inside = (steps >= x[0]) & (steps <= x[-1])
        values[i, inside] = np.interp(steps[inside], x, y)
    count = np.sum(~np.isnan(values), axis=0)
    mean = np.nanmean(values, axis=0)
    std = np.where(count > 1, np.nanstd(values, axis=0), 0.0)
    return steps, mean, std, count


def panel_keys(runs: Sequence[Run], keys: Sequence[str] | None = None) -> list[str]:
    """The rows to draw: the returns found (evaluation, then training episodes), then the diagnostics keys:
    ``keys`` (names without ``diagnostics/``; ``["all"]`` for every one), by default the effective ranks and
    dormant fractions found."""
    found = sorted({k for run in runs for k in run.series if k.startswith(DIAGNOSTICS)})
    if keys is None:
        chosen = [k for k in found if k.endswith(DEFAULT_SUFFIXES)]
    elif list(keys) == ["all"]:
        chosen = found
    else:
        chosen = [DIAGNOSTICS + k.removeprefix(DIAGNOSTICS) for k in keys]
        missing = [k for k in chosen if k not in found]
        if missing:
            names = ", ".join(k.removeprefix(DIAGNOSTICS) for k in found) or "none"
            raise ValueError(f"keys: {missing[0].removeprefix(DIAGNOSTICS)!r} is in no run; found: {names}")
    returns = [key for key in RETURNS if any(key in run.series for run in runs)]
    return returns + chosen


def environments(runs: Sequence[Run]) -> list[str | None]:
    """The environments of the runs, one column each (``None``, a run whose environment is not recorded, last)."""
    return sorted({run.env for run in runs}, key=lambda env: (env is None, env or ""))


def _draw_panel(axes, runs: Sequence[Run], colors: dict[str, str], key: str, env: str | None) -> set[str]:
    """One panel: a line (with markers when short) and a band per experiment that has ``key`` in ``env``, or
    "not logged"; returns the experiments drawn with markers."""
    title = TITLES.get(key, key.removeprefix(DIAGNOSTICS))
    axes.set_title(f"{env or 'environment not recorded'}: {title}", fontsize="medium")
    drawn, short = False, set()
    for name, color in colors.items():
        members = [run for run in runs if run.experiment == name and run.env == env and key in run.series]
        if not members:
            continue
        steps, mean, std, count = mean_and_spread(run.series[key] for run in members)
        marker = "o" if len(steps) <= SHORT else None
        if marker:
            short.add(name)
        axes.plot(steps, mean, color=color, marker=marker, markersize=4, label=name)
        axes.fill_between(steps, mean - std, mean + std, where=count > 1, color=color, alpha=0.2)
        drawn = True
    if not drawn:
        axes.text(0.5, 0.5, "not logged", ha="center", va="center", transform=axes.transAxes, color="0.5")
        axes.set_xticks([])
        axes.set_yticks([])
        return short
    axes.set_xlabel("env steps")
    axes.set_ylabel("return" if key in RETURNS else key.removeprefix(DIAGNOSTICS))
    axes.grid(alpha=0.3)
    return short


def plot_runs(runs: Sequence[Run], keys: Sequence[str] | None = None):
    """A matplotlib ``Figure``: a column per environment, a row per key (``panel_keys``); in each panel one line
    (mean, with markers when short) and band (std) per experiment; one legend for the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rows = panel_keys(runs, keys)
    runs = [run for run in runs if any(key in run.series for key in rows)]
    if not runs:
        raise ValueError("nothing to plot: the runs have no return and no diagnostics")
    columns = environments(runs)
    experiments = sorted({run.experiment for run in runs})
    colors = {name: f"C{i % 10}" for i, name in enumerate(experiments)}
    figure = Figure(figsize=(5.0 * len(columns), PANEL_HEIGHT * len(rows)), layout="constrained")
    FigureCanvasAgg(figure)
    short: set[str] = set()
    for row, key in enumerate(rows):
        for column, env in enumerate(columns):
            axes = figure.add_subplot(len(rows), len(columns), row * len(columns) + column + 1)
            short |= _draw_panel(axes, runs, colors, key, env)
    handles = [
        Line2D([], [], color=colors[name], marker="o" if name in short else None, markersize=4) for name in experiments
    ]
    counts = {name: sum(run.experiment == name for run in runs) for name in experiments}
    labels = [f"{name} ({counts[name]} run{'s' * (counts[name] > 1)})" for name in experiments]
    _add_legend(figure, handles, labels, PANEL_HEIGHT * len(rows))
    return figure


def _add_legend(figure, handles: list, labels: list[str], panels_height: float) -> None:
    """The figure's legend below its panels, inside the figure however long its labels: in two columns where they
    fit, else in one, wrapped to the figure's width; the figure grows by the legend's height."""
    ncols, chars = min(LEGEND_COLUMNS, len(labels)), max(map(len, labels))
    while True:
        wrapped = [textwrap.fill(label, chars, break_on_hyphens=False) for label in labels]
        rows = -(-len(wrapped) // ncols)
        # Column-major, as matplotlib fills a legend: row r holds entries r, r + rows, ...
        lines = sum(max(label.count("\n") + 1 for label in wrapped[row::rows]) for row in range(rows))
        figure.set_figheight(panels_height + LEGEND_ROW_HEIGHT * rows + LEGEND_LINE_HEIGHT * lines + 0.3)
        legend = figure.legend(handles, wrapped, loc="outside lower center", ncols=ncols, fontsize="small")
        figure.draw_without_rendering()
        width = legend.get_window_extent().width
        if width <= figure.bbox.width or (ncols == 1 and chars <= MIN_LABEL_CHARS):
            return
        text = max(label.get_window_extent().width for label in legend.get_texts())
        legend.remove()
        if ncols > 1:
            ncols = 1
        else:
            # Only the text narrows with the labels, not the handles and padding beside it.
            fitting = chars * (text - (width - figure.bbox.width)) / text
            chars = max(MIN_LABEL_CHARS, min(chars - 1, int(0.95 * fitting)))


def image_format(path: str | Path) -> str:
    """The image format ``path``'s suffix names; a missing or unknown suffix is refused, naming the formats."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        allowed = ", ".join("." + name for name in formats)
        raise ValueError(f"{path}: the image's format comes from its suffix, which must be one of {allowed}")
    return suffix


def save_figure(figure, path: str | Path) -> Path:
    """Write ``figure`` as an image (format from the suffix), atomically."""
    path = Path(path)
    image = image_format(path)
    with atomic_path(path) as staged:
        figure.savefig(staged, format=image, dpi=100)
    return path


__all__ = ["environments", "mean_and_spread", "panel_keys", "plot_runs", "save_figure"]
