"""Every run folder below some folders, read once each and grouped into experiments: runs of the same RL Zoo
configuration are seeds of one; a run without a recorded configuration is one of its own (or, with
``seeds_by_name``, of the runs whose folder names differ only in a trailing ``_<n>``)."""

import csv
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sb3_large.plot.runs import RUN_NUMBER, Run, ZooConfig, is_run_folder, read_run

NO_RETURN = "no evaluations.npz, eval/mean_reward, finished episode in *.monitor.csv or rollout/ep_rew_mean"


@dataclass
class Scan:
    """The runs found below some folders, and the run folders left out, each with the reason."""

    runs: list[Run]
    skipped: list[tuple[Path, str]]


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


__all__ = ["Scan", "find_runs", "scan_runs"]
