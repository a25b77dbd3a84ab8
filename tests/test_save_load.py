"""Saved models load in a fresh process that never imports sb3_large itself (SB3 unpickles the policy class)."""

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
    assert out.split() == [f"sb3_large.policies.{algo.__name__.lower()}", "True"]
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
