"""Share and load pretrained large models: safetensors weights + a JSON config, no pickle; Hub or folder.

    save_pretrained(model, "my_model")                   # folder: model.safetensors, sb3_large_config.json, README.md
    model = load_pretrained("my_model")                  # or a Hub repo id "org/name" (cache used offline)
    push_to_hub(model, "org/sac-large-Ant-v4")

    python -m sb3_large.hub info org/name
    python -m sb3_large.hub download org/name --zoo-folder logs --algo sac --env Ant-v4   # then rl_zoo3.enjoy
    python -m sb3_large.hub push my_model --repo-id org/name

A folder or repo that only holds an SB3 ``.zip`` (pickled, e.g. RL Zoo's models) loads only with
``trust_pickle=True``: unpickling runs whatever code the file's author put in it.
"""

import argparse
import importlib
import json
import os
import platform
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import stable_baselines3
import torch as th
from gymnasium import spaces
from huggingface_hub import HfApi, snapshot_download
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from sb3_contrib import TQC
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm

import sb3_large

CONFIG_NAME = "sb3_large_config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1
ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"SAC": SAC, "TD3": TD3, "DDPG": DDPG, "TQC": TQC}
# What a fine-tune needs beyond the networks; optimizer states and SAC's entropy coefficient are not stored.
ALGORITHM_KWARGS = ("gamma", "tau", "batch_size", "buffer_size", "learning_starts", "gradient_steps", "policy_delay")


class PickleRefusedError(ValueError):
    """A pickled SB3 zip was found and ``trust_pickle`` was not given."""


# -- JSON encoding of policy kwargs and spaces -----------------------------------------------------------------
def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _encode(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, type):
        return {"__class__": f"{value.__module__}.{value.__qualname__}"}
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored in {CONFIG_NAME} (use names or classes)")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__class__"}:
            return _import(value["__class__"], "policy_kwargs")
        return {k: _decode(v) for k, v in value.items()}
    return value


def _import(path: str, field: str):
    module, _, name = path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(
            f"{CONFIG_NAME}: {field} {path!r} cannot be imported ({exc}); is its package installed?"
        ) from None
    if not isinstance(obj, type):
        raise ValueError(f"{CONFIG_NAME}: {field} {path!r} is not a class")
    return obj


def _space_to_json(space: spaces.Space) -> dict[str, Any]:
    if not isinstance(space, spaces.Box):
        raise TypeError(f"only Box spaces are stored, got {type(space).__name__}")
    return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(), "dtype": str(space.dtype)}


def _space_from_json(data: dict[str, Any]) -> spaces.Box:
    dtype = np.dtype(data["dtype"])
    return spaces.Box(np.array(data["low"], dtype=dtype), np.array(data["high"], dtype=dtype), dtype=dtype)


def _count(module: th.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- saving --------------------------------------------------------------------------------------------------
def _model_card(config: dict[str, Any]) -> str:
    kwargs = json.dumps(config["policy_kwargs"], indent=2)
    metrics = "\n".join(f"- {k}: {v}" for k, v in config["metrics"].items()) or "- none recorded"
    return f"""---
library_name: sb3-large
tags:
- reinforcement-learning
- stable-baselines3
- {config["env_id"] or "continuous-control"}
---
# {config["algorithm"]} with large networks (sb3-large) on {config["env_id"] or "an unnamed env"}

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


def save_pretrained(
    model: BaseAlgorithm, folder: str | os.PathLike, env_id: str | None = None, metrics: dict | None = None
) -> Path:
    """Write ``model`` to ``folder`` (weights, config, model card); the folder is replaced atomically."""
    algorithm = type(model).__name__
    if algorithm not in ALGORITHMS:
        raise ValueError(f"model: algorithm {algorithm} is not supported; allowed: {', '.join(ALGORITHMS)}")
    policy = model.policy
    if env_id is None and model.get_env() is not None:
        spec = model.get_env().get_attr("spec", [0])[0]
        env_id = spec.id if spec is not None else None
    config = {
        "format_version": FORMAT_VERSION,
        "algorithm": algorithm,
        "policy_class": f"{type(policy).__module__}.{type(policy).__qualname__}",
        "policy_kwargs": _encode(dict(model.policy_kwargs), "policy_kwargs"),
        "algorithm_kwargs": {k: getattr(model, k) for k in ALGORITHM_KWARGS if hasattr(model, k)},
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
            "actor": _count(policy.actor),
            "critic": _count(policy.critic),
            "total": _count(policy),
        },
        "metrics": _encode(dict(metrics or {}), "metrics"),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items() if isinstance(v, th.Tensor)}
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "sb3-large"})
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        (tmp / "README.md").write_text(_model_card(config))
        old = folder.with_name(f".{folder.name}.old") if folder.exists() else None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        tmp.rename(folder)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


# -- loading -------------------------------------------------------------------------------------------------
def resolve(source: str | os.PathLike, revision: str | None = None) -> Path:
    """A local folder, or a Hub repo id fetched into (or, offline, read from) the huggingface_hub cache."""
    path = Path(source)
    if path.is_dir():
        return path
    source = str(source)
    if source.count("/") != 1 or path.suffix:
        raise FileNotFoundError(f"source: {source!r} is neither a folder nor a Hub repo id ('org/name')")
    try:
        return Path(snapshot_download(source, revision=revision, library_name="sb3-large"))
    except Exception as exc:  # offline with no cache, unknown repo, network down: one clear error
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise FileNotFoundError(
            f"source: repo {source!r}{f' at {revision!r}' if revision else ''} is not in the local Hugging Face "
            f"cache and could not be downloaded{offline}: {type(exc).__name__}: {exc}"
        ) from None


def _pickled_zip_algorithm(zip_path: Path) -> type[BaseAlgorithm]:
    """Read the algorithm from an SB3 zip's JSON (without unpickling it): its policy class's module."""
    with zipfile.ZipFile(zip_path) as archive:
        data = json.loads(archive.read("data"))
    module = data["policy_class"].get("__module__", "")
    for name, algo in ALGORITHMS.items():
        if f".{name.lower()}." in f"{module}.":
            return algo
    raise ValueError(f"{zip_path.name}: policy module {module!r} is not one of {', '.join(ALGORITHMS)}")


def _load_pickled(folder: Path, trust_pickle: bool, env, device) -> BaseAlgorithm:
    zips = sorted(folder.glob("*.zip"))
    if not zips:
        raise ValueError(f"source: {folder} holds no {CONFIG_NAME} (not an sb3-large model) and no SB3 .zip")
    if not trust_pickle:
        raise PickleRefusedError(
            f"source: {folder} holds a pickled SB3 model ({zips[0].name}) and no {CONFIG_NAME}; unpickling runs "
            "arbitrary code from the file's author. Pass trust_pickle=True (CLI: --trust-pickle) if you trust it."
        )
    return _pickled_zip_algorithm(zips[0]).load(zips[0], env=env, device=device)


def read_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / CONFIG_NAME).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{CONFIG_NAME}: not valid JSON ({exc}); the file is truncated or corrupt") from None
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{CONFIG_NAME}: format_version {config.get('format_version')!r} is not {FORMAT_VERSION}")
    missing = {"algorithm", "policy_class", "policy_kwargs", "observation_space", "action_space"} - set(config)
    if missing:
        raise ValueError(f"{CONFIG_NAME}: missing fields {sorted(missing)}")
    return config


def load_pretrained(
    source: str | os.PathLike,
    env=None,
    device: str = "auto",
    revision: str | None = None,
    trust_pickle: bool = False,
) -> BaseAlgorithm:
    """A ready SB3 model from a folder or Hub repo written by ``save_pretrained`` (or, trusted, a pickled zip)."""
    folder = resolve(source, revision)
    if not (folder / CONFIG_NAME).is_file():
        return _load_pickled(folder, trust_pickle, env, device)
    config = read_config(folder)
    if config["algorithm"] not in ALGORITHMS:
        raise ValueError(f"{CONFIG_NAME}: algorithm {config['algorithm']!r} unknown; allowed: {', '.join(ALGORITHMS)}")
    algo_class = ALGORITHMS[config["algorithm"]]
    policy_class = _import(config["policy_class"], "policy_class")
    policy_kwargs = _decode(config["policy_kwargs"])
    kwargs = dict(config.get("algorithm_kwargs", {}), policy_kwargs=policy_kwargs, device=device)
    try:
        if env is not None:
            model = algo_class(policy_class, env, **kwargs)
        else:
            model = algo_class(policy_class, None, _init_setup_model=False, **kwargs)
            model.observation_space = _space_from_json(config["observation_space"])
            model.action_space = _space_from_json(config["action_space"])
            model.n_envs = 1
            if getattr(model, "target_entropy", None) == "auto":  # SAC/TQC derive it from an env we do not have
                model.target_entropy = -float(np.prod(model.action_space.shape))
            model._setup_model()
    except ValueError as exc:
        raise ValueError(f"{CONFIG_NAME}: the policy cannot be built: {exc}") from None
    try:
        tensors = load_file(str(folder / WEIGHTS_NAME), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{WEIGHTS_NAME}: cannot be read ({exc}); the file is missing, truncated or corrupt") from None
    expected = {k for k, v in model.policy.state_dict().items() if isinstance(v, th.Tensor)}
    if set(tensors) != expected:
        raise ValueError(
            f"{WEIGHTS_NAME} does not match {CONFIG_NAME}: missing {sorted(expected - set(tensors))[:5]}, "
            f"unexpected {sorted(set(tensors) - expected)[:5]}"
        )
    try:
        model.policy.load_state_dict(tensors, strict=False)
    except RuntimeError as exc:
        raise ValueError(f"{WEIGHTS_NAME} does not match {CONFIG_NAME}: {exc}") from None
    if hasattr(model.policy, "critic_target"):
        model.policy.critic_target.load_state_dict(model.policy.critic.state_dict())
    return model


def push_to_hub(
    model: BaseAlgorithm,
    repo_id: str,
    env_id: str | None = None,
    metrics: dict | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload sb3-large model",
) -> str:
    """``save_pretrained`` into a temporary folder, then create the repo (if needed) and upload it."""
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pretrained(model, Path(tmp) / "model", env_id=env_id, metrics=metrics)
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))


def export_rl_zoo(model: BaseAlgorithm, folder: str | os.PathLike, algo: str, env_id: str) -> Path:
    """Lay ``model`` out as RL Zoo's ``<folder>/<algo>/<env_id>_1/<env_id>.zip`` for stock ``rl_zoo3.enjoy``."""
    run = Path(folder) / algo / f"{env_id}_1"
    run.mkdir(parents=True, exist_ok=True)
    model.save(run / f"{env_id}.zip")
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
    download.add_argument("--zoo-folder", help="also write RL Zoo's layout here (with --algo and --env)")
    download.add_argument("--algo", help="RL Zoo algo name, e.g. sac")
    download.add_argument("--env", help="env id, e.g. Ant-v4 (default: the config's)")
    download.add_argument("--trust-pickle", action="store_true", help="allow a pickled SB3 zip")
    push = commands.add_parser("push", help="upload a folder written by save_pretrained")
    push.add_argument("folder")
    push.add_argument("--repo-id", required=True)
    push.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "info":
        folder = resolve(args.source, args.revision)
        print(json.dumps(read_config(folder), indent=2))
    elif args.command == "download":
        folder = resolve(args.source, args.revision)
        print(f"model files: {folder}")
        if args.zoo_folder:
            model = load_pretrained(folder, trust_pickle=args.trust_pickle)
            config = read_config(folder) if (folder / CONFIG_NAME).is_file() else {}
            env_id = args.env or config.get("env_id")
            if not (args.algo and env_id):
                parser.error("--zoo-folder needs --algo and --env (or an env_id in the config)")
            print(f"RL Zoo layout: {export_rl_zoo(model, args.zoo_folder, args.algo, env_id)}")
    else:
        folder = Path(args.folder)
        read_config(folder)
        api = HfApi()
        api.create_repo(args.repo_id, private=args.private, exist_ok=True)
        print(api.upload_folder(repo_id=args.repo_id, folder_path=folder, commit_message="Upload sb3-large model"))


if __name__ == "__main__":
    main()
