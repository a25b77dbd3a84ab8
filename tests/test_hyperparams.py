"""The shipped hyperparameter files: package data, their paths from the command line, an entry in Python."""

import subprocess
import sys
import zipfile

import pytest
import yaml
from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import VecNormalize

import sb3_large
from sb3_large import hyperparams
from sb3_large.ofenet import OFENetTrainer
from sb3_large.policies import LargeSACPolicy

from .conftest import ROOT

SHIPPED = ["crossq_large", "sac_large", "sac_ota2021", "sac_ota2021_apex", "td3_ota2021"]


def test_the_files_are_named_and_found_by_name():
    assert hyperparams.names() == SHIPPED
    assert hyperparams.path("sac_large") == hyperparams.path("sac_large.yml") == hyperparams.FOLDER / "sac_large.yml"
    # A checkout's hyperparams/ is the same folder, for RL Zoo users who expect it there.
    assert (ROOT / "hyperparams" / "sac_large.yml").resolve() == hyperparams.path("sac_large")
    with pytest.raises(ValueError, match="name: no hyperparameter file 'td3_large'; allowed: crossq_large, sac_large"):
        hyperparams.path("td3_large")


def test_an_entry_is_what_rl_zoo_builds_from_it():
    recipe = hyperparams.load("sac_large", "Hopper-v4")
    entry = yaml.safe_load(hyperparams.path("sac_large").read_text())["Hopper-v4"]
    assert recipe.algorithm is SAC and recipe.policy is LargeSACPolicy and recipe.n_timesteps == 1_000_000
    assert recipe.kwargs["policy_kwargs"] == entry["policy_kwargs"]
    assert recipe.kwargs["gradient_steps"] == 2 and recipe.kwargs["target_entropy"] == -1.5
    assert not {"policy", "normalize", "n_timesteps", "callback"} & set(recipe.kwargs)
    assert recipe.normalize == {"gamma": 0.99} and recipe.callbacks() == []
    walker = hyperparams.load("sac_large", "Walker2d-v4")
    assert walker.normalize == {"norm_obs": True, "norm_reward": False, "gamma": 0.99}
    env = walker.make_env()
    assert isinstance(env, VecNormalize) and env.norm_obs and not env.norm_reward
    small = dict(recipe.kwargs, learning_starts=20, policy_kwargs=dict(recipe.kwargs["policy_kwargs"], depth=1))
    model = recipe.algorithm(recipe.policy, recipe.make_env(), **small).learn(30)
    assert model.gradient_steps == 2 and model.policy.critic_spec.norm == "layer"
    ota = hyperparams.load("sac_ota2021", "Hopper-v4")
    assert [type(c) for c in ota.callbacks()] == [OFENetTrainer]
    assert ota.callbacks()[0] is not ota.callbacks()[0]  # new ones for each model


def test_the_launchers_guard_is_left_out_and_names_its_learner():
    assert hyperparams.without_launcher_guard([hyperparams.LAUNCHER_ONLY]) is None
    kept = hyperparams.without_launcher_guard([hyperparams.LAUNCHER_ONLY, {"my.Callback": {"k": 1}}])
    assert kept == [{"my.Callback": {"k": 1}}]
    assert hyperparams.without_launcher_guard("my.Callback") == ["my.Callback"]


def test_a_missing_entry_is_named_with_those_there():
    with pytest.raises(ValueError, match="env_id: sac_large.yml has no entry 'Hopper-v9'; it has Ant-v4, Ant-v5"):
        hyperparams.load("sac_large", "Hopper-v9")
    with pytest.raises(ValueError, match="env_id: sac_large.yml has no entry 'Body'"):  # an anchor, not an env
        hyperparams.load("sac_large", "Body")


def test_a_wheel_ships_the_files_and_the_command_finds_them_outside_a_checkout(tmp_path):
    """``-conf $(python -m sb3_large.hyperparams sac_large)`` from a plain install: built as a wheel, installed
    without its dependencies (the test's own environment has them) into a folder, run from elsewhere."""
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT)]
    subprocess.run(build, check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("sb3_large-*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".yml")}
    assert shipped == {f"sb3_large/hyperparams/{name}.yml" for name in SHIPPED}
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=600)
    (tmp_path / "elsewhere").mkdir()
    run = [sys.executable, "-m", "sb3_large.hyperparams", "sac_large"]
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(run, cwd=tmp_path / "elsewhere", env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    printed = out.stdout.strip()
    assert printed == str(site / "sb3_large" / "hyperparams" / "sac_large.yml")
    assert yaml.safe_load(open(printed))["Hopper-v4"]["policy"] == "sb3_large.policies.LargeSACPolicy"


def test_the_command_lists_every_file_and_refuses_an_unknown_name():
    out = subprocess.run([sys.executable, "-m", "sb3_large.hyperparams"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(hyperparams.path(name)) for name in SHIPPED]
    bad = subprocess.run([sys.executable, "-m", "sb3_large.hyperparams", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "name: no hyperparameter file 'nope'; allowed: crossq_large" in bad.stderr
    assert sb3_large.hyperparams is hyperparams
