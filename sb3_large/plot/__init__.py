"""Plots of a user's own runs: ``python -m sb3_large.plot logs/ [more folders] [--out plot.png]``.

A *run* is a folder holding any of RL Zoo's and SB3's logs: ``evaluations.npz`` (``EvalCallback``),
``*.monitor.csv`` (training episodes), ``progress.csv`` (SB3's CSV logger) or tensorboard event files (SB3's
tensorboard logger, ``rl_zoo3.train -tb``; read when ``tensorboard`` is installed). Runs that differ only in a
trailing ``_<n>`` (RL Zoo's ``logs/sac/Hopper-v4_1``, ``_2``; tensorboard's ``SAC_1``, ``SAC_2``) are one
*experiment*, their runs its seeds. Every panel draws, per experiment, the mean over its runs and a band of one
standard deviation: the return first, then the ``diagnostics/*`` keys that ``RepresentationDiagnostics`` logs.
"""

import csv
import json
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Series = tuple[np.ndarray, np.ndarray]  # (env steps, values), steps increasing

RETURN = "return"
DIAGNOSTICS = "diagnostics/"
DEFAULT_SUFFIXES = ("_srank", "_dormant")  # effective rank and dormant units: what the diagnostics are for
RUN_NUMBER = re.compile(r"_\d+$")
EVENTS = "events.out.tfevents."


@dataclass
class Run:
    """One run folder's curves, keyed by ``return`` or a logger key such as ``diagnostics/actor_srank``."""

    path: Path
    experiment: str
    series: dict[str, Series] = field(default_factory=dict)
    return_source: str | None = None


def is_run_folder(folder: Path) -> bool:
    names = os.listdir(folder)
    return any(
        n in ("evaluations.npz", "progress.csv") or n.endswith("monitor.csv") or n.startswith(EVENTS) for n in names
    )


def _evaluations(path: Path) -> Series | None:
    """``EvalCallback``'s ``evaluations.npz``: (steps, mean return of each evaluation)."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return np.asarray(data["timesteps"], dtype=float), np.asarray(data["results"], dtype=float).mean(axis=1)


def _monitors(folder: Path, window: int) -> Series | None:
    """Training episodes of every ``*.monitor.csv`` in time order: (cumulative steps, return averaged over window)."""
    rows = []
    for path in sorted(folder.glob("*monitor.csv")):
        with open(path) as f:
            first = f.readline()
            if not first.startswith("#") or not isinstance(json.loads(first[1:]), dict):
                continue  # not SB3's Monitor format
            rows += [(float(r["t"]), float(r["l"]), float(r["r"])) for r in csv.DictReader(f)]
    if not rows:
        return None
    _, lengths, returns = np.array(sorted(rows)).T
    window = max(1, min(window, len(returns)))
    smoothed = np.convolve(returns, np.ones(window) / window, mode="valid")
    return np.cumsum(lengths)[window - 1 :], smoothed


def _progress(path: Path) -> dict[str, Series]:
    """Every numeric column of SB3's ``progress.csv`` against ``time/total_timesteps``."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, tuple[list, list]] = {}
    for row in rows:
        step = row.get("time/total_timesteps")
        if not step:
            continue
        for key, value in row.items():
            if key and value not in (None, ""):
                try:
                    number = float(value)
                except ValueError:
                    continue
                steps, values = columns.setdefault(key, ([], []))
                steps.append(float(step))
                values.append(number)
    return {k: (np.array(s), np.array(v)) for k, (s, v) in columns.items()}


def _events(folder: Path) -> dict[str, Series]:
    """Scalars of the tensorboard event files in ``folder`` (none when tensorboard is not installed)."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return {}
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    series = {}
    for tag in accumulator.Tags()["scalars"]:
        events = accumulator.Scalars(tag)
        series[tag] = (np.array([e.step for e in events], float), np.array([e.value for e in events], float))
    return series


def read_run(folder: Path, experiment: str, window: int = 10) -> Run:
    """Read one run folder; the return comes from the first of: evaluations, ``eval/mean_reward``, monitor files,
    ``rollout/ep_rew_mean``."""
    run = Run(Path(folder), experiment)
    logged: dict[str, Series] = {}
    if (run.path / "progress.csv").is_file():
        logged.update(_progress(run.path / "progress.csv"))
    if any(n.startswith(EVENTS) for n in os.listdir(run.path)):
        logged.update(_events(run.path))
    run.series = {k: v for k, v in logged.items() if k.startswith(DIAGNOSTICS)}
    candidates = [
        ("evaluation", lambda: _evaluations(run.path / "evaluations.npz")),
        ("evaluation", lambda: logged.get("eval/mean_reward")),
        ("training episodes", lambda: _monitors(run.path, window)),
        ("training episodes", lambda: logged.get("rollout/ep_rew_mean")),
    ]
    for source, read in candidates:
        curve = read()
        if curve is not None and len(curve[0]):
            run.series[RETURN], run.return_source = curve, source
            break
    return run


def find_runs(roots: Sequence[str | Path], window: int = 10) -> list[Run]:
    """Every run folder below ``roots``; experiments are named relative to their root."""
    runs = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        for folder, _dirs, _files in sorted(os.walk(root)):
            folder = Path(folder)
            if not is_run_folder(folder):
                continue
            relative = folder.relative_to(root).as_posix() if folder != root else folder.name
            name = RUN_NUMBER.sub("", relative)
            experiment = f"{root.name}/{name}" if len(roots) > 1 else name
            try:
                run = read_run(folder, experiment, window)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                raise ValueError(f"{folder}: cannot read its logs: {exc!r}") from None
            if run.series:
                runs.append(run)
    return runs


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
    """``return`` then the diagnostics keys to draw: ``keys`` (names without ``diagnostics/``; ``["all"]`` for every
    one), by default the effective ranks and dormant fractions found."""
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
    has_return = any(RETURN in run.series for run in runs)
    return ([RETURN] if has_return else []) + chosen


def plot_runs(runs: Sequence[Run], keys: Sequence[str] | None = None, columns: int = 3):
    """A matplotlib ``Figure``: one panel per key, one line (mean) and band (std) per experiment."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = panel_keys(runs, keys)
    if not panels:
        raise ValueError("nothing to plot: the runs have no return and no diagnostics")
    experiments = sorted({run.experiment for run in runs})
    colors = {name: f"C{i % 10}" for i, name in enumerate(experiments)}
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(5.0 * columns, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    for index, key in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        for name in experiments:
            members = [run for run in runs if run.experiment == name and key in run.series]
            if not members:
                continue
            steps, mean, std, count = mean_and_spread(run.series[key] for run in members)
            axes.plot(steps, mean, color=colors[name], label=f"{name} ({len(members)} run{'s' * (len(members) > 1)})")
            axes.fill_between(steps, mean - std, mean + std, where=count > 1, color=colors[name], alpha=0.2)
        sources = {run.return_source for run in runs if key == RETURN and run.return_source}
        title = key.removeprefix(DIAGNOSTICS) if key != RETURN else f"return ({', '.join(sorted(sources))})"
        axes.set_title(title)
        axes.set_xlabel("env steps")
        axes.grid(alpha=0.3)
        if index == 0:
            axes.legend(fontsize="small")
    return figure


def save_figure(figure, path: str | Path) -> Path:
    """Write ``figure`` as an image (format from the suffix), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    figure.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


__all__ = ["Run", "find_runs", "mean_and_spread", "panel_keys", "plot_runs", "read_run", "save_figure"]
