"""Hub format: safetensors + JSON, loaded from a folder or from a real huggingface_hub cache, offline."""

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
import yaml
from huggingface_hub.utils import filter_repo_objects
from rl_zoo3.utils import create_test_env, get_saved_hyperparams, linear_schedule
from safetensors.torch import load_file, save_file
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import A2C, DDPG, PPO, SAC, TD3
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.noise import ActionNoise, NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.utils import ConstantSchedule
from stable_baselines3.common.vec_env import VecNormalize

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.hub import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    PickleRefusedError,
    export_rl_zoo,
    load_pretrained,
    save_pretrained,
)
from sb3_large.hub import main as hub_main
from sb3_large.normalization import ObsNormUpdater
from sb3_large.ofenet import OFENetTrainer

from .conftest import run_python

OBS = np.random.default_rng(0).uniform(-1, 1, size=(16, 3)).astype(np.float32)

LOAD_AND_ACT = """
import sys
import numpy as np
import yaml
from sb3_large.hub import load_pretrained

model = load_pretrained(sys.argv[1])
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), deterministic=True)[0])
print(type(model).__name__, type(model.policy).__name__)
"""


def trained(algo, policy: str, **policy_kwargs):
    kwargs = dict(width=16, **policy_kwargs)
    if policy == "OFENetPolicy":
        kwargs["ofenet"] = dict(layers=2, growth=8, pretrain_steps=20)
    model = algo(policy, "Pendulum-v1", learning_starts=50, seed=0, policy_kwargs=kwargs)
    model.learn(150, callback=OFENetTrainer() if policy == "OFENetPolicy" else None)
    return model


def actions_in_fresh_process(source: str, cwd, env=None) -> tuple[np.ndarray, str]:
    np.save(cwd / "obs.npy", OBS)
    out = run_python(["-c", LOAD_AND_ACT, source, "obs.npy", "act.npy"], cwd=cwd, env=env).stdout
    return np.load(cwd / "act.npy"), out.strip()


CASES = [
    (SAC, "LargeMlpPolicy", {"arch": "densenet"}),
    (TD3, "LargeMlpPolicy", {"arch": "mlp", "activation": "tanh"}),
    (SAC, "OFENetPolicy", {}),
    (TD3, "OFENetPolicy", {}),
]


@pytest.mark.parametrize("algo, policy, kwargs", CASES, ids=[f"{a.__name__}-{p}" for a, p, _ in CASES])
def test_save_then_load_in_a_fresh_process_gives_identical_actions(tmp_path, algo, policy, kwargs):
    model = trained(algo, policy, **kwargs)
    folder = save_pretrained(model, tmp_path / "model", metrics={"mean_return": -1234.5})
    assert sorted(p.name for p in folder.iterdir()) == sorted(["README.md", CONFIG_NAME, WEIGHTS_NAME])
    assert b"\x80" not in (folder / CONFIG_NAME).read_bytes()  # JSON, no pickle
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert config["env_id"] == "Pendulum-v1" and config["parameters"]["total"] > 0
    actions, out = actions_in_fresh_process(str(folder), tmp_path)
    assert np.array_equal(actions, model.predict(OBS, deterministic=True)[0])
    assert out == f"{algo.__name__} {type(model.policy).__name__}"


EXTRAS = dict(ofenet_kwargs=dict(layers=1, growth=4, pretrain_steps=4), normalize_obs=True)
ROUND_TRIPS = [
    *((algo, {}) for algo in (SAC, TD3, DDPG, TQC, CrossQ)),
    *((algo, dict(EXTRAS, q_distribution=dict(bins=11))) for algo in (SAC, TD3, DDPG, CrossQ)),
    (TQC, EXTRAS),  # quantile critics, no categorical ones
    (TD3, dict(ensemble_critics=True, n_critics=3)),
    (SAC, dict(precision="bf16")),
]


@pytest.mark.parametrize(
    "algo, extras", ROUND_TRIPS, ids=[f"{a.__name__}-{'-'.join(e) or 'plain'}" for a, e in ROUND_TRIPS]
)
def test_a_round_trip_keeps_every_tensor(tmp_path, algo, extras):
    """Target networks included: after training they differ from the online ones, and fine-tuning starts from them."""
    kwargs = dict(width=8, arch="mlp", **extras)
    model = algo("LargeMlpPolicy", "Pendulum-v1", learning_starts=30, batch_size=8, seed=0, policy_kwargs=kwargs)
    callbacks = [OFENetTrainer()] if "ofenet_kwargs" in extras else []
    model.learn(60, callback=[*callbacks, ObsNormUpdater()] if "normalize_obs" in extras else callbacks)
    saved = model.policy.state_dict()
    targets = [k for k in saved if "_target." in k]
    assert (algo is CrossQ) != any(not th.equal(saved[k], saved[k.replace("_target.", ".")]) for k in targets)
    loaded_model = load_pretrained(save_pretrained(model, tmp_path / "model"))
    assert loaded_model.policy.precision == extras.get("precision", "fp32")
    loaded = loaded_model.policy.state_dict()
    assert loaded.keys() == saved.keys()
    for key in saved:
        if not key.endswith("_extra_state"):  # OFENet's optimizer state: training state, not stored
            assert th.equal(loaded[key], saved[key]), key


SETTINGS = {
    "sb3_large.SAC": dict(
        learning_rate=linear_schedule(1e-3),
        train_freq=(2, "episode"),
        n_steps=3,
        ent_coef="auto_0.5",
        target_entropy=-0.25,
        target_update_interval=2,
        precision="bf16",
    ),
    "sb3_large.TD3": dict(
        learning_rate=5e-4,
        target_policy_noise=0.3,
        target_noise_clip=0.4,
        action_noise=NormalActionNoise(np.zeros(1), np.full(1, 0.2)),
        compile="update",
    ),
    "DDPG": dict(learning_rate=2e-4, action_noise=OrnsteinUhlenbeckActionNoise(np.zeros(1), np.ones(1), theta=0.2)),
    "TQC": dict(learning_rate=ConstantSchedule(7e-4), ent_coef=0.05),
}


def _setting(model, name):
    value = getattr(model, name)
    if name == "learning_rate":
        return [model.lr_schedule(progress) for progress in (1.0, 0.5, 0.0)]
    if isinstance(value, ActionNoise):
        return type(value), {key: np.asarray(setting).tolist() for key, setting in vars(value).items()}
    return value


@pytest.mark.parametrize("algo", SETTINGS)
def test_the_algorithms_settings_round_trip(tmp_path, algo):
    """What a fine-tune runs with: a model trained at lr 1e-3 must not come back at SB3's default."""
    algo_class = {"sb3_large.SAC": sb3_large.SAC, "sb3_large.TD3": sb3_large.TD3, "DDPG": DDPG, "TQC": TQC}[algo]
    model = algo_class("LargeMlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=dict(width=8), **SETTINGS[algo])
    loaded = load_pretrained(save_pretrained(model, tmp_path / "model"))
    for name in SETTINGS[algo]:
        assert _setting(loaded, name) == _setting(model, name), name


def test_a_setting_with_no_data_form_is_saved_as_it_is_now_with_a_warning(tmp_path):
    model = SAC("LargeMlpPolicy", "Pendulum-v1", learning_rate=lambda progress: 1e-3 * progress**2)
    model._current_progress_remaining = 0.5
    with pytest.warns(UserWarning, match=r"learning_rate: a function schedule is not stored .*current learning rate"):
        folder = save_pretrained(model, tmp_path / "model")
    assert load_pretrained(folder).learning_rate == 2.5e-4


def _rollout(env, model, steps: int = 40) -> np.ndarray:
    env.seed(3)
    obs, actions = env.reset(), []
    for _ in range(steps):
        actions.append(model.predict(obs, deterministic=True)[0])
        obs = env.step(actions[-1])[0]
    return np.concatenate(actions)


def test_a_model_trained_under_vec_normalize_loads_and_acts_as_trained(tmp_path):
    env = VecNormalize(make_vec_env("Pendulum-v1", seed=0), clip_obs=1.5, gamma=0.9)
    model = SAC("LargeMlpPolicy", env, learning_starts=40, seed=0, policy_kwargs=dict(width=8))
    model.learn(80)
    env.training = False
    folder = save_pretrained(model, tmp_path / "model")
    loaded = load_pretrained(folder, env=make_vec_env("Pendulum-v1"))
    assert np.array_equal(_rollout(loaded.get_env(), loaded), _rollout(env, model))
    assert not np.array_equal(_rollout(make_vec_env("Pendulum-v1"), loaded), _rollout(env, model))  # it matters
    with pytest.warns(UserWarning, match="vec_normalize: the model acts on observations normalized by the statistics"):
        without_env = load_pretrained(folder)
    again = save_pretrained(without_env, tmp_path / "again")  # the statistics and the env id stay with the model
    first, second = (json.loads((f / CONFIG_NAME).read_text()) for f in (folder, again))
    assert second["vec_normalize"] == first["vec_normalize"] and second["env_id"] == first["env_id"] == "Pendulum-v1"
    with pytest.raises(ValueError, match=r"env: it is wrapped in VecNormalize already; pass it without"):
        load_pretrained(folder, env=env)

    run = export_rl_zoo(without_env, tmp_path / "logs", "sac", "Pendulum-v1")  # what rl_zoo3.enjoy reads
    hyperparams, stats_path = get_saved_hyperparams(str(run / "Pendulum-v1"), test_mode=True)
    assert hyperparams["normalize"] and stats_path == str(run / "Pendulum-v1")
    exported = VecNormalize.load(str(run / "Pendulum-v1" / "vecnormalize.pkl"), make_vec_env("Pendulum-v1"))
    exported.training = False
    assert np.array_equal(_rollout(exported, SAC.load(run / "Pendulum-v1.zip")), _rollout(env, model))


def fake_hub_cache(cache, repo_id: str, folder, commit: str = "0123456789abcdef0123456789abcdef01234567"):
    """A huggingface_hub cache as the library lays it out: refs/main -> snapshots/<commit>/<file>, each file a
    symbolic link to blobs/<its hash>."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs").mkdir()
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for path in folder.iterdir():
        blob = hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.copy(path, repo / "blobs" / blob)
        (snapshot / path.name).symlink_to(Path("..", "..", "blobs", blob))


def test_offline_load_of_a_repo_id_from_the_cache(tmp_path):
    model = trained(SAC, "LargeMlpPolicy", arch="d2rl")
    fake_hub_cache(tmp_path / "cache", "org/sac-large-pendulum", save_pretrained(model, tmp_path / "model"))
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "cache")}
    actions, _ = actions_in_fresh_process("org/sac-large-pendulum", tmp_path, env=env)
    assert np.array_equal(actions, model.predict(OBS, deterministic=True)[0])


@pytest.mark.parametrize("name", [CONFIG_NAME, WEIGHTS_NAME])
def test_a_model_file_linked_from_outside_its_folder_is_refused(tmp_path, saved, capsys, name):
    """A cloned repo can hold links anywhere; the loader reads (and quotes in errors) only the model's own files."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (saved / name).rename(elsewhere / name)
    (saved / name).symlink_to(elsewhere / name)
    message = rf"{re.escape(name)}: .*{re.escape(name)} leads outside the model's folder .*; nothing was read"
    with pytest.raises(ValueError, match=message):
        load_pretrained(saved)
    with pytest.raises(SystemExit):
        hub_main(["download", str(saved), "--zoo-folder", str(tmp_path / "logs"), "--algo", "sac"])
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "logs").exists()


def test_a_repo_neither_cached_nor_reachable_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"repo 'org/missing' is not in the local Hugging Face cache"):
        load_pretrained("org/missing")


def test_a_pickled_zip_needs_trust_pickle(tmp_path):
    model = trained(SAC, "LargeMlpPolicy")
    (tmp_path / "zoo").mkdir()
    model.save(tmp_path / "zoo" / "sac-Pendulum-v1.zip")
    with pytest.raises(PickleRefusedError, match=r"pickled SB3 model .*unpickling runs arbitrary code.*trust_pickle"):
        load_pretrained(tmp_path / "zoo")
    loaded = load_pretrained(tmp_path / "zoo", trust_pickle=True)
    assert np.array_equal(loaded.predict(OBS, deterministic=True)[0], model.predict(OBS, deterministic=True)[0])


SMALL_OFENET = dict(ofenet_kwargs=dict(layers=1, growth=4))
# What the package's YAMLs and learners train: hyperparams/{sac,td3,crossq}_large.yml, python -m sb3_large.zoo.
PICKLED = [
    (SAC, "OFENetPolicy", SMALL_OFENET),
    (TD3, "OFENetPolicy", SMALL_OFENET),
    (CrossQ, "LargeMlpPolicy", dict(arch="mlp")),
    (sb3_large.SAC, "LargeMlpPolicy", dict(q_distribution=dict(bins=11))),
    (sb3_large.TD3, "OFENetPolicy", SMALL_OFENET),
    (TQC, "LargeMlpPolicy", {}),
    (DDPG, "LargeMlpPolicy", {}),
]


@pytest.mark.parametrize(
    "algo, policy, kwargs", PICKLED, ids=[f"{a.__module__.split('.')[0]}.{a.__name__}-{p}" for a, p, _ in PICKLED]
)
def test_trust_pickle_loads_a_zip_as_the_class_that_saved_it(tmp_path, algo, policy, kwargs):
    model = algo(policy, "Pendulum-v1", seed=0, policy_kwargs=dict(width=8, **kwargs))
    (tmp_path / "run").mkdir()
    model.save(tmp_path / "run" / "model.zip")
    for source in (tmp_path / "run", tmp_path / "run" / "model.zip"):
        loaded = load_pretrained(source, trust_pickle=True)
        assert type(loaded) is algo and type(loaded.policy) is type(model.policy)
        assert np.array_equal(loaded.predict(OBS, deterministic=True)[0], model.predict(OBS, deterministic=True)[0])
    with pytest.raises(PickleRefusedError, match=r"holds a pickled SB3 model \(model.zip\)"):
        load_pretrained(tmp_path / "run" / "model.zip")


@pytest.mark.parametrize("algo", [PPO, A2C])
def test_an_on_policy_zip_is_one_clear_error(tmp_path, algo):
    algo("MlpPolicy", "Pendulum-v1").save(tmp_path / "model.zip")
    with pytest.raises(ValueError, match=r"model.zip: not a model of SAC, TD3, DDPG, TQC, CrossQ"):
        load_pretrained(tmp_path / "model.zip", trust_pickle=True)


def test_the_path_of_a_zip_reads_no_other_runs_files(tmp_path):
    """Only the run's final model ``<env>.zip`` brings its env id and statistics; nothing else beside it is read."""
    run = tmp_path / "run"
    (run / "Pendulum-v1").mkdir(parents=True)
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8])).save(run / "other.zip")
    (run / "Pendulum-v1" / "args.yml").write_text("env: Pendulum-v1\n")
    (run / "Pendulum-v1" / "vecnormalize.pkl").write_text("not read")  # unpickling it would fail
    assert type(load_pretrained(run / "other.zip", trust_pickle=True)) is SAC


def test_the_statistics_of_an_rl_zoo_hub_repo_are_warned_of(tmp_path):
    """rl_zoo3's push_to_hub writes vec_normalize.pkl beside the zip: not read, so the user is told to apply it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8])).save(repo / "sac-Pendulum-v1.zip")
    (repo / "vec_normalize.pkl").write_text("not read")  # unpickling it would fail
    with pytest.warns(UserWarning, match=r"vec_normalize.pkl: .* holds the VecNormalize statistics of an RL Zoo Hub"):
        assert type(load_pretrained(repo, trust_pickle=True)) is SAC


@pytest.mark.parametrize("args", ["[[1]]", "[]"])
def test_a_malformed_args_yml_is_read_only_after_the_trust_check(tmp_path, args):
    run = tmp_path / "run"
    (run / "Pendulum-v1").mkdir(parents=True)
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8])).save(run / "Pendulum-v1.zip")
    (run / "Pendulum-v1" / "args.yml").write_text(f"!!python/object/apply:collections.OrderedDict {args}")
    with pytest.raises(PickleRefusedError, match=r"holds a pickled SB3 model \(Pendulum-v1.zip\)"):
        load_pretrained(run)
    with pytest.warns(UserWarning, match=r"args.yml: not plain data, the run's env id is not read"):
        assert type(load_pretrained(run, trust_pickle=True)) is SAC


ZOO_CONF = """
Pendulum-v1:
  n_timesteps: 300
  policy: sb3_large.policies.LargeSACPolicy
  learning_rate: lin_7.3e-4
  learning_starts: 100
  train_freq: [2, step]
  normalize: true
  policy_kwargs:
    width: 16
"""


def _enjoy_returns(folder, cwd) -> list[str]:
    enjoy = ["-m", "rl_zoo3.enjoy", "--algo", "sac", "--env", "Pendulum-v1", "-f", str(folder), "-n", "400"]
    out = run_python([*enjoy, "--no-render"], cwd=cwd).stdout
    assert "Loading running average" in out  # enjoy normalizes with the run's VecNormalize
    return re.findall(r"Episode Reward: (\S+)", out)


def test_an_rl_zoo_run_becomes_a_model_folder_that_acts_the_same_everywhere(tmp_path, capsys):
    """Stock rl_zoo3.train (VecNormalize, a linear learning-rate schedule) -> `hub save` -> load_pretrained and,
    through `hub download --zoo-folder`, stock rl_zoo3.enjoy: the same deterministic episodes as the run itself."""
    (tmp_path / "conf.yml").write_text(ZOO_CONF)
    train = ["-m", "rl_zoo3.train", "--algo", "sac", "--env", "Pendulum-v1", "-conf", "conf.yml", "-f", "logs"]
    run_python([*train, "--seed", "0", "--eval-freq", "-1"], cwd=tmp_path)
    hub_main(["save", str(tmp_path / "logs" / "sac" / "Pendulum-v1_1"), str(tmp_path / "model")])
    config = json.loads((tmp_path / "model" / CONFIG_NAME).read_text())
    assert (config["env_id"], config["algorithm"], config["vec_normalize"]["norm_obs"]) == ("Pendulum-v1", "SAC", True)
    assert config["algorithm_kwargs"]["learning_rate"] == {"linear_from": 7.3e-4}
    assert config["algorithm_kwargs"]["train_freq"] == [2, "step"]
    hub_main(["download", str(tmp_path / "model"), "--zoo-folder", str(tmp_path / "zoo")])  # algo, env: the model's
    assert f"RL Zoo layout: {tmp_path / 'zoo' / 'sac' / 'Pendulum-v1_1'}" in capsys.readouterr().out

    env = create_test_env("Pendulum-v1", seed=0, should_render=False, hyperparams={})  # as enjoy makes it
    model = load_pretrained(tmp_path / "model", env=env)
    obs, total, returns = model.get_env().reset(), 0.0, []
    for _ in range(400):
        obs, _, done, _ = model.get_env().step(model.predict(obs, deterministic=True)[0])
        total += model.get_env().get_original_reward()[0]
        if done[0]:
            returns, total = [*returns, f"{total:.2f}"], 0.0
    assert len(returns) == 2
    assert _enjoy_returns("zoo", tmp_path) == returns == _enjoy_returns("logs", tmp_path)


@pytest.fixture(scope="module")
def saved_once(tmp_path_factory):
    return save_pretrained(trained(SAC, "LargeMlpPolicy"), tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture
def saved(tmp_path, saved_once):
    return shutil.copytree(saved_once, tmp_path / "model")


def _edit_config(folder, **changes):
    config = json.loads((folder / CONFIG_NAME).read_text())
    for key, value in changes.items():
        config["policy_kwargs"][key] = value
    (folder / CONFIG_NAME).write_text(json.dumps(config))


def test_bad_inputs(tmp_path, saved):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"holds no sb3_large_config.json .*and no SB3 .zip"):
        load_pretrained(tmp_path / "empty")

    unknown = shutil.copytree(saved, tmp_path / "unknown_arch")
    _edit_config(unknown, arch="fancy_plugin_arch")
    with pytest.raises(ValueError, match=r"cannot be built: .*unknown architecture 'fancy_plugin_arch'"):
        load_pretrained(unknown)

    wider = shutil.copytree(saved, tmp_path / "wider")
    _edit_config(wider, width=32)
    with pytest.raises(ValueError, match=r"model.safetensors does not match sb3_large_config.json"):
        load_pretrained(wider)

    truncated = shutil.copytree(saved, tmp_path / "truncated")
    data = (truncated / WEIGHTS_NAME).read_bytes()
    (truncated / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model.safetensors: cannot be read .*truncated or corrupt"):
        load_pretrained(truncated)

    broken_json = shutil.copytree(saved, tmp_path / "broken_json")
    text = (broken_json / CONFIG_NAME).read_text()
    (broken_json / CONFIG_NAME).write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"sb3_large_config.json: not valid JSON"):
        load_pretrained(broken_json)


def test_an_integer_of_too_many_digits_names_the_config(saved):
    config = json.loads((saved / CONFIG_NAME).read_text())
    config["algorithm_kwargs"]["gamma"] = "DIGITS"
    (saved / CONFIG_NAME).write_text(json.dumps(config).replace('"DIGITS"', "9" * 5000))
    with pytest.raises(ValueError, match=r"sb3_large_config.json: cannot be read \(Exceeds the limit \(4300 digits\)"):
        load_pretrained(saved)


# -- a model folder is data: nothing in it runs -------------------------------------------------------------------
PLANTED = """
import pathlib
pathlib.Path({marker!r}).write_text("this code ran")
import torch
class Policy(torch.nn.ReLU):
    pass
"""


@pytest.mark.parametrize("field", ["policy_class", "policy_kwargs.activation_fn"])
def test_a_module_shipped_in_the_folder_is_never_imported(tmp_path, saved, field):
    """The folder is first on sys.path (as the current directory is after cloning a Hub repo)."""
    module = f"planted_{field.replace('.', '_')}"
    marker = tmp_path / "ran.txt"
    (saved / f"{module}.py").write_text(PLANTED.format(marker=str(marker)))
    config = json.loads((saved / CONFIG_NAME).read_text())
    if field == "policy_class":
        config["policy_class"] = f"{module}.Policy"
    else:
        config["policy_kwargs"]["activation_fn"] = {"__class__": f"{module}.Policy"}
    (saved / CONFIG_NAME).write_text(json.dumps(config))
    script = f"import sys; sys.path.insert(0, {str(saved)!r}); from sb3_large.hub import load_pretrained; "
    proc = subprocess.run(
        [sys.executable, "-c", script + f"load_pretrained({str(saved)!r})"], cwd=saved, capture_output=True, text=True
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert f"{field}: '{module}.Policy' is outside the trusted modules" in last and "nothing was imported" in last
    assert f"trust_modules=['{module}']" in last
    assert not marker.exists() and module not in sys.modules


def test_a_trusted_class_cannot_be_made_to_import_a_shipped_module(tmp_path, saved):
    """SB3's SAC is a trusted class; built as the features extractor it would gym.make 'planted_env:X-v0', which
    imports planted_env from the folder. The config is refused on the class's kind before anything is built."""
    marker = tmp_path / "ran.txt"
    (saved / "planted_env.py").write_text(PLANTED.format(marker=str(marker)))
    _config_with(saved, _set("policy_kwargs.features_extractor_class", {"__class__": "stable_baselines3.SAC"}))
    _config_with(saved, _set("policy_kwargs.features_extractor_kwargs", {"env": "planted_env:Whatever-v0"}))
    script = f"import sys; sys.path.insert(0, {str(saved)!r}); from sb3_large.hub import load_pretrained; "
    proc = subprocess.run(
        [sys.executable, "-c", script + f"load_pretrained({str(saved)!r})"], cwd=saved, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert (
        "'stable_baselines3.SAC' is not a stable_baselines3.common.torch_layers.BaseFeaturesExtractor subclass"
        in (proc.stderr.strip().splitlines()[-1])
    )
    assert not marker.exists()


def test_trust_modules_opts_in(tmp_path, saved, monkeypatch):
    marker = tmp_path / "ran.txt"
    (saved / "my_trusted_policy.py").write_text(PLANTED.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(saved))
    config = json.loads((saved / CONFIG_NAME).read_text())
    config["policy_kwargs"]["activation_fn"] = {"__class__": "my_trusted_policy.Policy"}
    (saved / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="outside the trusted modules"):
        load_pretrained(saved)
    assert not marker.exists()
    model = load_pretrained(saved, trust_modules=["my_trusted_policy"])
    assert marker.exists() and any(type(m).__name__ == "Policy" for m in model.actor.modules())


CUSTOM_EXTRACTOR = """
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor


class Extractor(BaseFeaturesExtractor):
    def __init__(self, observation_space, norm_class):
        super().__init__(observation_space, observation_space.shape[0])
        self.norm = norm_class(observation_space.shape[0])

    def forward(self, obs):
        return self.norm(obs)
"""


def test_a_custom_extractor_with_a_class_kwarg_saves_and_loads_with_trust(tmp_path, monkeypatch):
    """A class under a key SB3 does not know (here the extractor's ``norm_class``) comes only from the modules
    the caller trusts, built-in trusted ones included: a config cannot put one of those anywhere."""
    (tmp_path / "my_extractors.py").write_text(CUSTOM_EXTRACTOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    from my_extractors import Extractor

    kwargs = dict(
        net_arch=[16], features_extractor_class=Extractor, features_extractor_kwargs={"norm_class": th.nn.LayerNorm}
    )
    model = SAC("MlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=kwargs)
    folder = save_pretrained(model, tmp_path / "model")
    with pytest.raises(
        ValueError,
        match=r"features_extractor_kwargs.norm_class: 'torch.nn.*LayerNorm' is outside the modules passed in "
        r"trust_modules \(my_extractors\)",
    ):
        load_pretrained(folder, trust_modules=["my_extractors"])
    loaded = load_pretrained(folder, trust_modules=["my_extractors", "torch.nn"])
    assert np.array_equal(loaded.predict(OBS, deterministic=True)[0], model.predict(OBS, deterministic=True)[0])


def _config_with(folder, change):
    config = json.loads((folder / CONFIG_NAME).read_text())
    replaced = change(config)
    (folder / CONFIG_NAME).write_text(json.dumps(config if replaced is None else replaced))


def _set(path: str, value):
    def change(config):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value

    return change


def _drop(key: str):
    def change(config):
        del config[key]

    return change


NATURE_CNN = "stable_baselines3.common.torch_layers.NatureCNN"
VEC_NORMALIZE = dict(
    norm_obs=True, norm_reward=True, clip_obs=10.0, clip_reward=10.0, gamma=0.99, epsilon=1e-8,
    obs_mean=[0.0] * 3, obs_var=[1.0] * 3, obs_count=1.0, ret_mean=0.0, ret_var=1.0, ret_count=1.0,
)  # fmt: skip
BAD_CONFIGS = {
    "not an object": (lambda config: [config], r"\(top level\): expected a JSON object, got list"),
    "no policy_class": (_drop("policy_class"), r"policy_class: required field is missing"),
    "unknown field": (_set("pickle", "gASV"), r"pickle: unknown field; allowed: format_version, algorithm"),
    "format_version": (_set("format_version", 2), r"format_version: 2 is not 1"),
    "algorithm": (_set("algorithm", "PPO"), r"algorithm: 'PPO' is not one of SAC, TD3, DDPG, TQC, CrossQ, sb3_large"),
    "policy_class type": (_set("policy_class", ["x"]), r"policy_class: expected a dotted class path, got list"),
    "policy_class builtin": (_set("policy_class", "os.system"), r"policy_class: 'os.system' is outside the trusted"),
    "policy_class re-exported": (
        _set("policy_class", "sb3_large.hub.locate.Path"),
        r"policy_class: 'sb3_large.hub.locate.Path' is defined in 'pathlib', outside the trusted modules",
    ),
    "policy_class not a policy": (
        _set("policy_class", "torch.nn.ReLU"),
        r"policy_class: 'torch.nn.ReLU' is not a policy of SAC \(stable_baselines3.sac.policies.SACPolicy subclass\)",
    ),
    "policy_class of another algorithm": (
        _set("algorithm", "TD3"),
        r"policy_class: 'sb3_large.policies.sac_policy.LargeSACPolicy' is not a policy of TD3",
    ),
    "policy_class not a class": (
        _set("policy_class", "torch.nn.functional.relu"),
        r"policy_class: 'torch.nn.functional.relu' is not a class",
    ),
    "policy_kwargs type": (_set("policy_kwargs", "width=16"), r"policy_kwargs: expected an object, got str"),
    "class entry": (
        _set("policy_kwargs.activation_fn", {"__class__": "torch.nn.ReLU", "args": [1]}),
        r'policy_kwargs.activation_fn: a class is written {"__class__": "package.module.Class"} and nothing else',
    ),
    # SB3's algorithms are trusted classes, but built as an extractor one would gym.make an env id that names a
    # module to import: a class is taken only where a kwarg takes one, and only of that kind
    "class of the wrong kind": (
        _set("policy_kwargs.features_extractor_class", {"__class__": "stable_baselines3.SAC"}),
        r"policy_kwargs.features_extractor_class: 'stable_baselines3.SAC' is not a "
        r"stable_baselines3.common.torch_layers.BaseFeaturesExtractor subclass",
    ),
    "class under another key": (  # a custom extractor's or plugin's kwargs: only from modules the caller trusts
        _set("policy_kwargs.arch_kwargs", {"env": {"__class__": "torch.nn.ReLU"}}),
        r"policy_kwargs.arch_kwargs.env: 'torch.nn.ReLU' is outside the modules passed in trust_modules \(none\)",
    ),
    # built once per layer: an activation must be parameter-free
    "activation of another kind": (
        _set("policy_kwargs.activation_fn", {"__class__": "torch.nn.Transformer"}),
        r"policy_kwargs.activation_fn: 'torch.nn.Transformer' is not a parameter-free activation: expected a class "
        r"of torch.nn.modules.activation",
    ),
    "activation with parameters": (
        _set("policy_kwargs.activation", {"__class__": "torch.nn.PReLU"}),
        r"policy_kwargs.activation: 'torch.nn.PReLU' is not a parameter-free activation",
    ),
    "activation that needs arguments": (
        _set("policy_kwargs.activation_fn", {"__class__": "torch.nn.MultiheadAttention"}),
        r"policy_kwargs.activation_fn: 'torch.nn.MultiheadAttention' is not a parameter-free activation",
    ),
    "class elsewhere": (
        _set("policy_kwargs.activation_fn", {"__class__": "subprocess.Popen"}),
        r"policy_kwargs.activation_fn: 'subprocess.Popen' is outside the trusted modules",
    ),
    "space keys": (_set("observation_space", {"type": "Box"}), r"observation_space: expected the keys type, low,"),
    "space type": (_set("action_space.type", "Discrete"), r"action_space.type: only 'Box' is stored, got 'Discrete'"),
    "space dtype": (_set("action_space.dtype", "object"), r"action_space.dtype: 'object' is not one of float16"),
    "space values": (_set("observation_space.low", ["a", 1, 2]), r"observation_space.low: expected a \(nested\) list"),
    "space shapes": (_set("observation_space.high", [1.0, 2.0]), r"observation_space: low has shape \(3,\), high"),
    "space order": (_set("action_space.low", [5.0]), r"action_space: low is above high"),
    "algorithm_kwargs unknown": (
        _set("algorithm_kwargs.replay_buffer_class", "ReplayBuffer"),
        r"algorithm_kwargs.replay_buffer_class: unknown; allowed: learning_rate, gamma, tau, batch_size, buffer_size",
    ),
    "learning_rate": (
        _set("algorithm_kwargs.learning_rate", {"linear_from": -1}),
        r"algorithm_kwargs.learning_rate: expected a number > 0, or \{\"linear_from\": a number > 0\}",
    ),
    "train_freq": (
        _set("algorithm_kwargs.train_freq", [1, "episodes"]),
        r"algorithm_kwargs.train_freq: expected \[a positive integer, 'step' or 'episode'\], got \[1, 'episodes'\]",
    ),
    "ent_coef": (
        _set("algorithm_kwargs.ent_coef", "auto_x"),
        r"algorithm_kwargs.ent_coef: expected a number >= 0, 'auto' or 'auto_<initial value>', got 'auto_x'",
    ),
    "target_entropy": (_set("algorithm_kwargs.target_entropy", "-1"), r"target_entropy: expected a number or 'auto'"),
    "action_noise": (
        _set("algorithm_kwargs.action_noise", {"kind": "normal", "mean": [0, 0], "sigma": [1, 1]}),
        r"algorithm_kwargs.action_noise: mean and sigma have shape \(2,\), the actions \(1,\)",
    ),
    "compile": (_set("algorithm_kwargs.compile", "update"), r"algorithm_kwargs.compile: SAC takes no such setting"),
    "vec_normalize keys": (
        _set("vec_normalize", {"norm_obs": True}),
        r"vec_normalize.norm_reward: required field is missing",
    ),
    "vec_normalize shape": (
        _set("vec_normalize", VEC_NORMALIZE | {"obs_mean": [0.0, 0.0]}),
        r"vec_normalize.obs_mean: expected the observations' shape \(3,\)",
    ),
    "vec_normalize variance": (
        _set("vec_normalize", VEC_NORMALIZE | {"obs_var": [1.0, -1.0, 1.0]}),
        r"vec_normalize.obs_var: expected a \(nested\) list of numbers >= 0, got \[1.0, -1.0, 1.0\]",
    ),
    "algorithm_kwargs type": (
        _set("algorithm_kwargs.batch_size", "256"),
        r"algorithm_kwargs.batch_size: expected a positive integer, got '256'",
    ),
    "algorithm_kwargs bool": (_set("algorithm_kwargs.gamma", True), r"algorithm_kwargs.gamma: expected a number in"),
    # integers too large for a float are not finite numbers
    "algorithm_kwargs huge": (
        _set("algorithm_kwargs.gamma", 10**400),
        r"algorithm_kwargs.gamma: expected a number in \[0, 1\], got 1000",
    ),
    "space huge": (
        _set("observation_space.low", [10**400] * 3),
        r"observation_space.low: expected a \(nested\) list of numbers: int too large to convert to float",
    ),
    "vec_normalize huge": (
        _set("vec_normalize", VEC_NORMALIZE | {"clip_obs": 10**400}),
        r"vec_normalize.clip_obs: expected a number > 0, got 1000",
    ),
    "q_distribution huge": (
        _set("policy_kwargs.q_distribution", {"bins": 11, "sigma": 10**400}),
        r"q_distribution.sigma: must be a finite number > 0, got 1000",
    ),
    "algorithm_kwargs range": (_set("algorithm_kwargs.tau", 3), r"algorithm_kwargs.tau: expected a number in \[0, 1\]"),
    "algorithm_kwargs buffer": (
        _set("algorithm_kwargs.buffer_size", 10**15),
        r"algorithm_kwargs.buffer_size: a replay buffer of 1000000000000000 transitions cannot be allocated",
    ),
    "algorithm_kwargs buffer beyond numpy": (
        _set("algorithm_kwargs.buffer_size", 10**18),
        r"algorithm_kwargs.buffer_size: a replay buffer of 1000000000000000000 transitions cannot be allocated",
    ),
    "algorithm_kwargs buffer beyond numpy's dimensions": (
        _set("algorithm_kwargs.buffer_size", 10**19),
        r"algorithm_kwargs.buffer_size: a replay buffer of 10000000000000000000 transitions cannot be allocated",
    ),
    "algorithm_kwargs of another algorithm": (
        _set("algorithm_kwargs.top_quantiles_to_drop_per_net", 2),
        r"algorithm_kwargs.top_quantiles_to_drop_per_net: SAC takes no such setting",
    ),
    "fused and foreach": (
        _set("policy_kwargs.optimizer_kwargs", {"fused": True, "foreach": True}),
        r"cannot be built: optimizer_kwargs: torch.optim.adam.Adam refuses \{'fused': True, 'foreach': True\}",
    ),
    "NatureCNN on Box": (
        _set("policy_kwargs.features_extractor_class", {"__class__": NATURE_CNN}),
        r"cannot be built: features_extractor_class: NatureCNN reads images",
    ),
    "SB3's policy with NatureCNN on Box": (
        lambda config: config.update(
            policy_class="stable_baselines3.sac.policies.SACPolicy",
            policy_kwargs={"features_extractor_class": {"__class__": NATURE_CNN}},
        ),
        r"cannot be built: features_extractor_class: NatureCNN reads images",
    ),
    "q_distribution beyond float32": (
        _set("policy_kwargs.q_distribution", {"low": -1e39, "high": 1e39, "transform": "none"}),
        r"cannot be built: q_distribution.low: must be within -3.403e\+38 and 3.403e\+38",
    ),
    "arch_kwargs not a mapping": (
        _set("policy_kwargs.arch_kwargs", [1]),
        r"cannot be built: arch_kwargs: must be a mapping of the architecture's options, got \[1\]",
    ),
    "env_id": (_set("env_id", 3), r"env_id: expected a string or null, got int 3"),
    "versions": (_set("versions.torch", 2), r"versions.torch: expected a string, got int 2"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_each_bad_config_gives_one_clear_error(tmp_path, saved, case):
    change, message = BAD_CONFIGS[case]
    _config_with(saved, change)
    with pytest.raises(ValueError, match=message):
        load_pretrained(saved)


def test_a_setup_error_that_is_not_the_replay_buffers_is_not_blamed_on_it(saved, monkeypatch):
    """Only memory errors (and numpy's size limit, the cases above) name buffer_size; anything else the algorithm's
    setup refuses is reported as it is."""

    def refuse(model):
        raise ValueError("the algorithm refuses a setting")

    monkeypatch.setattr(SAC, "_setup_model", refuse)
    with pytest.raises(ValueError, match=r"algorithm_kwargs: the model cannot be set up: the algorithm refuses") as err:
        load_pretrained(saved)
    assert "buffer_size" not in str(err.value)


# Clears the screen, sets the window title, reverses the text that follows.
ESCAPES = "\x1b[2J\x1b]0;owned\x07\u202e"


def _assert_escaped(text: str) -> None:
    """Nothing a terminal acts on but line breaks; the escapes written out (Python's or JSON's spelling)."""
    assert all(c.isprintable() for c in text.replace("\n", ""))
    assert r"\x1b[2J\x1b]0;owned\x07\u202e" in text or r"\u001b[2J\u001b]0;owned\u0007\u202e" in text


def test_the_model_card_front_matter_holds_the_env_id_as_one_string(tmp_path, saved_once):
    """An env id or metric name of quotes, colons and line breaks cannot add keys to the README's metadata."""
    env_id = 'x"\n---\nlicense: other\n- "evil: 1'
    model = load_pretrained(saved_once)
    folder = save_pretrained(model, tmp_path / "model", env_id=env_id, metrics={"a\n---\nlicense: other": 1})
    _, front_matter, body = (folder / "README.md").read_text().split("---\n", 2)
    assert yaml.safe_load(front_matter) == {
        "library_name": "sb3-large",
        "tags": ["reinforcement-learning", "stable-baselines3", env_id],
    }
    assert "\nlicense" not in body


@pytest.mark.parametrize("where", ["unknown field", "policy kwarg", "metrics"])
def test_names_and_values_from_a_config_are_printed_escaped(tmp_path, saved, capsys, where):
    if where == "unknown field":
        _config_with(saved, _set(ESCAPES, 1))
    elif where == "policy kwarg":
        _edit_config(saved, q_distribution={ESCAPES: 1})
    else:  # any name a config may hold, printed by info
        _config_with(saved, _set("metrics", {ESCAPES: ESCAPES}))
        hub_main(["info", str(saved)])
        _assert_escaped(capsys.readouterr().out)
        return
    with pytest.raises(ValueError) as error:
        load_pretrained(saved)
    _assert_escaped(str(error.value))
    argv = ["info", str(saved)] if where == "unknown field" else ["download", str(saved), "--zoo-folder", "z"]
    with pytest.raises(SystemExit):
        hub_main([*argv, "--algo", "sac"] if argv[0] == "download" else argv)
    _assert_escaped(capsys.readouterr().err)


@pytest.mark.parametrize("case", ["fused and foreach", "NatureCNN on Box", "arch_kwargs not a mapping"])
def test_the_cli_gives_the_same_one_line_error(tmp_path, saved, capsys, case):
    change, message = BAD_CONFIGS[case]
    _config_with(saved, change)
    with pytest.raises(SystemExit) as exit_info:
        hub_main(["download", str(saved), "--zoo-folder", str(tmp_path / "logs"), "--algo", "sac"])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip()
    assert re.search(message, error) and "\n" not in error and "Traceback" not in error


def test_a_network_of_terabytes_is_refused_before_it_is_built(saved):
    """Width 10**6 (about 4 TB of float32 weights): found out from the header, nothing allocated."""
    _edit_config(saved, width=10**6)
    with pytest.raises(ValueError, match=r"does not match .*tensor '.*' is F32 \[16, 3\], the policy needs F32"):
        load_pretrained(saved)


INFLATED = {
    "depth": ({"depth": 64}, r": depth 64: a policy of at least 130 weight tensors of 130 numbers"),
    "critic depth": ({"critic_net": {"depth": 64}}, r": critic_net.depth 64: a policy of at least 66 "),
    "n_critics": ({"n_critics": 64}, r": n_critics 64: a policy of at least 65 weight tensors"),
    "n_critics the bound allows": ({"n_critics": 20}, r"\.n_critics: 20, but model.safetensors holds 2 critics"),
    "stacked n_critics the bound allows": (
        {"n_critics": 64, "ensemble_critics": True},
        r"\.n_critics: 64, but model.safetensors holds 2 critics; the config does not describe these weights",
    ),
    "net_arch": ({"net_arch": [16] * 64}, r": net_arch of length 64: a policy of at least 130 weight"),
    "ofenet layers": (
        {"ofenet_kwargs": {"layers": 64}},
        r": ofenet_kwargs.layers 64: a policy of at least 130 weight tensors of 130 numbers, but "
        r"model.safetensors holds \d+ floating-point tensors of \d+ numbers; the config does not describe these "
        r"weights \(nothing was built\)",
    ),
    "ofenet layers under the old name": (
        {"ofenet_kwargs": None, "ofenet": {"layers": 64}},
        r": ofenet_kwargs.layers 64: a policy of at least 130 weight tensors",
    ),
}
# Settings above the caps, refused whatever the weights file holds.
CAPPED = {
    "depth": ({"depth": 2000}, r"\.depth: 2000 layers, more than the 64 allowed"),
    "critic depth": ({"critic_net": {"depth": 10**6}}, r"\.critic_net\.depth: 1000000 layers, more than the 64"),
    "old critic depth": ({"critic": {"depth": 65}}, r"\.critic\.depth: 65 layers, more than the 64 allowed"),
    "n_critics": ({"n_critics": 10**6}, r"\.n_critics: 1000000 critics, more than the 64 allowed"),
    "stacked n_critics": (
        {"n_critics": 5000, "ensemble_critics": True},
        r"\.n_critics: 5000 critics, more than the 64 allowed \(no real model approaches it; nothing was built\)",
    ),
    # 10**5 widths fit under the config's size cap (10**6, 4 MB of JSON, are refused from the file's size alone)
    "net_arch": ({"net_arch": [16] * 10**5}, r"\.net_arch: 100000 layers, more than the 64 allowed"),
    "net_arch.qf": ({"net_arch": {"pi": [16], "qf": [16] * 65}}, r"\.net_arch\.qf: 65 layers, more than the 64"),
    "ofenet layers": ({"ofenet_kwargs": {"layers": 10**6}}, r"\.ofenet_kwargs\.layers: 1000000 layers, more than"),
    "ofenet layers under the old name": (
        {"ofenet_kwargs": None, "ofenet": {"layers": 8000}},
        r"\.ofenet\.layers: 8000 layers, more than the 64 allowed",
    ),
    "layers in all": (
        {"depth": 32, "n_critics": 40, "ensemble_critics": True},
        r": depth 32, n_critics 40: a policy of at least 1353 layers, more than the 1024 allowed \(no real model",
    ),
}


@contextlib.contextmanager
def _no_network_built():
    """Fails the test as soon as any network is put together (a module registered as another's submodule)."""

    def fail(module, name, submodule):
        pytest.fail(f"{type(submodule).__name__} {name!r} was built into a {type(module).__name__}")

    handle = th.nn.modules.module.register_module_module_registration_hook(fail)
    try:
        yield
    finally:
        handle.remove()


@pytest.mark.parametrize("case", INFLATED)
def test_an_inflated_config_is_refused_before_any_network_is_built(saved, case):
    """A config of 10**6 layers or critics beside a weights file of a few: refused from the header's size."""
    changes, message = INFLATED[case]
    _edit_config(saved, **changes)
    with pytest.raises(ValueError, match=r"sb3_large_config.json: policy_kwargs" + message):
        with _no_network_built():
            load_pretrained(saved)


def test_only_floating_point_tensors_count_toward_the_size_bound(saved):
    """One-byte integers that pad the file and a stacked critic tensor of 64 rows hold no weights."""
    _edit_config(saved, n_critics=64, ensemble_critics=True)
    padding = {f"pad{i}": th.zeros(1 if i else 10**4, dtype=th.uint8) for i in range(40)}
    save_file({"critic.q_ensemble.x": th.zeros(64, dtype=th.uint8), **padding}, str(saved / WEIGHTS_NAME))
    message = (
        r": .*n_critics 64: a policy of at least \d+ weight tensors of \d+ numbers, but model.safetensors holds 0 "
    )
    with pytest.raises(ValueError, match=r"sb3_large_config.json: policy_kwargs" + message + "floating-point tensors"):
        with _no_network_built():
            load_pretrained(saved)


@pytest.mark.parametrize("case", CAPPED)
def test_a_setting_above_its_cap_is_refused_before_any_network_is_built(saved, case):
    """Under the size bound alone, a small file could describe thousands of layers: each is capped."""
    changes, message = CAPPED[case]
    _edit_config(saved, **changes)
    with pytest.raises(ValueError, match=r"sb3_large_config.json: policy_kwargs" + message):
        with _no_network_built():
            load_pretrained(saved)


@pytest.mark.parametrize("depth", [40, 10**5])
def test_a_deeply_nested_config_is_one_clear_error(saved, depth):
    text = (saved / CONFIG_NAME).read_text()
    config = json.loads(text)
    config["policy_kwargs"]["arch_kwargs"] = "DEEP"
    deep = '{"a": ' * depth + "1" + "}" * depth
    (saved / CONFIG_NAME).write_text(json.dumps(config).replace('"DEEP"', deep))
    where = "policy_kwargs" if depth < 1000 else r"\(top level\)"
    with pytest.raises(ValueError, match=rf"sb3_large_config.json: {where}: lists and objects are nested more than 32"):
        load_pretrained(saved)


@pytest.mark.parametrize("bad", ["float64", "nan", "inf"])
def test_bad_weights(saved, bad):
    tensors = load_file(str(saved / WEIGHTS_NAME))
    name = next(k for k in tensors if k.endswith("weight"))
    if bad == "float64":
        tensors[name] = tensors[name].double()
        message = rf"tensor '{re.escape(name)}' is F64 \[16, 3\], the policy needs F32 \[16, 3\]"
    else:
        tensors[name][0, 0] = float(bad)
        message = rf"model.safetensors: tensor '{re.escape(name)}' holds NaN or Inf; refusing non-finite weights"
    save_file(tensors, str(saved / WEIGHTS_NAME))
    with pytest.raises(ValueError, match=message):
        load_pretrained(saved)


def test_an_env_with_other_spaces_is_refused(saved):
    with pytest.raises(ValueError, match=r"env: its observation_space Box.*\(2,\).* differs from the model's Box"):
        load_pretrained(saved, env=gym.make("MountainCarContinuous-v0"))


def test_a_path_that_does_not_exist_is_not_taken_for_a_repo_id(tmp_path, saved, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    for source in ["./sac", "models/sac", tmp_path / "nope", "~/no-such-model", "nope.zip", "a/b/c"]:
        with pytest.raises(FileNotFoundError, match=r"source: no folder .*\(and it is not a Hub repo id 'org/name'\)"):
            load_pretrained(source)
    with pytest.raises(NotADirectoryError, match=r"source: .*model.safetensors is a file; give the model's folder"):
        load_pretrained(saved / WEIGHTS_NAME)


# -- writes stay where the user pointed ----------------------------------------------------------------------
def test_save_keeps_the_users_files(tmp_path, saved, saved_once):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    model = load_pretrained(saved_once)
    with pytest.raises(FileExistsError, match=r"folder: .*project is not empty and holds no sb3_large_config.json"):
        save_pretrained(model, project)
    assert sorted(p.name for p in project.iterdir()) == ["notes.txt"]

    (saved / ".gitattributes").write_text("*.safetensors filter=lfs")  # a Hub clone: files we did not write
    (saved / "notes.txt").write_text("mine")
    save_pretrained(model, saved)
    names = sorted(p.name for p in saved.iterdir())
    assert names == sorted([".gitattributes", "notes.txt", "README.md", CONFIG_NAME, WEIGHTS_NAME])
    assert (saved / "notes.txt").read_text() == "mine"

    with pytest.raises(NotADirectoryError, match=r"folder: .*notes.txt is a file"):
        save_pretrained(model, saved / "notes.txt")


def test_a_model_the_loader_would_refuse_is_not_saved(tmp_path):
    """A model beyond the loader's caps (here 65 layers) is refused by save_pretrained, before any file is written."""
    model = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(arch="mlp", width=4, depth=65))
    message = r"policy_kwargs.depth: 65 layers, more than the 64 allowed.*nothing was written"
    with pytest.raises(ValueError, match=message):
        save_pretrained(model, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_written_files_get_the_mode_of_the_umask(tmp_path, saved_once):
    umask = os.umask(0o027)
    try:
        folder = save_pretrained(load_pretrained(saved_once), tmp_path / "model")
    finally:
        os.umask(umask)
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == dict.fromkeys(
        ["README.md", CONFIG_NAME, WEIGHTS_NAME], 0o640
    )


def test_save_replaces_an_existing_model(tmp_path, saved):
    other = trained(TD3, "LargeMlpPolicy")
    save_pretrained(other, saved)
    assert json.loads((saved / CONFIG_NAME).read_text())["algorithm"] == "TD3"
    assert sorted(p.name for p in saved.iterdir()) == sorted(["README.md", CONFIG_NAME, WEIGHTS_NAME])
    assert load_pretrained(saved).policy_class.__name__ == "LargeTD3Policy"


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "env_id", ["../../escaped", "..", "/tmp/abs", "ALE/Pong-v5", "gymnasium.envs.classic_control:Foo-v0", "a\\b"]
)
def test_a_crafted_env_id_writes_nothing(tmp_path, saved, capsys, env_id):
    (tmp_path / "logs").mkdir()
    before = _tree(tmp_path)
    for args in (["--env", env_id], []):  # given on the command line, or read from the config
        _config_with(saved, _set("env_id", env_id))
        with pytest.raises(SystemExit) as exit_info:
            hub_main(["download", str(saved), "--zoo-folder", str(tmp_path / "logs"), "--algo", "sac", *args])
        assert exit_info.value.code == 1
        assert f"error: env_id: {env_id!r} is not a plain gymnasium id" in capsys.readouterr().err
        assert _tree(tmp_path) == before


def test_a_symlink_in_the_zoo_folder_cannot_lead_outside(tmp_path, saved, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "sac").symlink_to(outside)
    with pytest.raises(SystemExit):
        hub_main(["download", str(saved), "--zoo-folder", str(tmp_path / "logs"), "--algo", "sac"])
    assert "leads outside" in capsys.readouterr().err
    assert list(outside.iterdir()) == []
    with pytest.raises(SystemExit):
        hub_main(["download", str(saved), "--zoo-folder", str(tmp_path / "logs"), "--algo", "../sac"])
    assert "algo: '../sac' is not an RL Zoo algo name" in capsys.readouterr().err


def test_cli_info_and_rl_zoo_export_then_stock_enjoy(tmp_path, saved):
    out = run_python(["-m", "sb3_large.hub", "info", str(saved)], cwd=tmp_path).stdout
    assert json.loads(out)["algorithm"] == "SAC"
    args = ["-m", "sb3_large.hub", "download", str(saved), "--zoo-folder", "logs", "--algo", "sac"]
    out = run_python(args, cwd=tmp_path).stdout
    assert "logs/sac/Pendulum-v1_1" in out
    enjoy = ["-m", "rl_zoo3.enjoy", "--algo", "sac", "--env", "Pendulum-v1", "-f", "logs", "-n", "50", "--no-render"]
    out = run_python(enjoy, cwd=tmp_path).stdout
    assert "Loading logs/sac/Pendulum-v1_1/Pendulum-v1.zip" in out


def test_a_zoo_export_under_another_algorithm_is_refused(tmp_path, saved, capsys):
    """RL Zoo would load the SAC model as TD3 and fail deep inside."""
    (tmp_path / "logs").mkdir()
    with pytest.raises(SystemExit):
        hub_main(["download", str(saved), "--zoo-folder", str(tmp_path / "logs"), "--algo", "td3"])
    assert "error: algo: 'td3' is not this model's algorithm: it is a SAC model, RL Zoo's 'sac'" in (
        capsys.readouterr().err
    )
    assert _tree(tmp_path / "logs") == []


def test_a_zoo_export_is_a_new_run_next_to_the_users_own(tmp_path, saved, capsys):
    """RL Zoo numbers runs <env>_1, _2, ...; the export takes the next free one (which enjoy plays by default)
    and leaves the user's runs as they were."""
    own = tmp_path / "logs" / "sac" / "Pendulum-v1_1"
    (own / "Pendulum-v1").mkdir(parents=True)
    (own / "Pendulum-v1.zip").write_bytes(b"my own model")
    (own / "Pendulum-v1" / "config.yml").write_text("my settings")
    before = {p: p.read_bytes() for p in own.rglob("*") if p.is_file()}
    hub_main(["download", str(saved), "--zoo-folder", str(tmp_path / "logs"), "--algo", "sac"])
    assert f"RL Zoo layout: {tmp_path / 'logs' / 'sac' / 'Pendulum-v1_2'}" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in own.rglob("*") if p.is_file()} == before
    new_run = tmp_path / "logs" / "sac" / "Pendulum-v1_2"
    assert [p.name for p in new_run.iterdir()] == ["Pendulum-v1.zip"]  # no staging file left
    umask = os.umask(0)
    os.umask(umask)
    assert (new_run / "Pendulum-v1.zip").stat().st_mode & 0o777 == 0o666 & ~umask  # as a plain save's would be
    exported, original = SAC.load(new_run / "Pendulum-v1.zip"), load_pretrained(saved)
    assert np.array_equal(exported.predict(OBS, deterministic=True)[0], original.predict(OBS, deterministic=True)[0])


def test_a_failed_zoo_export_leaves_no_run_behind(tmp_path, saved, monkeypatch):
    """An empty run folder would be the latest run rl_zoo3.enjoy plays."""

    def failing_save(self, path, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(SAC, "save", failing_save)
    (tmp_path / "logs").mkdir()
    with pytest.raises(SystemExit):
        hub_main(["download", str(saved), "--zoo-folder", str(tmp_path / "logs"), "--algo", "sac"])
    assert _tree(tmp_path / "logs") == ["sac"]


def test_push_uploads_only_the_models_files(saved, monkeypatch):
    """A model folder may hold other files (a user's notes, a crashed save's staging file): push leaves them."""
    (saved / "notes.txt").write_text("private")
    (saved / ".model.safetensors.x.tmp").write_bytes(b"partial")
    calls = []

    class RecordingApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id))

        def upload_folder(self, **kwargs):
            files = sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())
            calls.append(("upload", list(filter_repo_objects(files, allow_patterns=kwargs["allow_patterns"]))))
            return "uploaded"

    monkeypatch.setattr("sb3_large.hub.cli.HfApi", RecordingApi)
    hub_main(["push", str(saved), "--repo-id", "org/model"])
    assert calls == [("create_repo", "org/model"), ("upload", sorted(["README.md", CONFIG_NAME, WEIGHTS_NAME]))]


def test_a_gsde_config_written_before_use_sde_was_stored_loads(tmp_path):
    model = SAC("LargeMlpPolicy", "Pendulum-v1", seed=0, use_sde=True, policy_kwargs=dict(width=16))
    folder = save_pretrained(model, tmp_path / "model")
    config = json.loads((folder / CONFIG_NAME).read_text())
    del config["algorithm_kwargs"]["use_sde"]
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    loaded = load_pretrained(folder)
    assert loaded.use_sde and loaded.actor.use_sde
    assert np.array_equal(loaded.predict(OBS, deterministic=True)[0], model.predict(OBS, deterministic=True)[0])


@pytest.mark.parametrize(
    "algo, kwargs, setting",
    [
        ("SAC", dict(use_sde=True), "use_sde"),  # SB3 writes use_sde into the policy kwargs from the algorithm's
        ("TQC", dict(top_quantiles_to_drop_per_net=5), "top_quantiles_to_drop_per_net"),
    ],
)
def test_algorithm_settings_that_shape_the_model_round_trip(tmp_path, algo, kwargs, setting):

    algo_class = {"SAC": SAC, "TQC": TQC}[algo]
    model = algo_class("LargeMlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=dict(width=16), **kwargs)
    loaded = load_pretrained(save_pretrained(model, tmp_path / "model"))
    assert getattr(loaded, setting) == kwargs[setting]
    assert np.array_equal(loaded.predict(OBS, deterministic=True)[0], model.predict(OBS, deterministic=True)[0])


@pytest.mark.parametrize("algo", ["sb3_large.SAC", "sb3_large.TD3", "CrossQ"])
def test_algorithm_class_round_trips(algo, tmp_path):
    """A model comes back as the class it was saved from: sb3_large.SAC keeps its update (the cross-entropy of
    categorical critics), CrossQ its own."""

    algo_class = {"sb3_large.SAC": sb3_large.SAC, "sb3_large.TD3": sb3_large.TD3, "CrossQ": CrossQ}[algo]
    kwargs = dict(arch="mlp", width=16) if algo == "CrossQ" else dict(width=16, q_distribution=dict(bins=11))
    model = algo_class("LargeMlpPolicy", "Pendulum-v1", learning_starts=50, batch_size=16, seed=0, policy_kwargs=kwargs)
    model.learn(80)
    folder = save_pretrained(model, tmp_path / "model")
    assert json.loads((folder / CONFIG_NAME).read_text())["algorithm"] == algo
    loaded = load_pretrained(folder)
    assert type(loaded) is algo_class
    obs = np.stack([model.observation_space.sample() for _ in range(5)])
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
