"""Plots of a user's own runs: ``python -m sb3_large.plot logs/ [more folders] [--out plot.png]``.

A *run* is a folder holding any of RL Zoo's and SB3's logs: ``evaluations.npz`` (``EvalCallback``),
``*.monitor.csv`` (training episodes), ``progress.csv`` (SB3's CSV logger) or tensorboard event files (SB3's
tensorboard logger, ``rl_zoo3.train -tb``; read when ``tensorboard`` is installed).

Runs are grouped by their configuration, never by folder names alone: RL Zoo records a run's configuration in
``<run>/<env>/config.yml`` (hyperparameters) and ``args.yml`` (command line), and runs of the same algorithm,
environment, hyperparameters and budget are the seeds of one *experiment*. A run without a recorded configuration
(SB3's or tensorboard's own folders) is an experiment of its own, unless ``seeds_by_name`` groups those whose
folder names differ only in a trailing ``_<n>``.

The figure has one column of panels per environment (each panel its own y-axis) and one row per key: the
evaluation return, the training-episode return (never averaged together), then the ``diagnostics/*`` keys that
``RepresentationDiagnostics`` logs. Each panel draws, per experiment, the mean over its runs and a band of one
standard deviation; short series get markers, so a single point shows. Runs that cannot be drawn are returned
with the reason (``scan_runs``).
"""

import csv
import json
import os
import re
import textwrap
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sb3_large.zoo import EXTRA

Series = tuple[np.ndarray, np.ndarray]  # (env steps, values), steps increasing

EVAL_RETURN = "return/evaluation"
TRAIN_RETURN = "return/training"
RETURNS = (EVAL_RETURN, TRAIN_RETURN)
TITLES = {EVAL_RETURN: "evaluation return", TRAIN_RETURN: "training-episode return (moving mean)"}
DIAGNOSTICS = "diagnostics/"
DEFAULT_SUFFIXES = ("_srank", "_dormant")  # effective rank and dormant units: what the diagnostics are for
SHORT = 20  # a series of at most this many points is drawn with markers
PANEL_HEIGHT = 3.4  # inches per row of panels
LEGEND_COLUMNS = 2  # experiments side by side in the legend where their labels fit
LEGEND_ROW_HEIGHT, LEGEND_LINE_HEIGHT = 0.15, 0.15  # inches per legend row (spacing) and per line of label text
MIN_LABEL_CHARS = 20  # labels are wrapped no narrower
RUN_NUMBER = re.compile(r"_\d+$")
ENV_ID = re.compile(r"^[A-Za-z][\w.:-]*-v\d+$")
EVENTS = "events.out.tfevents."
NO_RETURN = "no evaluations.npz, eval/mean_reward, finished episode in *.monitor.csv or rollout/ep_rew_mean"


@dataclass(frozen=True)
class ZooConfig:
    """What RL Zoo recorded of a run's configuration (``<run>/<env>/config.yml`` and ``args.yml``).

    :param settings: what decides the training besides algorithm and environment: the hyperparameters (the YAML
        entry with ``-params`` and any ``--trial-id`` over it), the budget, env kwargs, a model trained on
        (the seed is left out: seeds share their settings)
    :param key: algorithm, environment and settings as text: runs with equal keys are seeds of one experiment
    """

    algo: str
    env: str
    settings: dict[str, Any]
    conf_file: str | None
    trial_id: int | None
    key: str


@dataclass(eq=False)  # runs are told apart by identity: their series are arrays
class Run:
    """One run folder's curves, keyed by ``return/evaluation``, ``return/training`` or a logger key such as
    ``diagnostics/actor_srank``; ``experiment`` names the group of runs (seeds) it belongs to."""

    path: Path
    experiment: str
    series: dict[str, Series] = field(default_factory=dict)
    env: str | None = None
    config: ZooConfig | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Scan:
    """The runs found below some folders, and the run folders left out, each with the reason."""

    runs: list[Run]
    skipped: list[tuple[Path, str]]


class _LogLoader(yaml.SafeLoader):
    """Reads RL Zoo's ``config.yml`` / ``args.yml`` without importing or running anything: their ``OrderedDict``
    becomes a dict, any other Python object its tag and value as text."""


def _ordered_dict(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
    (pairs,) = loader.construct_sequence(node, deep=True)  # the arguments of OrderedDict(): one list of pairs
    return dict(pairs)


def _python_object(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return f"{suffix} {value}".strip()


_LogLoader.add_constructor("tag:yaml.org,2002:python/object/apply:collections.OrderedDict", _ordered_dict)
_LogLoader.add_multi_constructor("tag:yaml.org,2002:python/", _python_object)


def read_zoo_config(folder: Path) -> ZooConfig | None:
    """The configuration RL Zoo saved in a run folder, ``None`` for a folder RL Zoo did not write."""
    for params in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        if (params / "config.yml").is_file() and (params / "args.yml").is_file():
            hyperparams = yaml.load((params / "config.yml").read_text(), Loader=_LogLoader) or {}
            args = yaml.load((params / "args.yml").read_text(), Loader=_LogLoader) or {}
            budget = args.get("n_timesteps") or -1  # -1: the entry's n_timesteps
            settings = {
                **hyperparams,
                "n_timesteps": budget if budget > 0 else hyperparams.get("n_timesteps"),
                "env_kwargs": args.get("env_kwargs"),
                "trained_agent": args.get("trained_agent") or None,
            }
            algo, env = str(args.get("algo")), str(args.get("env"))
            key = yaml.safe_dump({"algo": algo, "env": env, "settings": settings}, sort_keys=True)
            return ZooConfig(algo, env, settings, args.get("conf_file"), args.get("trial_id"), key)
    return None


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


def _monitor_header(path: Path) -> dict | None:
    """The JSON header of SB3's ``Monitor`` file (``t_start``, ``env_id``), ``None`` for another format."""
    with open(path) as f:
        first = f.readline()
    if not first.startswith("#"):
        return None
    header = json.loads(first[1:])
    return header if isinstance(header, dict) else None


def _monitors(folder: Path, window: int) -> Series | None:
    """Training episodes of every ``*.monitor.csv`` in time order: (cumulative steps, return averaged over window)."""
    rows = []
    for path in sorted(folder.glob("*monitor.csv")):
        if _monitor_header(path) is None:
            continue  # not SB3's Monitor format
        with open(path) as f:
            f.readline()
            # A row cut short (a run still writing, or stopped mid-line) is an episode not yet recorded.
            rows += [
                (float(r["t"]), float(r["l"]), float(r["r"]))
                for r in csv.DictReader(f)
                if all(r.get(key) not in (None, "") for key in ("t", "l", "r"))
            ]
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


def _events(folder: Path) -> dict[str, Series] | None:
    """Scalars of the tensorboard event files in ``folder``; ``None`` when tensorboard is not installed."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return None
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    series = {}
    for tag in accumulator.Tags()["scalars"]:
        events = accumulator.Scalars(tag)
        series[tag] = (np.array([e.step for e in events], float), np.array([e.value for e in events], float))
    return series


def _environment(folder: Path) -> str | None:
    """A run's environment from its monitor files' header, else from the nearest folder named like an env id
    (RL Zoo's ``Hopper-v4_1``, its tensorboard folders ``<tb>/Hopper-v4/SAC_1``)."""
    for path in sorted(folder.glob("*monitor.csv")):
        header = _monitor_header(path)
        if header and header.get("env_id"):
            return str(header["env_id"])
    for part in reversed(folder.resolve().parts):
        name = RUN_NUMBER.sub("", part)
        if ENV_ID.match(name):
            return name
    return None


def read_run(folder: Path, experiment: str = "", window: int = 10) -> Run:
    """Read one run folder: its evaluation return (``evaluations.npz``, else ``eval/mean_reward``), its training
    return (monitor files averaged over ``window`` episodes, else ``rollout/ep_rew_mean``), its diagnostics, its
    RL Zoo configuration and environment."""
    run = Run(Path(folder), experiment, config=read_zoo_config(Path(folder)))
    run.env = run.config.env if run.config is not None else _environment(run.path)
    logged: dict[str, Series] = {}
    if (run.path / "progress.csv").is_file():
        logged.update(_progress(run.path / "progress.csv"))
    if any(n.startswith(EVENTS) for n in os.listdir(run.path)):
        events = _events(run.path)
        if events is None:
            run.notes.append(f"tensorboard event files not read: tensorboard is not installed; {EXTRA}")
        logged.update(events or {})
    run.series = {k: v for k, v in logged.items() if k.startswith(DIAGNOSTICS)}
    sources = {
        EVAL_RETURN: (lambda: _evaluations(run.path / "evaluations.npz"), lambda: logged.get("eval/mean_reward")),
        TRAIN_RETURN: (lambda: _monitors(run.path, window), lambda: logged.get("rollout/ep_rew_mean")),
    }
    for key, reads in sources.items():
        for read in reads:
            curve = read()
            if curve is not None and len(curve[0]):
                run.series[key] = curve
                break
    return run


def _compact(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value).replace("\n", " ")


def _flat(settings: dict[str, Any]) -> dict[str, str]:
    """``{"policy_kwargs": {"width": 64}}`` -> ``{"policy_kwargs.width": "64"}`` (one level), values as text."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": _compact(v) for k, v in value.items()})
        else:
            flat[key] = _compact(value)
    return flat


def _describe(configs: list[ZooConfig]) -> list[str]:
    """Labels that tell apart the configurations of one algorithm and environment: ``<algo>/<env>`` with the YAML
    file and trial each came from and, where those are the same, the settings in which it differs."""
    sources = []
    for config in configs:
        parts = [Path(config.conf_file).name] if config.conf_file else []
        sources.append(", ".join(parts + ([f"trial {config.trial_id}"] if config.trial_id is not None else [])))
    flats = [_flat(config.settings) for config in configs]
    labels = []
    for index, (config, source, flat) in enumerate(zip(configs, sources, flats, strict=True)):
        others = [flats[i] for i in range(len(configs)) if i != index and sources[i] == source]
        differing = [f"{k}={v}" for k, v in flat.items() if any(other.get(k) != v for other in others)]
        details = ", ".join(filter(None, [source, *differing[:3]])) + (", ..." if len(differing) > 3 else "")
        labels.append(f"{config.algo}/{config.env}" + (f" ({details})" if details else ""))
    return labels


def _name_experiments(found: list[tuple[Run, str]], seeds_by_name: bool) -> None:
    """Give every run its experiment (see the module's docstring); ``found``: each run with its folder's name."""
    groups: dict[str, str] = {}  # group key -> label
    configs: dict[tuple[str, str], dict[str, ZooConfig]] = {}
    for run, _ in found:
        if run.config is not None:
            configs.setdefault((run.config.algo, run.config.env), {})[run.config.key] = run.config
    for group in configs.values():
        groups.update(zip(group, _describe(list(group.values())), strict=True))
    keys = []
    for run, name in found:
        if run.config is not None:
            keys.append(run.config.key)
        else:
            label = RUN_NUMBER.sub("", name) if seeds_by_name else name
            keys.append(f"folder:{label}")
            groups[keys[-1]] = label
    # Groups that no label tells apart (a settings value shown rounded) are numbered.
    by_label: dict[str, list[str]] = {}
    for key, label in groups.items():
        by_label.setdefault(label, []).append(key)
    for label, group_keys in by_label.items():
        if len(group_keys) > 1:
            groups.update({key: f"{label} #{i + 1}" for i, key in enumerate(group_keys)})
    for (run, _), key in zip(found, keys, strict=True):
        run.experiment = groups[key]


def scan_runs(roots: Sequence[str | Path], window: int = 10, seeds_by_name: bool = False) -> Scan:
    """Every run folder below ``roots``, read and grouped into experiments; the run folders that hold nothing to
    draw (or cannot be read) are in ``skipped`` with the reason. Runs without an RL Zoo configuration are named
    by their folder relative to its root (prefixed by the root's name when there are several roots)."""
    found: list[tuple[Run, str]] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()  # roots may overlap (logs and logs/sac): each run once
    for root in map(Path, roots):
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        for walked, _dirs, _files in sorted(os.walk(root)):
            folder = Path(walked)
            if folder.resolve() in seen or not is_run_folder(folder):
                continue
            seen.add(folder.resolve())
            try:
                run = read_run(folder, window=window)
            except (OSError, ValueError, KeyError, yaml.YAMLError, zipfile.BadZipFile, csv.Error) as exc:
                skipped.append((folder, f"cannot read its logs: {exc!r}"))
                continue
            if not run.series:
                skipped.append((folder, f"nothing to plot: {'; '.join([*run.notes, NO_RETURN, 'no diagnostics'])}"))
                continue
            relative = folder.relative_to(root).as_posix() if folder != root else folder.name
            found.append((run, f"{root.name}/{relative}" if len(roots) > 1 else relative))
    _name_experiments(found, seeds_by_name)
    return Scan([run for run, _ in found], skipped)


def find_runs(roots: Sequence[str | Path], window: int = 10, seeds_by_name: bool = False) -> list[Run]:
    """The runs of ``scan_runs`` (without the list of those left out)."""
    return scan_runs(roots, window, seeds_by_name).runs


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
            title = TITLES.get(key, key.removeprefix(DIAGNOSTICS))
            axes.set_title(f"{env or 'environment not recorded'}: {title}", fontsize="medium")
            drawn = False
            for name in experiments:
                members = [run for run in runs if run.experiment == name and run.env == env and key in run.series]
                if not members:
                    continue
                steps, mean, std, count = mean_and_spread(run.series[key] for run in members)
                marker = "o" if len(steps) <= SHORT else None
                if marker:
                    short.add(name)
                axes.plot(steps, mean, color=colors[name], marker=marker, markersize=4, label=name)
                axes.fill_between(steps, mean - std, mean + std, where=count > 1, color=colors[name], alpha=0.2)
                drawn = True
            if not drawn:
                axes.text(0.5, 0.5, "not logged", ha="center", va="center", transform=axes.transAxes, color="0.5")
                axes.set_xticks([])
                axes.set_yticks([])
                continue
            axes.set_xlabel("env steps")
            axes.set_ylabel("return" if key in RETURNS else key.removeprefix(DIAGNOSTICS))
            axes.grid(alpha=0.3)
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


def save_figure(figure, path: str | Path) -> Path:
    """Write ``figure`` as an image (format from the suffix), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    figure.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


__all__ = [
    "Run",
    "Scan",
    "ZooConfig",
    "environments",
    "find_runs",
    "mean_and_spread",
    "panel_keys",
    "plot_runs",
    "read_run",
    "read_zoo_config",
    "save_figure",
    "scan_runs",
]
