"""One run folder read: RL Zoo's recorded configuration (``config.yml``, ``args.yml``), ``evaluations.npz``,
SB3's monitor files, ``progress.csv`` and tensorboard event files, as curves keyed by what they measure."""

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sb3_large.extras import ZOO as EXTRA
from sb3_large.files import ZooYamlLoader

Series = tuple[np.ndarray, np.ndarray]  # (env steps, values), steps increasing

EVAL_RETURN = "return/evaluation"
TRAIN_RETURN = "return/training"
RETURNS = (EVAL_RETURN, TRAIN_RETURN)
DIAGNOSTICS = "diagnostics/"
RUN_NUMBER = re.compile(r"_\d+$")
ENV_ID = re.compile(r"^[A-Za-z][\w.:-]*-v\d+$")
EVENTS = "events.out.tfevents."


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


class _LogLoader(ZooYamlLoader):
    """Reads RL Zoo's ``config.yml`` / ``args.yml`` without importing or running anything: their ``OrderedDict``
    becomes a dict (``ZooYamlLoader``), any other Python object its tag and value as text."""


def _python_object(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return f"{suffix} {value}".strip()


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


def _logged(run: Run) -> dict[str, Series]:
    """What SB3's loggers wrote in the run's folder: ``progress.csv``, then tensorboard's event files."""
    logged: dict[str, Series] = {}
    if (run.path / "progress.csv").is_file():
        logged.update(_progress(run.path / "progress.csv"))
    if any(n.startswith(EVENTS) for n in os.listdir(run.path)):
        events = _events(run.path)
        if events is None:
            run.notes.append(f"tensorboard event files not read: tensorboard is not installed; {EXTRA}")
        logged.update(events or {})
    return logged


def read_run(folder: Path, experiment: str = "", window: int = 10) -> Run:
    """Read one run folder: its evaluation return (``evaluations.npz``, else ``eval/mean_reward``), its training
    return (monitor files averaged over ``window`` episodes, else ``rollout/ep_rew_mean``), its diagnostics, its
    RL Zoo configuration and environment."""
    run = Run(Path(folder), experiment, config=read_zoo_config(Path(folder)))
    run.env = run.config.env if run.config is not None else _environment(run.path)
    logged = _logged(run)
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


__all__ = ["Run", "Series", "ZooConfig", "is_run_folder", "read_run", "read_zoo_config"]
