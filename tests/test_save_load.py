"""Saved models load in a fresh process that never imports sb3_large itself (SB3 unpickles the policy class)."""

from pathlib import Path

import numpy as np
import pytest
from sb3_contrib import TQC
from stable_baselines3 import SAC, TD3

import sb3_large  # noqa: F401  (registers "LargeMlpPolicy")

from .conftest import ARCHS, run_python

LOAD_AND_ACT = """
import sys
import numpy as np
from {module} import {algo}

model = {algo}.load(sys.argv[1], device="cpu")
obs = np.load(sys.argv[2])
np.save(sys.argv[3], model.predict(obs, deterministic=True)[0])
print(type(model.policy).__module__, "sb3_large" in sys.modules)
"""

CASES = [(SAC, "stable_baselines3", arch) for arch in ARCHS] + [
    (TD3, "stable_baselines3", "densenet"),
    (TD3, "stable_baselines3", "residual"),
    (TQC, "sb3_contrib", "d2rl"),
]


@pytest.mark.parametrize("algo, module, arch", CASES, ids=[f"{a.__name__}-{arch}" for a, _, arch in CASES])
def test_identical_actions_after_load_in_a_fresh_process(tmp_path, algo, module, arch):
    model = algo("LargeMlpPolicy", "Pendulum-v1", learning_starts=50, seed=1, policy_kwargs=dict(arch=arch, width=16))
    model.learn(100)
    model.save(tmp_path / "model.zip")
    obs = np.random.default_rng(0).uniform(-1, 1, size=(16, 3)).astype(np.float32)
    np.save(tmp_path / "obs.npy", obs)

    script = LOAD_AND_ACT.format(module=module, algo=algo.__name__)
    out = run_python(["-c", script, "model.zip", "obs.npy", "actions.npy"], cwd=tmp_path).stdout
    assert out.split() == [f"sb3_large.policies.{algo.__name__.lower()}_policy", "True"]
    expected = model.predict(obs, deterministic=True)[0]
    assert np.array_equal(np.load(tmp_path / "actions.npy"), expected)


def test_resumed_training_continues_from_the_saved_state(tmp_path):
    model = SAC("LargeMlpPolicy", "Pendulum-v1", learning_starts=50, seed=2, policy_kwargs=dict(width=16))
    model.learn(100)
    model.save(tmp_path / "model.zip")
    loaded = SAC.load(tmp_path / "model.zip", env=model.get_env())
    for key, value in model.policy.state_dict().items():
        assert np.array_equal(value.numpy(), loaded.policy.state_dict()[key].numpy()), key
    loaded.learn(100, reset_num_timesteps=False)
    assert loaded.num_timesteps == 200


def test_models_saved_before_the_defaults_changed_load_and_act_identically(tmp_path):
    """Zips saved by the code before the recommended defaults (commit 2dfdb7c; policy_kwargs gave only ``width``, so
    they hold DenseNet bodies): stock SB3 / sb3-contrib load them in a fresh process and act as when saved."""
    data = Path(__file__).parent / "data"
    script = f"""
import numpy as np, stable_baselines3 as sb3, sb3_contrib, sb3_large
expected = np.load("{data / "old_defaults_actions.npz"}")
for name, algo in [("sac", sb3.SAC), ("td3", sb3.TD3), ("tqc", sb3_contrib.TQC), ("crossq", sb3_contrib.CrossQ)]:
    model = algo.load("{data}/" + name + "_old_defaults.zip")
    assert model.policy.actor_spec.arch == "densenet", name
    assert np.array_equal(model.predict(expected["obs"], deterministic=True)[0], expected[name]), name
    print(type(model.policy).__module__)
"""
    out = run_python(["-c", script], cwd=tmp_path).stdout.split()
    assert out == [f"sb3_large.policies.{name}" for name in ("sac", "td3", "tqc", "crossq")]
