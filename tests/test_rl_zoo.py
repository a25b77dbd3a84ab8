"""Stock ``python -m rl_zoo3.train`` / ``rl_zoo3.enjoy`` with our YAMLs, as subprocesses."""

import pytest
import yaml

from sb3_large.networks import NetSpec

from .conftest import ROOT, run_python

MUJOCO = ["Hopper", "Walker2d", "HalfCheetah", "Ant", "Humanoid"]
REQUIRED = [f"{env}-{v}" for env in MUJOCO for v in ("v4", "v5")] + ["Pendulum-v1", "InvertedPendulum-v4"]


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_yaml_has_every_env_with_a_valid_typed_config(algo):
    with open(ROOT / "hyperparams" / f"{algo}_large.yml") as f:
        config = yaml.safe_load(f)
    assert set(REQUIRED) <= set(config)
    for env_id in REQUIRED:
        entry = config[env_id]
        assert entry["policy"] == f"sb3_large.policies.Large{algo.upper()}Policy"
        assert isinstance(entry["policy_kwargs"], dict), env_id
        assert isinstance(entry["learning_rate"], float) and isinstance(entry["n_timesteps"], (int, float)), env_id
        NetSpec(**entry["policy_kwargs"])


@pytest.mark.parametrize(
    "algo, env_id, n_steps, extra",
    [
        ("sac", "Pendulum-v1", 1500, []),
        ("td3", "InvertedPendulum-v4", 1300, []),
        # The full-size MuJoCo entry (DenseNet 2048x2): built, a few updates, saved, replayed.
        ("sac", "Ant-v4", 320, ["-params", "learning_starts:300"]),
    ],
)
def test_stock_rl_zoo_trains_and_enjoys(tmp_path, algo, env_id, n_steps, extra):
    conf = str(ROOT / "hyperparams" / f"{algo}_large.yml")
    train = ["-m", "rl_zoo3.train", "--algo", algo, "--env", env_id, "-conf", conf, "-n", str(n_steps)]
    out = run_python([*train, "-f", "logs", "--seed", "0", "--eval-freq", "-1", *extra], cwd=tmp_path).stdout
    assert "sb3_large.policies" in out
    assert (tmp_path / "logs" / algo / f"{env_id}_1" / f"{env_id}.zip").exists()

    enjoy = ["-m", "rl_zoo3.enjoy", "--algo", algo, "--env", env_id, "-f", "logs", "-n", "60", "--no-render"]
    out = run_python(enjoy, cwd=tmp_path).stdout
    assert f"Loading logs/{algo}/{env_id}_1/{env_id}.zip" in out
