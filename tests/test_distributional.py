"""Categorical critics (``q_distribution``): target distributions, expectations, the cross-entropy update."""

import math

import numpy as np
import pytest
import torch as th
from sb3_contrib import TQC
from stable_baselines3 import SAC as SB3SAC
from stable_baselines3.common.logger import configure

import sb3_large
from sb3_large.networks.distributional import QDistribution, QDistributionConfig, symlog

from .conftest import run_python

VALUES = th.tensor([[-300.0], [-2.5], [0.0], [0.4], [17.0], [950.0]])
SMALL = dict(arch="densenet", width=16, depth=1)


@pytest.mark.parametrize("kind", ["hl_gauss", "two_hot"])
@pytest.mark.parametrize("transform", ["symlog", "none"])
def test_target_distribution_has_the_target_as_its_mean(kind, transform):
    config = QDistributionConfig(kind=kind, transform=transform, bins=201, low=-10.0, high=10.0)
    dist = QDistribution(config)
    values = VALUES if transform == "symlog" else VALUES.clamp(-9, 9)
    probs = dist.target_probs(values)
    assert probs.shape == (len(values), 201)
    assert th.all(probs >= 0)
    assert th.allclose(probs.sum(dim=1), th.ones(len(values)), atol=1e-5)
    mean = (probs * dist.centers).sum(dim=1, keepdim=True)
    expected = symlog(values) if transform == "symlog" else values
    assert th.allclose(mean, expected, atol=1e-3)
    # The logits of the target distribution decode back to the target value.
    decoded = dist.expectation(th.log(probs.clamp_min(1e-30)))
    assert th.allclose(decoded, values, rtol=1e-3, atol=1e-3)


def test_targets_outside_the_support_are_clipped_to_its_ends():
    dist = QDistribution(QDistributionConfig(transform="none", bins=11, low=-1.0, high=1.0, kind="two_hot"))
    probs = dist.target_probs(th.tensor([[5.0], [-5.0]]))
    assert probs[0, -1] == 1 and probs[1, 0] == 1


def test_cross_entropy_is_lowest_at_the_target():
    dist = QDistribution(QDistributionConfig())
    target = th.tensor([[120.0]])

    def logits_of(value: float) -> th.Tensor:
        return th.log(dist.target_probs(th.tensor([[value]])).clamp_min(1e-30))

    assert dist.loss(logits_of(120.0), target) < dist.loss(th.zeros(1, 101), target)
    assert dist.loss(logits_of(120.0), target) < dist.loss(logits_of(80.0), target)


def test_critic_outputs_q_values_and_logits():
    model = sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(SMALL, q_distribution=dict(bins=51)))
    obs = th.randn(7, 3)
    actions = th.rand(7, 1) * 2 - 1
    q_values = model.critic(obs, actions)
    logits = model.critic.logits(obs, actions)
    assert [q.shape for q in q_values] == [(7, 1), (7, 1)]
    assert [x.shape for x in logits] == [(7, 51), (7, 51)]
    assert th.allclose(q_values[0], model.critic.distribution.expectation(logits[0]))
    assert th.allclose(model.critic.q1_forward(obs, actions), q_values[0])
    # No new state-dict entries: the bins are rebuilt from the saved settings.
    assert not [k for k in model.policy.state_dict() if "distribution" in k]


@pytest.mark.parametrize("algo", [sb3_large.SAC, sb3_large.TD3], ids=["sac", "td3"])
def test_fast_learner_trains_the_cross_entropy_and_it_decreases(algo, tmp_path):
    kwargs = dict(SMALL, q_distribution=dict(bins=51, kind="hl_gauss"))
    model = algo("LargeMlpPolicy", "Pendulum-v1", learning_starts=300, batch_size=64, seed=3, policy_kwargs=kwargs)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(300)
    losses = []
    for _ in range(8):
        model.train(gradient_steps=50, batch_size=64)
        losses.append(model.logger.name_to_value["train/critic_loss"])
        model.logger.dump(0)
    # A cross-entropy over 51 bins starts near log(51) per critic (the squared error of Pendulum's Q values
    # would be orders larger) and falls as the critics fit.
    assert math.log(51) <= losses[0] <= 2 * 2 * math.log(51)
    assert losses[-1] < 0.7 * losses[0]
    assert all(np.isfinite(losses))


def test_stock_sac_trains_the_expectation(tmp_path):
    """SB3's own SAC reads the expected Q values; the policy works there too (squared error of the expectation)."""
    kwargs = dict(SMALL, q_distribution=dict(bins=21))
    model = SB3SAC("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, batch_size=32, seed=0, policy_kwargs=kwargs)
    before = [p.clone() for p in model.critic.parameters()]
    model.learn(150)
    assert any(not th.equal(a, b) for a, b in zip(before, model.critic.parameters(), strict=True))


def test_save_load_in_a_fresh_process(tmp_path):
    kwargs = dict(SMALL, q_distribution=dict(bins=31, kind="two_hot", low=-5.0, high=5.0))
    model = sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, seed=1, policy_kwargs=kwargs)
    model.learn(150)
    model.save(tmp_path / "model.zip")
    obs = th.randn(5, 3)
    actions = th.rand(5, 1) * 2 - 1
    with th.no_grad():
        np.save(tmp_path / "q.npy", th.cat(model.critic(obs, actions), dim=1).numpy())
    th.save((obs, actions), tmp_path / "inputs.pt")
    script = f"""
import gymnasium as gym, numpy as np, torch as th
import sb3_large
model = sb3_large.SAC.load("{tmp_path / "model.zip"}", env=gym.make("Pendulum-v1"))
assert model.policy.q_distribution.kind == "two_hot" and model.policy.q_distribution.bins == 31
obs, actions = th.load("{tmp_path / "inputs.pt"}")
with th.no_grad():
    q = th.cat(model.critic(obs, actions), dim=1).numpy()
assert np.array_equal(q, np.load("{tmp_path / "q.npy"}"))
model.learn(50, reset_num_timesteps=False)
"""
    run_python(["-c", script], cwd=tmp_path)


@pytest.mark.parametrize(
    "q_distribution, match",
    [
        (dict(kind="quantile"), "q_distribution.kind: unknown value 'quantile'; allowed: hl_gauss, two_hot"),
        (dict(bins=1), "q_distribution.bins: must be an integer >= 2"),
        (dict(low=3.0, high=1.0), r"q_distribution.high: must be above low \(3.0\)"),
        (dict(sigma=0), "q_distribution.sigma: must be a finite number > 0"),
        (dict(low=-math.inf), "q_distribution.low: must be a finite number, got -inf"),
        (dict(support=[0, 1]), "q_distribution.support: unknown option; allowed: kind, bins"),
        ([101], "q_distribution: must be a mapping"),
    ],
)
def test_bad_settings_name_the_field(q_distribution, match):
    with pytest.raises((ValueError, TypeError), match=match):
        sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(SMALL, q_distribution=q_distribution))


def test_tqc_refuses_it():
    with pytest.raises(ValueError, match="q_distribution: TQC's critics are quantile critics already"):
        TQC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(SMALL, q_distribution={}))


def test_rl_zoo_trains_it_through_sb3_large_zoo(tmp_path):
    conf = tmp_path / "sac.yml"
    conf.write_text(
        "Pendulum-v1:\n  n_timesteps: 450\n  policy: LargeMlpPolicy\n  learning_starts: 100\n"
        "  policy_kwargs: {arch: residual, width: 16, depth: 1, q_distribution: {bins: 21}}\n"
    )
    args = ["-m", "sb3_large.zoo", "train", "--algo", "sac", "--env", "Pendulum-v1", "-conf", str(conf)]
    out = run_python([*args, "--log-interval", "1", "--seed", "0"], cwd=tmp_path)
    assert "critic_loss" in out.stdout
    script = """
import glob, sb3_large
model = sb3_large.SAC.load(glob.glob("logs/sac/Pendulum-v1_1/Pendulum-v1.zip")[0])
assert model.policy.critic.distribution.config.bins == 21
"""
    run_python(["-c", script], cwd=tmp_path)


def test_hub_files_round_trip(tmp_path):
    from sb3_large.hub import load_pretrained, save_pretrained

    kwargs = dict(SMALL, q_distribution=dict(bins=21, kind="two_hot"))
    model = sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=kwargs)
    loaded = load_pretrained(save_pretrained(model, tmp_path / "model"))
    obs, actions = th.randn(4, 3), th.rand(4, 1) * 2 - 1
    assert loaded.policy.q_distribution == model.policy.q_distribution
    assert th.equal(th.cat(loaded.critic(obs, actions), 1), th.cat(model.critic(obs, actions), 1))


@pytest.mark.parametrize("algo", [sb3_large.SAC, sb3_large.TD3], ids=["sac", "td3"])
def test_ofenet_batched_path_gives_the_per_network_updates(algo, tmp_path, monkeypatch):
    """With OFENet the learners compute its features once per update; with a categorical critic that path must
    still take the loss on logits and the targets on expectations, as the per-network path does."""
    from sb3_large.ofenet import OFENetTrainer

    kwargs = dict(width=16, q_distribution=dict(bins=21), ofenet_kwargs=dict(layers=2, growth=4, pretrain_steps=20))
    models = []
    for batched in (True, False):
        if not batched:
            monkeypatch.setattr(f"sb3_large.learners.{algo.__name__.lower()}.decoupled_ofenet", lambda _policy: None)
        model = algo("LargeMlpPolicy", "Pendulum-v1", learning_starts=200, batch_size=64, seed=2, policy_kwargs=kwargs)
        model.learn(230, callback=OFENetTrainer())
        models.append(model)
    assert models[0]._n_updates == 30
    for a, b in zip(models[0].policy.parameters(), models[1].policy.parameters(), strict=True):
        assert th.allclose(a, b, atol=1e-5)


def test_expected_q_is_float32_under_bf16_autocast():
    dist = QDistribution(QDistributionConfig(bins=21))
    logits = th.randn(4, 21)
    with th.autocast("cpu", dtype=th.bfloat16):
        q = dist.expectation(logits.bfloat16())
    assert q.dtype == th.float32
    assert th.allclose(q, dist.expectation(logits.bfloat16().float()))
