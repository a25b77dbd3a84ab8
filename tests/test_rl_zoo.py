"""Stock ``python -m rl_zoo3.train`` / ``rl_zoo3.enjoy`` with our YAMLs, as subprocesses."""

import math
import os
import pickle
import re
import subprocess
import sys

import gymnasium as gym
import pytest
import torch as th
import yaml
from stable_baselines3 import SAC

import sb3_large
from sb3_large.ofenet import OFENetConfig
from sb3_large.policies.options import resolve_specs

from .conftest import ROOT, run_python

MUJOCO = ["Hopper", "Walker2d", "HalfCheetah", "Ant", "Humanoid"]
SMALL_OFENET = "policy_kwargs:dict(width=32, ofenet_kwargs=dict(layers=2, growth=8, pretrain_steps=100))"
BF16_POLICY = "policy_kwargs:dict(arch='mlp', norm='layer', width=32, precision='bf16')"
ZOO_FILES = {"sac": "sac_large", "td3": "td3_ota2021"}  # a shipped file per algorithm
REQUIRED = [f"{env}-{v}" for env in MUJOCO for v in ("v4", "v5")] + ["Pendulum-v1", "InvertedPendulum-v4"]


@pytest.mark.parametrize("name", ["sac_large", "td3_ota2021"])  # sac_ota2021.yml: test_benchmarks.py
def test_yaml_has_every_env_with_a_valid_typed_config(name):
    algo = name[:3]
    with open(ROOT / "hyperparams" / f"{name}.yml") as f:
        config = yaml.safe_load(f)
    assert set(REQUIRED) <= set(config)
    for env_id in REQUIRED:
        entry = config[env_id]
        kwargs = dict(entry["policy_kwargs"])
        assert isinstance(entry["learning_rate"], float) and isinstance(entry["n_timesteps"], (int, float)), env_id
        if env_id.split("-")[0] in MUJOCO and name == "sac_large":  # the default: more updates on bounded norms
            assert entry["policy"] == "sb3_large.policies.LargeSACPolicy" and "callback" not in entry, env_id
            # Walker2d, Ant: observations only (rewards scaled, the default learned less in 50k steps: BENCHMARKS.md)
            raw_rewards = env_id.split("-")[0] in ("Walker2d", "Ant")
            normalize = "dict(norm_obs=True, norm_reward=False)" if raw_rewards else True
            # Ant: one update per env step (two learned less in 50k steps: BENCHMARKS.md)
            gradient_steps = 1 if env_id.startswith("Ant") else 2
            assert entry["normalize"] == normalize and entry["gradient_steps"] == gradient_steps, env_id
            assert entry["ent_coef"] == "auto_0.01", env_id
            assert entry["target_entropy"] == -gym.make(env_id).action_space.shape[0] / 2, env_id
            assert kwargs["norm"] == "layer" and kwargs["critic_net"]["width"] >= kwargs["actor_net"]["width"]
            # Ant: a plain actor, whose small initial actions stand still (BENCHMARKS.md)
            actor_norm = "none" if env_id.startswith("Ant") else "layer"
            assert kwargs["actor_net"].get("norm", "layer") == actor_norm, env_id
            assert kwargs["critic_net"].get("norm", "layer") == "layer", env_id
        elif env_id.split("-")[0] in MUJOCO:  # the paper's full recipe
            assert entry["policy"] == f"sb3_large.policies.OFENet{algo.upper()}Policy", env_id
            assert entry["callback"] == ["sb3_large.ofenet.OFENetTrainer"], env_id
            ofenet = OFENetConfig.from_kwargs(kwargs.pop("ofenet_kwargs"))
            obs_dim = gym.make(env_id).observation_space.shape[0]
            assert (ofenet.predict_dims or obs_dim) <= obs_dim, env_id
        else:
            assert entry["policy"] == f"sb3_large.policies.Large{algo.upper()}Policy", env_id
        resolve_specs(kwargs, kwargs.pop("actor_net", None), kwargs.pop("critic_net", None), None)
    if name == "td3_ota2021":
        assert config["Ant-v5"]["policy_kwargs"]["ofenet_kwargs"]["predict_dims"] == 27
        ofenet = {"layers": 8, "growth": 30, "predict_dims": 292}
        assert config["Humanoid-v4"]["policy_kwargs"]["ofenet_kwargs"] == ofenet


@pytest.mark.parametrize(
    "algo, env_id, n_steps, extra",
    [
        ("sac", "Pendulum-v1", 1500, []),
        ("td3", "InvertedPendulum-v4", 1300, []),
        # The default as written (VecNormalize of observations, 1 gradient step per env step): a few RL updates.
        ("sac", "Ant-v4", 320, ["-params", "learning_starts:300"]),
        ("td3", "Hopper-v4", 400, ["-params", "learning_starts:200", SMALL_OFENET]),
        # The bfloat16 bodies, set in policy_kwargs as a YAML would.
        ("sac", "Pendulum-v1", 400, ["-params", "learning_starts:300", BF16_POLICY]),
    ],
)
def test_stock_rl_zoo_trains_and_enjoys(tmp_path, algo, env_id, n_steps, extra):
    conf = str(ROOT / "hyperparams" / f"{ZOO_FILES[algo]}.yml")
    train = ["-m", "rl_zoo3.train", "--algo", algo, "--env", env_id, "-conf", conf, "-n", str(n_steps)]
    out = run_python([*train, "-f", "logs", "--seed", "0", "--eval-freq", "-1", *extra], cwd=tmp_path).stdout
    assert "sb3_large.policies" in out
    assert (tmp_path / "logs" / algo / f"{env_id}_1" / f"{env_id}.zip").exists()
    if env_id.startswith("Hopper"):
        # SB3's stdout table prints the "ofenet/" group header, then its keys
        assert re.search(r"\| ofenet/ +\| +\|\n\| +aux_loss +\| [-0-9.e+]+ +\|", out), out[-3000:]
    if BF16_POLICY in extra:
        model = SAC.load(tmp_path / "logs" / algo / f"{env_id}_1" / f"{env_id}.zip")
        assert model._n_updates == n_steps - 300
        assert (model.policy.precision, model.actor.precision, model.critic.precision) == ("bf16",) * 3
    if env_id.startswith("Ant"):  # the default recipe reached the model: 1 update per step after 300 random steps
        model = SAC.load(tmp_path / "logs" / algo / f"{env_id}_1" / f"{env_id}.zip")
        assert model.gradient_steps == 1 and model._n_updates == n_steps - 300
        assert model.target_entropy == -4.0 and model.policy.critic_spec.norm == "layer"
        assert model.policy.actor_spec.norm == "none"
        assert not any(isinstance(m, th.nn.LayerNorm) for m in model.actor.modules())
        with open(tmp_path / "logs" / algo / f"{env_id}_1" / env_id / "vecnormalize.pkl", "rb") as f:
            vec_normalize = pickle.load(f)  # written by this test's own run
        assert vec_normalize.norm_obs and not vec_normalize.norm_reward

    enjoy = ["-m", "rl_zoo3.enjoy", "--algo", algo, "--env", env_id, "-f", "logs", "-n", "60", "--no-render"]
    out = run_python(enjoy, cwd=tmp_path).stdout
    assert f"Loading logs/{algo}/{env_id}_1/{env_id}.zip" in out


CATEGORICAL_RECIPE = str(ROOT / "benchmarks" / "recipes" / "sac_cat.yml")


def test_stock_rl_zoo_refuses_an_entry_of_the_launcher_naming_it(tmp_path):
    train = ["-m", "rl_zoo3.train", "--algo", "sac", "--env", "Pendulum-v1", "-conf", CATEGORICAL_RECIPE, "-n", "600"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, *train], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "run it with python -m sb3_large.zoo train" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "logs" / "sac" / "Pendulum-v1_1" / "Pendulum-v1.zip").exists()  # nothing trained


def test_the_launcher_trains_the_categorical_recipe_and_stock_rl_zoo_enjoys_it(tmp_path):
    train = ["-m", "sb3_large.zoo", "train", "--algo", "sac", "--env", "Pendulum-v1", "-conf", CATEGORICAL_RECIPE]
    run_python([*train, "-n", "700", "-f", "logs", "--seed", "0", "--eval-freq", "-1"], cwd=tmp_path)
    path = tmp_path / "logs" / "sac" / "Pendulum-v1_1" / "Pendulum-v1.zip"
    model = sb3_large.SAC.load(path)
    assert model.return_scale.count == 700 and model.return_bound == 5.0
    assert model.actor_update_interval == 2 and model.batch_size == 64 and model.tau == 0.01
    assert model.target_entropy == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 0.15**2))
    assert model.critic.distribution.config.bins == 101 and model._n_updates == 700 - 500
    enjoy = ["-m", "rl_zoo3.enjoy", "--algo", "sac", "--env", "Pendulum-v1", "-f", "logs", "-n", "60", "--no-render"]
    assert "Loading logs/sac/Pendulum-v1_1/Pendulum-v1.zip" in run_python(enjoy, cwd=tmp_path).stdout
