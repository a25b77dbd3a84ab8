"""A model as a new run of RL Zoo's layout, for stock ``rl_zoo3.enjoy``: its zip and, for a model trained under
VecNormalize, the statistics and ``config.yml`` through which enjoy normalizes its observations."""

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rl_zoo3.utils import get_latest_run_id
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_large.files import atomic_path
from sb3_large.hub.origin import vec_normalize_of
from sb3_large.hub.settings import normalized, spaces_only

# RL Zoo folder names: a plain gymnasium id (no namespace "ns/", no "module:" import) and a plain algo name.
PLAIN_ENV_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PLAIN_ALGO = re.compile(r"[a-z0-9_]+")
# The RL Zoo algo name (``--algo``) of each algorithm: stock rl_zoo3.enjoy loads sb3_large.SAC's zips as SAC's.
ZOO_ALGOS = {
    "SAC": "sac",
    "TD3": "td3",
    "DDPG": "ddpg",
    "TQC": "tqc",
    "CrossQ": "crossq",
    "sb3_large.SAC": "sac",
    "sb3_large.TD3": "td3",
}


def zoo_run_folder(folder: str | os.PathLike, algo: str, env_id: str) -> Path:
    """RL Zoo's next run folder ``<folder>/<algo>/<env_id>_<n>``, checked to stay inside ``folder``.

    ``n`` is one past the latest run, so earlier runs (a user's own training) are never touched and
    ``rl_zoo3.enjoy`` plays the new one by default. ``env_id`` and ``algo`` become path parts: only plain names
    are accepted, and the run folder and the files in it must resolve (symbolic links followed) inside ``folder``.
    """
    if not isinstance(env_id, str) or not PLAIN_ENV_ID.fullmatch(env_id):
        raise ValueError(
            f"env_id: {env_id!r:.80} is not a plain gymnasium id (letters, digits, '_', '.', '-'; "
            "no namespace '/', no 'module:' prefix)"
        )
    if not isinstance(algo, str) or not PLAIN_ALGO.fullmatch(algo):
        raise ValueError(f"algo: {algo!r:.80} is not an RL Zoo algo name (lower-case letters, digits, '_')")
    root = Path(folder).resolve()
    run = root / algo / f"{env_id}_{get_latest_run_id(str(root / algo), env_id) + 1}"
    for path in (run, run / f"{env_id}.zip", run / env_id):
        if not path.resolve().is_relative_to(root):
            raise ValueError(f"zoo folder: {path} leads outside {root} (a symbolic link?); nothing was written")
    return run


def _save_zip(model: BaseAlgorithm, path: Path) -> None:
    with path.open("wb") as file:  # a file object: SB3 would add ".zip" to a path without it
        model.save(file)


def export_rl_zoo(model: BaseAlgorithm, folder: str | os.PathLike, algo: str, env_id: str) -> Path:
    """Lay ``model`` out as a new RL Zoo run for stock ``rl_zoo3.enjoy``: ``<folder>/<algo>/<env_id>_<n>/<env_id>.zip``
    and, for a model trained under VecNormalize, the ``<env_id>/vecnormalize.pkl`` and ``config.yml`` through which
    enjoy normalizes its observations. If a write fails, what was written is removed again (enjoy would take the
    partial run for the latest)."""
    stats = vec_normalize_of(model)
    run = zoo_run_folder(folder, algo, env_id)
    writers: dict[Path, Callable[[Path], Any]] = {Path(f"{env_id}.zip"): lambda path: _save_zip(model, path)}
    if stats is not None:
        vec_normalize = normalized(spaces_only(model.observation_space, model.action_space), stats)
        vec_normalize.training = True  # as rl_zoo3.train leaves it; enjoy freezes it
        writers[Path(env_id, "vecnormalize.pkl")] = lambda path: vec_normalize.save(str(path))
        writers[Path(env_id, "config.yml")] = lambda path: path.write_text("normalize: true\n")
    run.mkdir(parents=True)
    written = [run]  # removed in reverse order if a write fails
    try:
        for name, write in writers.items():
            target = run / name
            if not target.parent.is_dir():
                target.parent.mkdir()
                written.append(target.parent)
            with atomic_path(target) as staged:
                write(staged)
            written.append(target)
    except BaseException:
        for path in reversed(written):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        raise
    return run
