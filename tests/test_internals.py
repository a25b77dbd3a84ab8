"""Every private name of SB3 or torch that ``sb3_large.internals`` reads still exists, and means what we use it for.

When a new SB3 or torch renames one, these fail naming the installed versions and the name.
"""

import numpy as np
import pytest
import stable_baselines3
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sb3_large import internals

VERSIONS = f"stable-baselines3 {stable_baselines3.__version__}, torch {th.__version__}"


def _read(name: str, read):
    try:
        return read()
    except AttributeError as exc:
        pytest.fail(f"{name} is gone in {VERSIONS}: update sb3_large/internals.py ({exc})")


@pytest.fixture(scope="module")
def model():
    env = VecNormalize(DummyVecEnv([lambda: __import__("gymnasium").make("Pendulum-v1")]))
    model = SAC("MlpPolicy", env, learning_starts=20, batch_size=8, policy_kwargs=dict(net_arch=[8]), seed=0)
    model.learn(40)
    return model


def test_model_state(model):
    assert _read("BaseAlgorithm._current_progress_remaining", lambda: internals.progress_remaining(model)) < 1.0
    assert _read("OffPolicyAlgorithm._n_updates", lambda: internals.gradient_steps_done(model)) == 20
    vec_normalize = _read("BaseAlgorithm._vec_normalize_env", lambda: internals.training_vec_normalize(model))
    assert vec_normalize is model.get_vec_normalize_env()


def test_rebuild_makes_new_networks(model):
    actor = model.actor
    _read("BaseAlgorithm._setup_model", lambda: internals.rebuild(model))
    assert model.actor is not actor


@pytest.mark.parametrize("kind", ["normal", "ornstein_uhlenbeck"])
def test_noise_settings(kind):
    mean, sigma = np.zeros(2), np.full(2, 0.3)
    if kind == "normal":
        noise, expected = NormalActionNoise(mean, sigma), (None, None)
    else:
        noise, expected = OrnsteinUhlenbeckActionNoise(mean, sigma, theta=0.2, dt=0.05), (0.2, 0.05)
    settings = _read("ActionNoise._mu/_sigma/_theta/_dt", lambda: internals.noise_settings(noise))
    assert np.array_equal(settings.mean, mean) and np.array_equal(settings.sigma, sigma)
    assert (settings.theta, settings.dt) == expected


def test_torch_kernels():
    targets, sources = [th.zeros(3), th.ones(2)], [th.ones(3), th.zeros(2)]
    _read("torch._foreach_lerp_", lambda: internals.foreach_lerp_(targets, sources, 0.25))
    assert th.allclose(targets[0], th.full((3,), 0.25)) and th.allclose(targets[1], th.full((2,), 0.75))
    _read("torch._foreach_copy_", lambda: internals.foreach_copy_(targets, sources))
    assert th.equal(targets[0], sources[0]) and th.equal(targets[1], sources[1])


def test_torch_names():
    assert issubclass(th.nn.BatchNorm1d, internals.BatchNormBase)
    _read("torch._dynamo.graph_break", internals.graph_break)  # outside a trace: nothing happens
    is_all_true = _read("torch._is_all_true", internals.is_all_true)
    assert bool(is_all_true(th.tensor([True, True]))) and not bool(is_all_true(th.tensor([True, False])))
