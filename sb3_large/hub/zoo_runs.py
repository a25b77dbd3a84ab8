"""Models that come as pickles: an SB3 ``.zip``, a folder or Hub repo holding one, or an RL Zoo run folder (its
final model, with the env id of its ``args.yml`` and the statistics of its ``vecnormalize.pkl``). Nothing is
unpickled without ``trust_pickle``: unpickling runs whatever code the file's author put in it."""

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import yaml
from huggingface_sb3 import EnvironmentName
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

import sb3_large
from sb3_large.files import ZooYamlLoader
from sb3_large.hub.format import ALGORITHMS, CONFIG_NAME, printable
from sb3_large.hub.locate import model_file, read_capped, too_large
from sb3_large.hub.origin import with_origin
from sb3_large.hub.settings import spaces_only, vec_normalize_to_json

# Where an RL Zoo repo on the Hub (rl_zoo3.push_to_hub) keeps its VecNormalize statistics: not read, but warned of.
HUB_ZOO_STATISTICS = "vec_normalize.pkl"
# DDPG's (policy_delay, target_policy_noise, target_noise_clip): SB3's DDPG is TD3 with these.
DDPG_SETTINGS = (1, 0.1, 0.0)
# Caps on the size of each file parsed here, far above any real one (an RL Zoo run's args.yml is a few KB; an SB3
# zip's JSON part holds its spaces, pickled, so an image space's bounds too): checked before a byte is read.
MAX_RUN_ARGS_BYTES = 2**18
MAX_ZIP_DATA_BYTES = 2**24


class PickleRefusedError(ValueError):
    """A pickled SB3 zip was found and ``trust_pickle`` was not given."""


def pickled_zip_algorithm(zip_path: Path) -> type[BaseAlgorithm]:
    """The algorithm that saved an SB3 zip, from the zip's JSON part (nothing unpickled). SB3 stores no class name,
    but the algorithms' attributes differ; DDPG is TD3 with ``policy_delay``, target noise and clip fixed."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            # The size the entry declares: zipfile reads no more than that, however much the entry inflates to.
            if archive.getinfo("data").file_size > MAX_ZIP_DATA_BYTES:
                raise too_large(f"{zip_path.name}: data", MAX_ZIP_DATA_BYTES)
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


def _run_env_id(folder: Path, root: Path, zip_name: str | None) -> str | None:
    """The env id of the RL Zoo run ``folder`` (from its ``<env>/args.yml``), None if it is not one. For a zip the
    user named, only if it is the run's final model ``<env>.zip``: no other run's files are read."""
    if zip_name is None:
        found = sorted(folder.glob("*/args.yml"))
    else:
        found = [path for path in [folder / Path(zip_name).stem / "args.yml"] if path.is_file()]
    if len(found) != 1:  # as RL Zoo finds a run's arguments
        return None
    path = model_file(folder, found[0].relative_to(folder).as_posix(), root)
    data = read_capped(path, MAX_RUN_ARGS_BYTES)
    try:
        args = yaml.load(data, Loader=ZooYamlLoader)
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
    path = model_file(folder, f"{EnvironmentName(env_id)}/vecnormalize.pkl", root)
    return vec_normalize_to_json(VecNormalize.load(str(path), spaces_only(model.observation_space, model.action_space)))


def _refuse_untrusted(folder: Path, zips: list[str], trust_pickle: bool) -> None:
    """Refuse a folder without a zip, and one with zips unless ``trust_pickle``: before any other file is read."""
    if not zips:
        hint = "" if trust_pickle else " (a Hub repo's .zip files are fetched only with trust_pickle=True)"
        raise ValueError(
            printable(f"source: {folder} holds no {CONFIG_NAME} (not an sb3-large model) and no SB3 .zip{hint}")
        )
    if not trust_pickle:
        raise PickleRefusedError(
            printable(
                f"source: {folder} holds a pickled SB3 model ({', '.join(zips)}) and no {CONFIG_NAME}; unpickling "
                "runs arbitrary code from the file's author. Pass trust_pickle=True (CLI: --trust-pickle) if you "
                "trust it."
            )
        )


def load_pickled(folder: Path, root: Path, zip_name: str | None, trust_pickle: bool, env, device) -> BaseAlgorithm:
    """A model from an SB3 zip, unpickled only with ``trust_pickle``, as the class that saved it. In an RL Zoo run
    folder: its final model, with the run's env id and VecNormalize statistics."""
    zips = [zip_name] if zip_name else sorted(path.name for path in folder.glob("*.zip"))
    _refuse_untrusted(folder, zips, trust_pickle)
    env_id = _run_env_id(folder, root, zip_name)
    final = f"{EnvironmentName(env_id)}.zip" if env_id else None
    zip_path = model_file(folder, zip_name or (final if final in zips else zips[0]), root)
    model = pickled_zip_algorithm(zip_path).load(zip_path, env=env, device=device)
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
    return with_origin(model, env_id, vec_normalize, statistics_known=env_id is not None)
