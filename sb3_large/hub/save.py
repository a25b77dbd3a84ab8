"""Writing a model folder (weights as safetensors, the config as JSON, a model card) and uploading it to the Hub."""

import json
import os
import platform
import stat
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import stable_baselines3
import torch as th
from huggingface_hub import HfApi
from safetensors.torch import save_file
from stable_baselines3.common.base_class import BaseAlgorithm

import sb3_large
from sb3_large.files import staging_file
from sb3_large.hub.format import (
    ALGORITHMS,
    CARD_NAME,
    COMMIT_MESSAGE,
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    algorithm_name,
    encode,
    model_card,
    space_to_json,
)
from sb3_large.hub.origin import origin_of, vec_normalize_of
from sb3_large.hub.schema import ALGORITHM_KWARGS, ConfigError, validate_config
from sb3_large.hub.settings import encode_settings, init_kwargs
from sb3_large.hub.sizes import SAFETENSORS_DTYPES, check_size, policy_weights
from sb3_large.networks import count_parameters
from sb3_large.return_scale import ReturnScale


def save_pretrained(
    model: BaseAlgorithm, folder: str | os.PathLike, env_id: str | None = None, metrics: dict | None = None
) -> Path:
    """Write ``model`` to ``folder``: weights, config and model card, each replaced atomically.

    ``folder`` must be new, empty, or an earlier sb3-large model folder; only those three files are
    written, anything else in the folder (a Hub clone's ``.git``, a user's notes) is left alone.
    """
    algorithm = algorithm_name(model)
    folder = Path(folder)
    _check_destination(folder)
    env_id = _env_id_of(model, env_id)
    vec_normalize = vec_normalize_of(model)
    origin = origin_of(model)
    if model.get_env() is None and vec_normalize is None and not (origin is not None and origin.statistics_known):
        _warn_unknown_origin(env_id)
    config = _config(model, algorithm, env_id, vec_normalize, metrics)
    validate_config(config, ALGORITHMS)  # never write a config that would not load
    tensors = {k: v.detach().cpu().contiguous() for k, v in policy_weights(model.policy).items()}
    _check_loadable_size(config, tensors)
    writers: dict[str, Callable[[str], Any]] = {
        WEIGHTS_NAME: lambda path: save_file(tensors, path, metadata={"format": "sb3-large"}),
        CARD_NAME: lambda path: Path(path).write_text(model_card(config)),
        CONFIG_NAME: lambda path: Path(path).write_text(json.dumps(config, indent=2) + "\n"),  # last: marks the folder
    }
    _write_all(folder, writers)
    return folder


def _check_loadable_size(config: dict, tensors: dict[str, th.Tensor]) -> None:
    """Refuse a model beyond the loader's caps on layers and critics: the folder would be written, then refused."""
    header = {k: (tuple(v.shape), SAFETENSORS_DTYPES.get(v.dtype, str(v.dtype))) for k, v in tensors.items()}
    try:
        check_size(config, header)
    except ConfigError as exc:
        raise ValueError(f"{exc}. load_pretrained refuses such a model, so nothing was written") from None


def _check_destination(folder: Path) -> None:
    """Refuse a folder that holds anything but an earlier ``save_pretrained``: its files are the user's."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"folder: {folder} is a file; save_pretrained writes a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / CONFIG_NAME).is_file():
        raise FileExistsError(
            f"folder: {folder} is not empty and holds no {CONFIG_NAME} (not an sb3-large model folder); "
            "nothing was written. Choose a new or empty folder."
        )


def _env_id_of(model: BaseAlgorithm, env_id: str | None) -> str | None:
    """``env_id`` if given, else the id of the model's env, else the one it was loaded with."""
    env = model.get_env()
    if env_id is None and env is not None:
        spec = env.get_attr("spec", [0])[0]
        env_id = spec.id if spec is not None else None
    origin = origin_of(model)
    if env_id is None and origin is not None:
        env_id = origin.env_id
    return env_id


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


def _return_scale_of(model: BaseAlgorithm) -> dict[str, float] | None:
    """The statistics of the return scale of ``sb3_large``'s learners (``return_bound``), if the model has one (a
    stock SAC that loaded such a model keeps the attribute, and takes no ``return_bound``: the caller asks only the
    learners)."""
    scale = getattr(model, "return_scale", None)
    return None if scale is None else cast(ReturnScale, scale).statistics()


def _config(
    model: BaseAlgorithm,
    algorithm: str,
    env_id: str | None,
    vec_normalize: dict[str, Any] | None,
    metrics: dict | None,
) -> dict[str, Any]:
    """The model's ``sb3_large_config.json``, unchecked."""
    taken = init_kwargs(type(model))
    policy: Any = model.policy
    return {
        "format_version": FORMAT_VERSION,
        "algorithm": algorithm,
        "policy_class": f"{type(policy).__module__}.{type(policy).__qualname__}",
        "policy_kwargs": encode(dict(model.policy_kwargs), "policy_kwargs"),
        "algorithm_kwargs": encode_settings(model, [k for k in ALGORITHM_KWARGS if k in taken]),
        "vec_normalize": vec_normalize,
        "return_scale": _return_scale_of(model) if "return_bound" in taken else None,
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
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
        "metrics": encode(dict(metrics or {}), "metrics"),
    }


def _write_all(folder: Path, writers: dict[str, Callable[[str], Any]]) -> None:
    """Each writer's file written to a staging file in ``folder``, then all of them put in place, in order (the config
    last: it marks the folder); no staging file is left behind."""
    folder.mkdir(parents=True, exist_ok=True)
    staged: dict[str, str] = {}
    try:
        for name, write in writers.items():
            staged[name] = str(staging_file(folder, name))
            mode = stat.S_IMODE(os.stat(staged[name]).st_mode)
            write(staged[name])
            os.chmod(staged[name], mode)  # safetensors replaces the file it is given by one of mode 0600
        for name, path in staged.items():
            os.replace(path, folder / name)
    finally:
        for path in staged.values():
            Path(path).unlink(missing_ok=True)


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
