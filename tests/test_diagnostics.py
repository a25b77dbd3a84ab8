"""Representation diagnostics: srank and dormant units on networks of known rank, and the callback's logs."""

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from torch import nn

import sb3_large  # noqa: F401
from sb3_large.diagnostics import RepresentationDiagnostics, dormant_fraction, representation_stats, srank
from sb3_large.ofenet import OFENetTrainer


@pytest.mark.parametrize("k", [1, 3, 7])
def test_srank_of_rank_k_matrix(k):
    gen = th.Generator().manual_seed(k)
    features = th.randn(512, k, generator=gen) @ th.randn(k, 64, generator=gen)
    assert srank(features) == k
    assert srank(th.randn(512, 64, generator=gen), delta=0.0) == 64


def test_srank_and_dormant_reject_bad_input():
    with pytest.raises(ValueError, match="features: expected a"):
        srank(th.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="delta"):
        srank(th.ones(3, 4), delta=1.0)
    assert srank(th.zeros(8, 4)) == 0


def test_dormant_fraction_counts_silent_units():
    active = th.ones(100, 6)
    active[:, :2] = 0.0  # two of six units never fire
    assert dormant_fraction([active]) == pytest.approx(2 / 6)
    ensemble = th.stack([active, th.ones(100, 6)])  # (members, batch, units): 12 units, 2 dormant
    assert dormant_fraction([ensemble]) == pytest.approx(2 / 12)


@pytest.mark.parametrize("k", [2, 5])
def test_policy_layer_forced_to_rank_k(k):
    """Actor features from a hidden layer with k live rows: srank k, (width - k) / width units dormant."""
    width = 32
    kwargs = dict(arch="mlp", width=width, depth=1, norm="none")
    model = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=kwargs, seed=0)
    last = [m for m in model.actor.latent_pi.modules() if isinstance(m, nn.Linear)][-1]
    with th.no_grad():
        last.weight[k:] = 0.0
        last.bias.zero_()
    obs = th.randn(1024, 3, generator=th.Generator().manual_seed(0))
    stats = representation_stats(model.policy, obs, th.rand(1024, 1) * 4 - 2)
    assert stats["actor_feature_dim"] == width
    assert stats["actor_srank"] == k
    assert stats["actor_dormant"] == pytest.approx((width - k) / width)


def test_callback_logs_without_changing_training(tmp_path):
    def train(with_diagnostics: bool):
        model = SAC("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, policy_kwargs=dict(width=16), seed=3)
        model.set_logger(configure(str(tmp_path / str(with_diagnostics)), ["csv"]))
        callback = RepresentationDiagnostics(every=100, batch_size=64) if with_diagnostics else None
        model.learn(300, callback=callback, log_interval=1)
        return model, callback

    plain, _ = train(False)
    measured, callback = train(True)
    for a, b in zip(plain.policy.parameters(), measured.policy.parameters(), strict=True):
        assert th.equal(a, b)
    assert {"actor_srank", "critic_srank", "actor_dormant", "critic_weight_norm"} <= set(callback.latest)
    header = (tmp_path / "True" / "progress.csv").read_text().splitlines()[0].split(",")
    assert "diagnostics/critic_srank" in header and "diagnostics/actor_feature_norm" in header
    assert measured.policy.training == plain.policy.training  # mode restored after measuring


def test_every_measurement_is_written_at_its_step_to_stdout_csv_and_tensorboard(tmp_path, capsys):
    """SB3's off-policy loop writes the log every 4 episodes (800 steps on Pendulum): a measurement must not wait
    for it. With every=200 on a 1000-step run: five points per key, at 200, ..., 1000, the last one included."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # No RL update is needed to measure: learning_starts at the budget keeps the run short.
    model = SAC("LargeMlpPolicy", "Pendulum-v1", learning_starts=1000, policy_kwargs=dict(width=16), seed=0)
    model.set_logger(configure(str(tmp_path), ["stdout", "csv", "tensorboard"]))
    model.learn(1000, callback=RepresentationDiagnostics(every=200, batch_size=64))
    model.logger.close()
    steps = [200, 400, 600, 800, 1000]
    with open(tmp_path / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    for key in ("diagnostics/actor_srank", "diagnostics/critic_dormant", "diagnostics/actor_weight_norm"):
        assert [int(r["time/total_timesteps"]) for r in rows if r.get(key)] == steps, key
    (events,) = [p.parent for p in tmp_path.rglob("events.out.tfevents.*")]
    accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
    accumulator.Reload()
    for key in ("diagnostics/actor_srank", "diagnostics/critic_dormant", "diagnostics/actor_weight_norm"):
        assert [e.step for e in accumulator.Scalars(key)] == steps, key
    assert capsys.readouterr().out.count("actor_srank") == len(steps)


def test_observations_are_measured_as_vec_normalize_feeds_them():
    """The replay buffer keeps VecNormalize's raw observations. Statistics of a huge mean clip every normalized
    observation to the same corner, so the actor's features (as the networks see them) have rank 1."""
    env = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), norm_reward=False)
    model = SAC("LargeMlpPolicy", env, learning_starts=300, policy_kwargs=dict(arch="mlp", width=16), seed=0)
    model.learn(300)
    env.obs_rms.mean = np.full(3, 1e6)
    callback = RepresentationDiagnostics(batch_size=64)
    callback.init_callback(model)
    raw = model.replay_buffer.observations[:300, 0]
    assert np.unique(raw, axis=0).shape[0] > 1 and np.all(env.normalize_obs(raw) == -env.clip_obs)
    assert callback.measure()["actor_srank"] == 1
    with th.no_grad():
        features = model.actor.latent_pi(th.as_tensor(raw))
    assert srank(features) > 1  # on the raw observations it would measure another network than the one trained


def test_ofenet_features_are_measured():
    model = SAC(
        "OFENetPolicy",
        "Pendulum-v1",
        learning_starts=100,
        policy_kwargs=dict(width=16, ofenet_kwargs=dict(layers=2, growth=4, pretrain_steps=10)),
        seed=0,
    )
    callback = RepresentationDiagnostics(every=150, batch_size=64)
    model.learn(200, callback=[OFENetTrainer(), callback])
    assert callback.latest["ofenet_zsa_dim"] == 3 + 1 + 2 * 2 * 4
    assert 1 <= callback.latest["ofenet_zs_srank"] <= 3 + 2 * 4


def test_ofenet_is_measured_on_the_observations_the_rl_networks_feed_it():
    """With observation normalization OFENet reads normalized observations: so do its diagnostics. Statistics of a
    huge spread squash every normalized observation towards 0 (z_s of rank ~1), unlike the raw ones."""
    model = SAC(
        "LargeMlpPolicy",
        "Pendulum-v1",
        policy_kwargs=dict(width=16, normalize_obs=True, ofenet_kwargs=dict(layers=2, growth=4)),
        seed=0,
    )
    policy = model.policy
    policy.obs_norm.update(th.randn(1000, 3) * 1e6)
    gen = th.Generator().manual_seed(0)
    obs, actions = th.rand(64, 3, generator=gen) * 16 - 8, th.rand(64, 1, generator=gen) * 4 - 2
    stats = representation_stats(policy, obs, actions)
    with th.no_grad():
        as_fed = srank(policy.actor.extract_features(obs, policy.actor.features_extractor))
        raw = srank(policy.ofenet.state_features(obs))
    assert stats["ofenet_zs_srank"] == as_fed < raw


def test_callback_rejects_bad_settings():
    with pytest.raises(ValueError, match="every: must be a positive integer"):
        RepresentationDiagnostics(every=0)
    with pytest.raises(ValueError, match="srank_delta"):
        RepresentationDiagnostics(srank_delta=2)


def test_ensemble_critic_is_measured_per_member():
    model = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(arch="mlp", width=16, ensemble_critics=True))
    stats = representation_stats(model.policy, th.randn(256, 3), th.rand(256, 1))
    assert stats["critic_feature_dim"] == 16 and 1 <= stats["critic_srank"] <= 16


@pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA device")
def test_srank_on_cuda():
    # The threshold tensor once lived on the CPU: every GPU run failed at its first diagnostics probe.
    features = th.randn(64, 4, device="cuda") @ th.randn(4, 32, device="cuda")
    assert srank(features) == 4
