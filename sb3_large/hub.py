"""Share and load pretrained large models: safetensors weights + a JSON config, no pickle; Hub or folder.

    save_pretrained(model, "my_model")                   # folder: model.safetensors, sb3_large_config.json, README.md
    model = load_pretrained("my_model")                  # or a Hub repo id "org/name" (cache used offline)
    push_to_hub(model, "org/sac-large-Ant-v4")

    python -m sb3_large.hub info org/name
    python -m sb3_large.hub save logs/sac/Ant-v4_1 my_model            # an RL Zoo run (or an SB3 zip) -> a folder
    python -m sb3_large.hub download org/name --zoo-folder logs         # then rl_zoo3.enjoy --algo sac --env Ant-v4
    python -m sb3_large.hub push my_model --repo-id org/name

Loading is data, never code: classes named in the config are imported only from trusted modules
(``sb3_large.hub_schema``; ``trust_modules=[...]`` / ``--trust-module`` adds one), each file that is parsed is
capped in size before it is read, the config is checked field by field, its size against the weights file's before
anything is built, and the weights' header against the policy before anything large is allocated; the files must lie
in the model's folder. A folder or repo that only holds an SB3 ``.zip`` (pickled, e.g. RL Zoo's runs) loads only with
``trust_pickle=True``: unpickling runs whatever code the file's author put in it.
"""

import argparse
import inspect
import json
import math
import os
import platform
import re
import secrets
import stat
import tempfile
import warnings
import weakref
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import stable_baselines3
import torch as th
import yaml
from gymnasium import spaces
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.utils import HFValidationError, validate_repo_id
from huggingface_sb3 import EnvironmentName
from rl_zoo3.utils import get_latest_run_id
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize
from torch.overrides import TorchFunctionMode

import sb3_large
from sb3_large.checks import is_int
from sb3_large.cli import run_command
from sb3_large.hub_schema import (
    ALGORITHM_KWARGS,
    CONFIG_NAME,
    FORMAT_VERSION,
    MAX_NESTING,
    ConfigError,
    check_top_level,
    decode_kwargs,
    printable,
    resolve_class,
    space_from_json,
    validate_config,
)
from sb3_large.hub_settings import decode_settings, encode_settings, normalized, spaces_only, vec_normalize_to_json
from sb3_large.networks import count_parameters
from sb3_large.policies.common import LargePolicyMixin, check_features_extractor, check_optimizer
from sb3_large.return_scale import ReturnScale

WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
# The config's ``algorithm`` -> the class a model is saved from and loaded into (exact classes: a model of
# sb3_large.SAC comes back as one, with its cross-entropy loss for categorical critics).
ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "SAC": SAC,
    "TD3": TD3,
    "DDPG": DDPG,
    "TQC": TQC,
    "CrossQ": CrossQ,
    "sb3_large.SAC": sb3_large.SAC,
    "sb3_large.TD3": sb3_large.TD3,
}
# The names safetensors gives torch dtypes in a file's header.
SAFETENSORS_DTYPES = {
    th.float64: "F64",
    th.float32: "F32",
    th.float16: "F16",
    th.bfloat16: "BF16",
    th.int64: "I64",
    th.int32: "I32",
    th.int16: "I16",
    th.int8: "I8",
    th.uint8: "U8",
    th.bool: "BOOL",
}
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
# The dtypes a policy's weights have: only tensors of these count toward the size bound (a file padded with
# one-byte integers holds no weights).
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
# Caps on the settings that multiply the modules a policy builds, far above any real model (a few to a few dozen
# layers, ensembles of 2 to 10 critics): the size bound alone allows a small file to describe thousands of layers,
# each built (on the meta device) before the weights are compared.
MAX_LAYERS = 64
MAX_CRITICS = 64
# ... and on all the layers of a policy together (every critic's, stacked or not: each is built on its own).
MAX_POLICY_LAYERS = 1024
# Where an RL Zoo repo on the Hub (rl_zoo3.push_to_hub) keeps its VecNormalize statistics: not read, but warned of.
HUB_ZOO_STATISTICS = "vec_normalize.pkl"
# Weight names of the critics (the online ones; targets are copies): separate Q networks, stacked ones.
SEPARATE_CRITIC = re.compile(r"critic\.qf(\d+)\.")
STACKED_CRITICS = "critic.q_ensemble."
# DDPG's (policy_delay, target_policy_noise, target_noise_clip): SB3's DDPG is TD3 with these.
DDPG_SETTINGS = (1, 0.1, 0.0)
# How RL Zoo writes a run's args.yml (yaml.dump of an OrderedDict).
ZOO_ARGS_TAG = "tag:yaml.org,2002:python/object/apply:collections.OrderedDict"
COMMIT_MESSAGE = "Upload sb3-large model"
# Caps on the size of each file the loader parses, far above any real one (a config or an RL Zoo run's args.yml is
# a few KB; an SB3 zip's JSON part holds its spaces, pickled, so an image space's bounds too): the parsers' time and
# memory grow with the file, so its size is checked before a byte of it is read.
MAX_CONFIG_BYTES = 2**20
MAX_RUN_ARGS_BYTES = 2**18
MAX_ZIP_DATA_BYTES = 2**24


class PickleRefusedError(ValueError):
    """A pickled SB3 zip was found and ``trust_pickle`` was not given."""


@dataclass(frozen=True)
class _Origin:
    """What a loaded model came with that SB3 keeps nowhere without an env: its env id and VecNormalize
    statistics, for ``save_pretrained`` and ``export_rl_zoo`` to write again. ``statistics_known`` is False where
    the source could not tell (an SB3 zip outside an RL Zoo run): ``vec_normalize`` None is then no answer."""

    env_id: str | None
    vec_normalize: dict[str, Any] | None
    statistics_known: bool = True


# Each model load_pretrained returned -> its _Origin; weak, so that an entry goes with its model.
_LOADED: "weakref.WeakKeyDictionary[BaseAlgorithm, _Origin]" = weakref.WeakKeyDictionary()


# -- JSON encoding of policy kwargs and spaces -----------------------------------------------------------------
def _encode(value: Any, where: str, depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_NESTING:
        raise TypeError(f"{where}: nested more than {MAX_NESTING} levels deep; {CONFIG_NAME} holds no deeper settings")
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _encode(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, type):
        return {"__class__": f"{value.__module__}.{value.__qualname__}"}
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored in {CONFIG_NAME} (use names or classes)")


def _space_to_json(space: spaces.Space) -> dict[str, Any]:
    if not isinstance(space, spaces.Box):
        raise TypeError(f"only Box spaces are stored, got {type(space).__name__}")
    return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(), "dtype": str(space.dtype)}


# -- saving --------------------------------------------------------------------------------------------------
def _model_card(config: dict[str, Any]) -> str:
    # The env id and metric names are the user's text: the front matter's tag is a JSON string (valid YAML, so a
    # quote, colon or line break cannot add keys), and in the body line breaks are written as escapes.
    kwargs = json.dumps(config["policy_kwargs"], indent=2)
    metrics = "\n".join(printable(f"- {k}: {v}") for k, v in config["metrics"].items()) or "- none recorded"
    return f"""---
library_name: sb3-large
tags:
- reinforcement-learning
- stable-baselines3
- {json.dumps(config["env_id"] or "continuous-control")}
---
# {config["algorithm"]} with large networks (sb3-large) on {printable(config["env_id"] or "an unnamed env")}

Policy `{config["policy_class"]}`, {config["parameters"]["total"]:,} parameters.

## Metrics
{metrics}

## Policy kwargs
```json
{kwargs}
```

## Load
```python
from sb3_large.hub import load_pretrained

model = load_pretrained("<this repo id or folder>")
```
Weights are safetensors and the config is JSON: loading runs no pickle.
"""


def _check_destination(folder: Path) -> None:
    """Refuse a folder that holds anything but an earlier ``save_pretrained``: its files are the user's."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"folder: {folder} is a file; save_pretrained writes a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / CONFIG_NAME).is_file():
        raise FileExistsError(
            f"folder: {folder} is not empty and holds no {CONFIG_NAME} (not an sb3-large model folder); "
            "nothing was written. Choose a new or empty folder."
        )


def _algorithm_name(model: BaseAlgorithm) -> str:
    """The config's ``algorithm`` of ``model``: its exact class's name in ``ALGORITHMS``."""
    algorithm = next((name for name, algo in ALGORITHMS.items() if type(model) is algo), None)
    if algorithm is None:
        raise ValueError(f"model: algorithm {type(model).__name__} is not supported; allowed: {', '.join(ALGORITHMS)}")
    return algorithm


def _init_kwargs(algo: type) -> set[str]:
    """The kwargs ``algo(...)`` takes: those the ``__init__``s of its MRO name, down to the first that passes no
    ``**kwargs`` on (SB3's algorithms; ``sb3_large.SAC`` adds ``compile`` and ``precision``). CrossQ has a ``tau``
    attribute but no such kwarg, DDPG a ``policy_delay``."""
    names: set[str] = set()
    for klass in algo.__mro__:
        if "__init__" in vars(klass):
            params = inspect.signature(vars(klass)["__init__"]).parameters
            names |= {n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                break
    return names


def _return_scale_of(model: BaseAlgorithm) -> dict[str, float] | None:
    """The statistics of the return scale of ``sb3_large``'s learners (``return_bound``), if the model has one (a
    stock SAC that loaded such a model keeps the attribute, and takes no ``return_bound``: the caller asks only the
    learners)."""
    scale = getattr(model, "return_scale", None)
    return None if scale is None else cast(ReturnScale, scale).statistics()


def _vec_normalize_of(model: BaseAlgorithm) -> dict[str, Any] | None:
    """The statistics of the VecNormalize the model acts under: its env's, else those it was loaded with."""
    vec_normalize = model.get_vec_normalize_env()
    if vec_normalize is not None:
        return vec_normalize_to_json(vec_normalize)
    return _LOADED[model].vec_normalize if model in _LOADED else None


def _staging_file(folder: Path, name: str) -> Path:
    """A new empty file in ``folder`` to write ``name`` into before ``os.replace``: created with the mode the
    user's umask gives (``mkstemp``'s would be 0600), under a name no other writer picks."""
    path = folder / f".{name}.{secrets.token_hex(8)}.tmp"
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    return path


def save_pretrained(
    model: BaseAlgorithm, folder: str | os.PathLike, env_id: str | None = None, metrics: dict | None = None
) -> Path:
    """Write ``model`` to ``folder``: weights, config and model card, each replaced atomically.

    ``folder`` must be new, empty, or an earlier sb3-large model folder; only those three files are
    written, anything else in the folder (a Hub clone's ``.git``, a user's notes) is left alone.
    """
    algorithm = _algorithm_name(model)
    folder = Path(folder)
    _check_destination(folder)
    init_kwargs = _init_kwargs(type(model))
    policy: Any = model.policy
    env = model.get_env()
    if env_id is None and env is not None:
        spec = env.get_attr("spec", [0])[0]
        env_id = spec.id if spec is not None else None
    if env_id is None and model in _LOADED:
        env_id = _LOADED[model].env_id
    vec_normalize = _vec_normalize_of(model)
    if env is None and vec_normalize is None and not (model in _LOADED and _LOADED[model].statistics_known):
        _warn_unknown_origin(env_id)
    config = {
        "format_version": FORMAT_VERSION,
        "algorithm": algorithm,
        "policy_class": f"{type(policy).__module__}.{type(policy).__qualname__}",
        "policy_kwargs": _encode(dict(model.policy_kwargs), "policy_kwargs"),
        "algorithm_kwargs": encode_settings(model, [k for k in ALGORITHM_KWARGS if k in init_kwargs]),
        "vec_normalize": vec_normalize,
        "return_scale": _return_scale_of(model) if "return_bound" in init_kwargs else None,
        "observation_space": _space_to_json(model.observation_space),
        "action_space": _space_to_json(model.action_space),
        "env_id": env_id,
        "versions": {
            "sb3_large": sb3_large.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "torch": th.__version__,
            "python": platform.python_version(),
        },
        "parameters": {
            "actor": count_parameters(policy.actor),
            "critic": count_parameters(policy.critic),
            "total": count_parameters(policy),
        },
        "metrics": _encode(dict(metrics or {}), "metrics"),
    }
    validate_config(config, ALGORITHMS)  # never write a config that would not load
    tensors = {k: v.detach().cpu().contiguous() for k, v in _weights(policy).items()}
    writers = {
        WEIGHTS_NAME: lambda path: save_file(tensors, path, metadata={"format": "sb3-large"}),
        CARD_NAME: lambda path: Path(path).write_text(_model_card(config)),
        CONFIG_NAME: lambda path: Path(path).write_text(json.dumps(config, indent=2) + "\n"),  # last: marks the folder
    }
    folder.mkdir(parents=True, exist_ok=True)
    staged: dict[str, str] = {}
    try:
        for name, write in writers.items():
            staged[name] = str(_staging_file(folder, name))
            mode = stat.S_IMODE(os.stat(staged[name]).st_mode)
            write(staged[name])
            os.chmod(staged[name], mode)  # safetensors replaces the file it is given by one of mode 0600
        for name, path in staged.items():
            os.replace(path, folder / name)
    finally:
        for path in staged.values():
            Path(path).unlink(missing_ok=True)
    return folder


def _warn_unknown_origin(env_id: str | None) -> None:
    """Warn that a model without an env is saved without VecNormalize statistics (and env id): nothing else would
    tell, and a model trained under VecNormalize would act on raw observations after loading."""
    missing, pass_env_id = (
        ("vec_normalize", "") if env_id else ("vec_normalize and env_id", " and pass env_id= (CLI: --env)")
    )
    warnings.warn(
        f"{missing}: unknown to save_pretrained (the model has no env), written as null; a model trained under "
        "VecNormalize (RL Zoo's normalize: true) would act on raw observations after loading. Before saving, give "
        f"the model its env in the training statistics, model.set_env(VecNormalize.load('vecnormalize.pkl', venv))"
        f"{pass_env_id}; an RL Zoo run folder has both: python -m sb3_large.hub save <run folder> <folder> "
        "(or load_pretrained(run_folder, trust_pickle=True))",
        UserWarning,
        stacklevel=3,
    )


# -- loading -------------------------------------------------------------------------------------------------
def _repo_id(source: str | os.PathLike) -> str | None:
    """``source`` as a Hub repo id, or None where it can only be meant as a path."""
    if not isinstance(source, str) or source.startswith((".", "/", "~")) or "\\" in source or source.count("/") != 1:
        return None
    if Path(source.split("/")[0]).is_dir():  # "models/sac" next to a folder "models" is a mistyped path
        return None
    try:
        validate_repo_id(source)
    except HFValidationError:
        return None
    return None if Path(source).suffix in (".zip", ".json", ".safetensors") else source


def resolve(
    source: str | os.PathLike, revision: str | None = None, files: Iterable[str] = (CONFIG_NAME, WEIGHTS_NAME)
) -> Path:
    """A local folder, or a Hub repo id of which only ``files`` are fetched into the huggingface_hub cache."""
    return _locate(source, revision, files)[0]


def _locate(source: str | os.PathLike, revision: str | None, files: Iterable[str]) -> tuple[Path, Path]:
    """``resolve``'s folder, and the folder its files must resolve inside (``_model_file``): a local folder
    itself; for a Hub repo, the repo's part of the cache, since a snapshot's files link into its blob store."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path, path
    if path.exists():
        raise NotADirectoryError(f"source: {source} is a file; give the model's folder (or a Hub repo id)")
    repo_id = _repo_id(source)
    if repo_id is None:
        raise FileNotFoundError(f"source: no folder {str(source)!r} (and it is not a Hub repo id 'org/name')")
    try:
        snapshot = snapshot_download(repo_id, revision=revision, allow_patterns=list(files), library_name="sb3-large")
    except Exception as exc:  # offline with no cache, unknown repo, network down: one clear error
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise FileNotFoundError(
            f"source: no local folder {repo_id!r}, and repo {repo_id!r}{f' at {revision!r}' if revision else ''} is "
            f"not in the local Hugging Face cache and could not be downloaded{offline}: {type(exc).__name__}: {exc}"
        ) from None
    return Path(snapshot), Path(snapshot).parents[1]  # <cache>/models--org--name/snapshots/<commit>


def _model_file(folder: Path, name: str, root: Path) -> Path:
    """``folder / name``, refused if it resolves (symbolic links followed) outside ``root``: a cloned or downloaded
    model must not make the loader read, or quote in an error, a file of the user's elsewhere."""
    path = folder / name
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(
            printable(f"{name}: {path} leads outside the model's folder {root} (a symbolic link?); nothing was read")
        )
    return path


def _pickled_zip_algorithm(zip_path: Path) -> type[BaseAlgorithm]:
    """The algorithm that saved an SB3 zip, from the zip's JSON part (nothing unpickled). SB3 stores no class name,
    but the algorithms' attributes differ; DDPG is TD3 with ``policy_delay``, target noise and clip fixed."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            # The size the entry declares: zipfile reads no more than that, however much the entry inflates to.
            if archive.getinfo("data").file_size > MAX_ZIP_DATA_BYTES:
                raise _too_large(f"{zip_path.name}: data", MAX_ZIP_DATA_BYTES)
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(printable(f"{zip_path.name}: not a model saved by SB3 ({exc})")) from None
    learner = {"compile", "precision"} <= set(data)  # sb3_large.SAC / TD3
    if "buffer_size" in data:  # off-policy: on-policy zips (PPO, A2C) hold ent_coef too
        if "top_quantiles_to_drop_per_net" in data:
            return TQC
        if "target_policy_noise" in data:
            settings = tuple(data.get(key) for key in ("policy_delay", "target_policy_noise", "target_noise_clip"))
            return sb3_large.TD3 if learner else DDPG if settings == DDPG_SETTINGS else TD3
        if "ent_coef" in data:
            return CrossQ if "policy_delay" in data else sb3_large.SAC if learner else SAC
    raise ValueError(printable(f"{zip_path.name}: not a model of {', '.join(ALGORITHMS)}"))


class _RunArgsLoader(yaml.SafeLoader):
    """YAML's safe loader that also reads the ``OrderedDict`` RL Zoo writes a run's ``args.yml`` as, as a dict."""


_RunArgsLoader.add_constructor(ZOO_ARGS_TAG, lambda loader, node: dict(loader.construct_sequence(node, deep=True)[0]))


def _run_env_id(folder: Path, root: Path, zip_name: str | None) -> str | None:
    """The env id of the RL Zoo run ``folder`` (from its ``<env>/args.yml``), None if it is not one. For a zip the
    user named, only if it is the run's final model ``<env>.zip``: no other run's files are read."""
    if zip_name is None:
        found = sorted(folder.glob("*/args.yml"))
    else:
        found = [path for path in [folder / Path(zip_name).stem / "args.yml"] if path.is_file()]
    if len(found) != 1:  # as RL Zoo finds a run's arguments
        return None
    path = _model_file(folder, found[0].relative_to(folder).as_posix(), root)
    data = _read_capped(path, MAX_RUN_ARGS_BYTES)
    try:
        args = yaml.load(data, Loader=_RunArgsLoader)
    # The OrderedDict tag on other data; YAML's composer recurses once per level of nesting.
    except (yaml.YAMLError, TypeError, IndexError, ValueError, RecursionError) as exc:
        warnings.warn(printable(f"{path}: not plain data, the run's env id is not read ({exc})"), stacklevel=3)
        return None
    env_id = args.get("env") if isinstance(args, dict) else None
    if not isinstance(env_id, str) or (zip_name is not None and zip_name != f"{EnvironmentName(env_id)}.zip"):
        return None
    return env_id


def _run_vec_normalize(folder: Path, root: Path, env_id: str | None, model: BaseAlgorithm) -> dict[str, Any] | None:
    """The statistics of the RL Zoo run ``folder``'s VecNormalize (its ``<env>/vecnormalize.pkl``, unpickled)."""
    if env_id is None or not (folder / EnvironmentName(env_id) / "vecnormalize.pkl").is_file():
        return None
    path = _model_file(folder, f"{EnvironmentName(env_id)}/vecnormalize.pkl", root)
    return vec_normalize_to_json(VecNormalize.load(str(path), spaces_only(model.observation_space, model.action_space)))


def _load_pickled(folder: Path, root: Path, zip_name: str | None, trust_pickle: bool, env, device) -> BaseAlgorithm:
    """A model from an SB3 zip, unpickled only with ``trust_pickle``, as the class that saved it. In an RL Zoo run
    folder: its final model, with the run's env id and VecNormalize statistics."""
    zips = [zip_name] if zip_name else sorted(path.name for path in folder.glob("*.zip"))
    if not zips:
        hint = "" if trust_pickle else " (a Hub repo's .zip files are fetched only with trust_pickle=True)"
        raise ValueError(
            printable(f"source: {folder} holds no {CONFIG_NAME} (not an sb3-large model) and no SB3 .zip{hint}")
        )
    if not trust_pickle:  # before any other file of the folder is read
        raise PickleRefusedError(
            printable(
                f"source: {folder} holds a pickled SB3 model ({', '.join(zips)}) and no {CONFIG_NAME}; unpickling "
                "runs arbitrary code from the file's author. Pass trust_pickle=True (CLI: --trust-pickle) if you "
                "trust it."
            )
        )
    env_id = _run_env_id(folder, root, zip_name)
    final = f"{EnvironmentName(env_id)}.zip" if env_id else None
    zip_path = _model_file(folder, zip_name or (final if final in zips else zips[0]), root)
    model = _pickled_zip_algorithm(zip_path).load(zip_path, env=env, device=device)
    vec_normalize = _run_vec_normalize(folder, root, env_id, model)
    if vec_normalize is None and zip_name is None and (folder / HUB_ZOO_STATISTICS).is_file():
        warnings.warn(
            printable(
                f"{HUB_ZOO_STATISTICS}: {folder} holds the VecNormalize statistics of an RL Zoo Hub repo, which are "
                "not read; the model acts on normalized observations: wrap its env with "
                f"VecNormalize.load({HUB_ZOO_STATISTICS!r}, env) yourself (training=False, norm_reward=False)"
            ),
            stacklevel=3,
        )
    # Outside an RL Zoo run nothing says whether the model was trained under VecNormalize.
    return _with_origin(model, env_id, vec_normalize, statistics_known=env_id is not None)


def read_config(folder: Path, root: Path | None = None) -> dict[str, Any]:
    """The folder's config, parsed and checked against the format (``sb3_large.hub_schema``); the file must
    resolve inside ``root`` (default: the folder)."""
    if not (folder / CONFIG_NAME).is_file():
        raise FileNotFoundError(_not_a_model_folder(folder))
    return validate_config(_parse_config(folder, root or folder), ALGORITHMS)


def _not_a_model_folder(folder: Path) -> str:
    """What a folder without a config is (an RL Zoo run, an SB3 model's folder, neither) and how to make a model
    folder of it."""
    zips = sorted(path.name for path in folder.glob("*.zip"))
    runs = sorted(path.relative_to(folder).as_posix() for path in folder.glob("*/args.yml"))
    if not zips:
        return printable(
            f"source: {folder} holds no {CONFIG_NAME}: not a model folder of sb3_large.hub (written by "
            "save_pretrained or python -m sb3_large.hub save)"
        )
    if runs:
        what, source = f"an RL Zoo run ({', '.join(zips + runs[:1])})", folder
    else:
        what, source = f"an SB3 model's folder ({', '.join(zips)})", folder / zips[0]
    return printable(
        f"source: {folder} is {what}, not a model folder of sb3_large.hub (it holds no {CONFIG_NAME}); make one "
        f"with: python -m sb3_large.hub save {source} <new model folder>"
    )


def _read_capped(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, refused unread if the file system gives it more than ``limit`` bytes."""
    with path.open("rb") as file:
        if os.fstat(file.fileno()).st_size > limit:
            raise _too_large(path.name, limit)
        data = file.read(limit + 1)  # one byte past: a file may hold more than its size said (it grew since)
    if len(data) > limit:
        raise _too_large(path.name, limit)
    return data


def _too_large(name: str, limit: int) -> ValueError:
    return ValueError(
        printable(f"{name}: larger than the {limit:,} bytes allowed (far above any real one); nothing was parsed")
    )


def _parse_config(folder: Path, root: Path) -> Any:
    """The folder's config as read from JSON, unchecked; the file must resolve inside ``root``."""
    data = _read_capped(_model_file(folder, CONFIG_NAME, root), MAX_CONFIG_BYTES)
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{CONFIG_NAME}: not valid JSON ({exc}); the file is truncated or corrupt") from None
    except ValueError as exc:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise ValueError(printable(f"{CONFIG_NAME}: cannot be read ({exc})")) from None
    except RecursionError:
        raise ConfigError("(top level)", f"lists and objects are nested more than {MAX_NESTING} levels deep") from None


class _MetaTensors(TorchFunctionMode):
    """Under ``torch.device("meta")``: keep ``.to(device)`` on meta tensors, skip data-dependent value checks.

    SB3's policies move each network to their device while it is built; a meta tensor cannot be copied out.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is th.Tensor.to and args[0].is_meta:
            return args[0]
        if func is th._is_all_true and args[0].is_meta:  # torch.distributions' argument validation
            return True
        return func(*args, **(kwargs or {}))


def _expected_tensors(model: BaseAlgorithm) -> dict[str, th.Tensor]:
    """The policy's state dict as shapes and dtypes only: built on the meta device, so nothing is allocated."""
    with th.device("meta"), _MetaTensors():
        policy = model.policy_class(model.observation_space, model.action_space, lambda _: 0.0, **model.policy_kwargs)
    return _weights(policy)


def _weights(policy: th.nn.Module) -> dict[str, th.Tensor]:
    # Optimizer states (OFENet's extra state) are training state, not weights: a Hub model carries none.
    return {k: v for k, v in policy.state_dict().items() if not k.endswith("_extra_state")}


def _read_header(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """The weights file's tensors as names -> (shape, dtype), read from its header alone."""
    try:
        with safe_open(str(path), framework="pt") as weights:
            return {
                k: (tuple(weights.get_slice(k).get_shape()), weights.get_slice(k).get_dtype()) for k in weights.keys()
            }
    except (SafetensorError, OSError) as exc:
        raise ValueError(
            printable(f"{WEIGHTS_NAME}: cannot be read ({exc}); the file is missing, truncated or corrupt")
        ) from None


def _layers(kwargs: dict[str, Any], names: tuple[str, str], widths: Any, widths_name: str) -> tuple[int, str | None]:
    """The hidden layers of one network of the policy as ``policies.common.resolve_specs`` settles them (its own
    ``depth``, else as many as SB3's ``net_arch`` widths, else the shared ``depth``), and the setting that says so;
    0 and None where none is written."""
    for name in names:  # the new name and the old one
        own = kwargs.get(name)
        if isinstance(own, dict) and is_int(own.get("depth")):
            return max(own["depth"], 0), f"{name}.depth {own['depth']}"
    if isinstance(widths, list):
        return len(widths), f"{widths_name} of length {len(widths)}"
    if is_int(kwargs.get("depth")):
        return max(kwargs["depth"], 0), f"depth {kwargs['depth']}"
    return 0, None


def _least_size(kwargs: dict[str, Any]) -> tuple[int, int, str]:
    """Lower bounds on the number of tensors and of numbers in the state dict of the policy ``kwargs`` describe,
    and the settings they come from; read from the settings as written, before they are checked one by one.

    Every hidden layer and every network's output layer holds a weight tensor of at least one number, in each
    critic; stacked critics (``ensemble_critics``) share tensors but not numbers. The bodies' ``depth``,
    ``net_arch``'s length, ``n_critics`` and OFENet's ``layers`` are the settings that multiply the modules a policy
    builds.
    """
    net_arch = kwargs.get("net_arch")
    if isinstance(net_arch, dict):
        (pi, qf), names = (net_arch.get("pi"), net_arch.get("qf")), ("net_arch.pi", "net_arch.qf")
    else:
        (pi, qf), names = (net_arch, net_arch), ("net_arch", "net_arch")
    actor_depth, actor_words = _layers(kwargs, ("actor_net", "actor"), pi, names[0])
    critic_depth, critic_words = _layers(kwargs, ("critic_net", "critic"), qf, names[1])
    n_critics = max(kwargs["n_critics"], 1) if is_int(kwargs.get("n_critics")) else 1
    # The policy takes the old name ``ofenet`` when ``ofenet_kwargs`` is missing or null (``_take_old_names``).
    ofenet = next((kwargs[name] for name in ("ofenet_kwargs", "ofenet") if isinstance(kwargs.get(name), dict)), None)
    ofenet_layers = max(ofenet["layers"], 0) if isinstance(ofenet, dict) and is_int(ofenet.get("layers")) else 0
    critic_tensors = critic_depth + 1 if kwargs.get("ensemble_critics") is True else (critic_depth + 1) * n_critics
    tensors = actor_depth + 1 + critic_tensors + 2 * ofenet_layers
    numbers = actor_depth + 1 + (critic_depth + 1) * n_critics + 2 * ofenet_layers
    words = [
        actor_words,
        critic_words,
        f"n_critics {n_critics}" if "n_critics" in kwargs else None,
        f"ofenet_kwargs.layers {ofenet_layers}" if ofenet_layers else None,
    ]
    return tensors, numbers, ", ".join(dict.fromkeys(w for w in words if w)) or "its settings"


def _check_caps(kwargs: dict[str, Any]) -> None:
    """Refuse a size-like setting above its cap (``MAX_LAYERS``, ``MAX_CRITICS``), as written."""
    sizes: list[tuple[str, Any, int, str]] = [
        ("depth", kwargs.get("depth"), MAX_LAYERS, "layers"),
        ("n_critics", kwargs.get("n_critics"), MAX_CRITICS, "critics"),
    ]
    for name in ("actor_net", "actor", "critic_net", "critic"):
        if isinstance(kwargs.get(name), dict):
            sizes.append((f"{name}.depth", kwargs[name].get("depth"), MAX_LAYERS, "layers"))
    for name in ("ofenet_kwargs", "ofenet"):
        if isinstance(kwargs.get(name), dict):
            sizes.append((f"{name}.layers", kwargs[name].get("layers"), MAX_LAYERS, "layers"))
    net_arch = kwargs.get("net_arch")
    widths = (
        {"net_arch": net_arch}
        if not isinstance(net_arch, dict)
        else {f"net_arch.{k}": net_arch.get(k) for k in ("pi", "qf")}
    )
    for name, value in widths.items():
        if isinstance(value, list):
            sizes.append((name, len(value), MAX_LAYERS, "layers"))
    for name, value, cap, what in sizes:
        if is_int(value) and value > cap:
            raise ConfigError(
                f"policy_kwargs.{name}",
                f"{value} {what}, more than the {cap} allowed (no real model approaches it; nothing was built)",
            )


def _check_size(config: Any, header: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Refuse a config whose policy has more layers than the weights file holds, before its settings are checked
    one by one (a list of a million layer widths) and before anything is built (the work of building a policy,
    even on the meta device, grows with its layers, not with the file)."""
    kwargs = config.get("policy_kwargs") if isinstance(config, dict) else None
    if not isinstance(kwargs, dict):
        return  # not a config: validate_config says what is wrong
    _check_caps(kwargs)
    tensors, numbers, words = _least_size(kwargs)
    if numbers > MAX_POLICY_LAYERS:  # each layer holds at least one number: ``numbers`` counts the layers
        raise ConfigError(
            "policy_kwargs",
            f"{words}: a policy of at least {numbers} layers, more than the {MAX_POLICY_LAYERS} allowed (no real "
            "model approaches it; nothing was built)",
        )
    floating = {name: (shape, dtype) for name, (shape, dtype) in header.items() if dtype in FLOAT_DTYPES}
    held = sum(math.prod(shape) for shape, _ in floating.values())
    if tensors > len(floating) or numbers > held:
        raise ConfigError(
            "policy_kwargs",
            f"{words}: a policy of at least {tensors} weight tensors of {numbers} numbers, but {WEIGHTS_NAME} "
            f"holds {len(floating)} floating-point tensors of {held} numbers; the config does not describe these "
            "weights (nothing was built)",
        )
    critics = _critics_in(floating)
    if is_int(kwargs.get("n_critics")) and critics is not None and kwargs["n_critics"] != critics:
        raise ConfigError(
            "policy_kwargs.n_critics",
            f"{kwargs['n_critics']}, but {WEIGHTS_NAME} holds {critics} critics; the config does not describe these "
            "weights (nothing was built)",
        )


def _critics_in(header: dict[str, tuple[tuple[int, ...], str]]) -> int | None:
    """How many critics the weights file holds: separate Q networks (SB3's and ours) are ``critic.qf<i>``, our
    stacked ones ``critic.q_ensemble`` with the critics along the first dimension; None for another layout.

    The numbers bound alone lets stacked critics multiply (their tensors do not), and each is built on its own."""
    separate = {match.group(1) for name in header if (match := SEPARATE_CRITIC.match(name))}
    if separate:
        return len(separate)
    stacked = [shape[0] for name, (shape, _) in header.items() if name.startswith(STACKED_CRITICS) and shape]
    return max(stacked) if stacked else None


def _check_header(header: dict[str, tuple[tuple[int, ...], str]], expected: dict[str, th.Tensor]) -> None:
    """The weights file's header (names, shapes, dtypes) against the policy the config describes."""
    missing, unexpected = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{WEIGHTS_NAME} does not match {CONFIG_NAME}: missing tensors {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for name, tensor in expected.items():
        want = (tuple(tensor.shape), SAFETENSORS_DTYPES.get(tensor.dtype, str(tensor.dtype)))
        if header[name] != want:
            raise ValueError(
                f"{WEIGHTS_NAME} does not match {CONFIG_NAME}: tensor {name!r} is {header[name][1]} "
                f"{list(header[name][0])}, the policy needs {want[1]} {list(want[0])}"
            )


# What numpy says when an array's byte size (or one of its dimensions, past 2**63) exceeds what it can index.
NUMPY_SIZE_LIMITS = ("array is too big", "Maximum allowed dimension exceeded")


def load_pretrained(
    source: str | os.PathLike,
    env=None,
    device: str = "auto",
    revision: str | None = None,
    trust_pickle: bool = False,
    trust_modules: Iterable[str] = (),
) -> BaseAlgorithm:
    """A ready SB3 model from a folder or Hub repo written by ``save_pretrained`` (or, with ``trust_pickle``, from
    an SB3 zip, a folder or repo holding one, or an RL Zoo run).

    Classes named in the config are imported only from trusted modules (see ``sb3_large.hub_schema``);
    ``trust_modules=["my_pkg"]`` adds a package whose code you trust. The config's layers are bounded by the
    weights file before anything is built, and the weights' names, shapes and dtypes are checked against the
    config's policy before anything large is allocated; NaN or Inf is refused. The ``env`` of a model trained
    under VecNormalize is wrapped in its statistics.
    """
    trust_modules = [trust_modules] if isinstance(trust_modules, str) else list(trust_modules)
    path = Path(source).expanduser()
    if path.suffix == ".zip" and path.is_file():
        return _load_pickled(path.parent, path.parent, path.name, trust_pickle, env, device)
    folder, root = _locate(source, revision, (CONFIG_NAME, WEIGHTS_NAME))
    if not (folder / CONFIG_NAME).is_file():
        if trust_pickle and not path.is_dir():
            folder, root = _locate(source, revision, ("*.zip", HUB_ZOO_STATISTICS))
        return _load_pickled(folder, root, None, trust_pickle, env, device)
    config = _parse_config(folder, root)
    check_top_level(config, ALGORITHMS)  # another format or algorithm: refused before the weights are opened
    weights = _model_file(folder, WEIGHTS_NAME, root)
    header = _read_header(weights)
    _check_size(config, header)
    validate_config(config, ALGORITHMS)
    algo_class: Any = ALGORITHMS[config["algorithm"]]  # an off-policy algorithm class
    policy_class = resolve_class(config["policy_class"], "policy_class", trust_modules)
    policy_base = algo_class.policy_aliases["MlpPolicy"]
    if not issubclass(policy_class, policy_base):
        raise ConfigError(
            "policy_class",
            f"{config['policy_class']!r} is not a policy of {config['algorithm']} "
            f"({policy_base.__module__}.{policy_base.__qualname__} subclass)",
        )
    policy_kwargs = decode_kwargs(config["policy_kwargs"], "policy_kwargs", trust_modules)
    observation_space = space_from_json(config["observation_space"])
    action_space = space_from_json(config["action_space"])
    algorithm_kwargs = decode_settings(config.get("algorithm_kwargs", {}), action_space)
    taken = _init_kwargs(algo_class)
    for key in algorithm_kwargs:
        if key not in taken:
            raise ConfigError(f"algorithm_kwargs.{key}", f"{config['algorithm']} takes no such setting")
    if "use_sde" in taken and "use_sde" not in algorithm_kwargs:  # written before use_sde was stored there
        algorithm_kwargs["use_sde"] = bool(policy_kwargs.get("use_sde", False))
    kwargs = dict(algorithm_kwargs, policy_kwargs=policy_kwargs, device=device)
    if env is not None:
        model = algo_class(policy_class, env, _init_setup_model=False, **kwargs)
        for name, space in (("observation_space", observation_space), ("action_space", action_space)):
            if getattr(model, name) != space:
                raise ValueError(f"env: its {name} {getattr(model, name)} differs from the model's {space}")
    else:
        model = algo_class(policy_class, None, _init_setup_model=False, **kwargs)
        model.observation_space, model.action_space, model.n_envs = observation_space, action_space, 1
        if getattr(model, "target_entropy", None) == "auto":  # SAC/TQC derive it from an env we do not have
            model.target_entropy = -float(np.prod(model.action_space.shape))
    try:
        if not issubclass(policy_class, LargePolicyMixin):  # SB3's own policies: the checks ours run themselves
            check_features_extractor(observation_space, policy_kwargs)
            check_optimizer(policy_kwargs)
        expected = _expected_tensors(model)
    except (ValueError, TypeError, RuntimeError, AssertionError) as exc:  # SB3 asserts, torch raises RuntimeError
        raise ValueError(printable(f"{CONFIG_NAME}: the policy cannot be built: {exc}")) from None
    _check_header(header, expected)
    try:
        model._setup_model()
    except (MemoryError, ValueError) as exc:
        # The policy fits (it is the weights file's size): memory errors, and numpy's refusals of an array past its
        # size or dimension limits, are the replay buffer's.
        if isinstance(exc, MemoryError) or any(limit in str(exc) for limit in NUMPY_SIZE_LIMITS):
            raise ConfigError(
                "algorithm_kwargs.buffer_size",
                f"a replay buffer of {model.buffer_size} transitions cannot be allocated here ({exc})",
            ) from None
        raise ValueError(printable(f"{CONFIG_NAME}: algorithm_kwargs: the model cannot be set up: {exc}")) from None
    tensors = load_file(str(weights), device="cpu")
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(th.isfinite(tensor).all()):
            raise ValueError(f"{WEIGHTS_NAME}: tensor {name!r} holds NaN or Inf; refusing non-finite weights")
    # Every tensor, target networks included (the header matched them all); not strict only for the OFENet
    # optimizer's extra state, which a Hub model does not carry.
    model.policy.load_state_dict(tensors, strict=False)
    if config.get("return_scale") is not None:  # the schema checked that return_bound built one
        model.return_scale.load_statistics(config["return_scale"])  # type: ignore[union-attr]
    return _with_origin(model, config.get("env_id"), config.get("vec_normalize"))


def _with_origin(
    model: BaseAlgorithm, env_id: str | None, vec_normalize: dict[str, Any] | None, statistics_known: bool = True
) -> BaseAlgorithm:
    """Keep what the model was loaded with for a later save; put its env, if it has one, under its statistics."""
    _LOADED[model] = _Origin(env_id, vec_normalize, statistics_known)
    if vec_normalize is None:
        return model
    env = model.get_env()
    if env is not None and model.get_vec_normalize_env() is not None:
        raise ValueError(
            "env: it is wrapped in VecNormalize already; pass it without: load_pretrained wraps it in the "
            "statistics the model was trained with"
        )
    if env is not None:
        model.set_env(normalized(env, vec_normalize))
    else:
        warnings.warn(
            "vec_normalize: the model acts on observations normalized by the statistics it was trained with; pass "
            "env= to load_pretrained to have its env wrapped in them (model.get_env())",
            UserWarning,
            stacklevel=3,
        )
    return model


def push_to_hub(
    model: BaseAlgorithm,
    repo_id: str,
    env_id: str | None = None,
    metrics: dict | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = COMMIT_MESSAGE,
) -> str:
    """``save_pretrained`` into a temporary folder, then create the repo (if needed) and upload it."""
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pretrained(model, Path(tmp) / "model", env_id=env_id, metrics=metrics)
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))


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
    stats = _vec_normalize_of(model)
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
            written.append(_staging_file(target.parent, target.name))
            write(written[-1])
            os.replace(written[-1], target)
            written[-1] = target
    except BaseException:
        for path in reversed(written):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        raise
    return run


# -- command line --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sb3_large.hub", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print a model's config")
    download = commands.add_parser("download", help="fetch a model (into the HF cache), optionally for RL Zoo")
    for sub in (info, download):
        sub.add_argument("source", help="folder or Hub repo id org/name")
        sub.add_argument("--revision")
    download.add_argument("--zoo-folder", help="also write RL Zoo's layout here")
    download.add_argument("--algo", help="RL Zoo algo name, e.g. sac (default and only choice: the model's)")
    download.add_argument("--env", help="env id, e.g. Ant-v4 (default: the model's)")
    download.add_argument("--trust-pickle", action="store_true", help="allow a pickled SB3 zip")
    download.add_argument(
        "--trust-module", action="append", default=[], help="also import classes from this package (repeatable)"
    )
    save = commands.add_parser(
        "save", help="write an RL Zoo run (or an SB3 zip) as a model folder; unpickles it: for runs you trust"
    )
    save.add_argument("source", help="an RL Zoo run folder (logs/sac/Ant-v4_1) or an SB3 .zip")
    save.add_argument("folder", help="the model folder to write (new, empty, or an earlier model)")
    save.add_argument("--env", help="env id (default: the run's)")
    push = commands.add_parser("push", help="upload a folder written by save_pretrained")
    push.add_argument("folder")
    push.add_argument("--repo-id", required=True)
    push.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)

    try:
        _run(args)
    except BrokenPipeError:  # the reader left (| head): not an error of the input, ends quietly in run_command
        raise
    except (ValueError, OSError, OverflowError) as exc:  # bad input: one line naming the field, no traceback
        parser.exit(1, f"{parser.prog}: error: {printable(str(exc))}\n")


def _run(args: argparse.Namespace) -> None:
    if args.command == "info":
        # ensure_ascii: every control character of a name or value is printed as its \u escape
        config = read_config(*_locate(args.source, args.revision, (CONFIG_NAME,)))
        print(json.dumps(config, indent=2, ensure_ascii=True))
    elif args.command == "download":
        print(f"model files: {resolve(args.source, args.revision)}")
        if args.zoo_folder:
            _download_for_zoo(args)
    elif args.command == "save":
        if not Path(args.source).expanduser().exists():
            raise FileNotFoundError(f"source: no RL Zoo run folder or SB3 zip {args.source!r}")
        model = _load_to_write(args.source, trust_pickle=True)  # the user's own run: its pickles are trusted
        print(f"model folder: {save_pretrained(model, args.folder, args.env)}")
    else:
        folder = Path(args.folder)
        read_config(folder)
        api = HfApi()
        api.create_repo(args.repo_id, private=args.private, exist_ok=True)
        # Only the model's own files: the folder may also hold a user's notes or a Hub clone's .git.
        files = [WEIGHTS_NAME, CONFIG_NAME, CARD_NAME]
        print(
            api.upload_folder(
                repo_id=args.repo_id, folder_path=folder, allow_patterns=files, commit_message=COMMIT_MESSAGE
            )
        )


def _load_to_write(source: str, **kwargs: Any) -> BaseAlgorithm:
    """``load_pretrained`` of a model that is written out again, VecNormalize statistics included: without the
    warning that acting needs its env wrapped in them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="vec_normalize: ", category=UserWarning)
        return load_pretrained(source, **kwargs)


def _download_for_zoo(args: argparse.Namespace) -> None:
    """``download --zoo-folder``: the model as a new RL Zoo run, under its own algorithm's name."""
    if args.algo is not None and args.env is not None:
        zoo_run_folder(args.zoo_folder, args.algo, args.env)  # names given here are refused before loading anything
    model = _load_to_write(
        args.source, revision=args.revision, trust_pickle=args.trust_pickle, trust_modules=args.trust_module
    )
    algorithm = _algorithm_name(model)
    env_id = args.env or _LOADED[model].env_id
    if env_id is None:
        raise ValueError("env: the model names no env id; give it with --env")
    zoo_run_folder(args.zoo_folder, args.algo or ZOO_ALGOS[algorithm], env_id)  # plain names, inside the folder
    if args.algo not in (None, ZOO_ALGOS[algorithm]):
        raise ValueError(
            f"algo: {args.algo!r} is not this model's algorithm: it is a {algorithm} model, RL Zoo's "
            f"{ZOO_ALGOS[algorithm]!r} (rl_zoo3.enjoy would fail to load it as another); nothing was written"
        )
    print(f"RL Zoo layout: {export_rl_zoo(model, args.zoo_folder, ZOO_ALGOS[algorithm], env_id)}")


if __name__ == "__main__":
    run_command(main)
