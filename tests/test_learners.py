"""Fast learners (sb3_large.SAC / TD3): same updates as SB3's, interchangeable saved files, RL Zoo binding."""

import numpy as np
import pytest
import stable_baselines3 as sb3
import torch as th
from stable_baselines3.common.logger import configure

import sb3_large
from sb3_large.learners.common import step_on
from sb3_large.ofenet import OFENetTrainer

from .conftest import ROOT, run_python

PAIRS = [(sb3.SAC, sb3_large.SAC), (sb3.TD3, sb3_large.TD3)]
POLICIES = {
    "LargeMlpPolicy": dict(arch="densenet", width=32),
    "MlpPolicy": dict(net_arch=[32, 32]),
}


def filled(algo, policy: str, policy_kwargs: dict, tmp_path, env: str = "Pendulum-v1"):
    model = algo(policy, env, learning_starts=300, batch_size=64, seed=4, policy_kwargs=dict(policy_kwargs))
    model.set_logger(configure(str(tmp_path / algo.__module__), ["csv"]))
    model.learn(300)  # random steps only: the buffer, no update yet
    return model


def train_seeded(model, steps: int) -> None:
    np.random.seed(1)
    th.manual_seed(1)
    model.train(gradient_steps=steps, batch_size=64)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("stock, fast", PAIRS, ids=["sac", "td3"])
def test_same_updates_as_sb3(stock, fast, policy, tmp_path):
    reference = filled(stock, policy, POLICIES[policy], tmp_path)
    ours = filled(fast, policy, POLICIES[policy], tmp_path / "ours")
    train_seeded(reference, 30)
    train_seeded(ours, 30)
    for (name, a), b in zip(reference.policy.state_dict().items(), ours.policy.state_dict().values(), strict=True):
        assert th.allclose(a.float(), b.float(), atol=1e-5), name
    # The same keys logged, with the same values (losses averaged over the same updates).
    logged = [dict(model.logger.name_to_value) for model in (reference, ours)]
    assert set(logged[0]) == set(logged[1]) and "train/critic_loss" in logged[0]
    for key, value in logged[0].items():
        assert logged[1][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize("stock, fast", PAIRS, ids=["sac", "td3"])
def test_frozen_parameters_stay_put_and_the_rest_trains_as_in_sb3(stock, fast, tmp_path):
    """A user fine-tuning a model freezes the first layer of the actor and of the critics."""
    reference = filled(stock, "LargeMlpPolicy", POLICIES["LargeMlpPolicy"], tmp_path)
    ours = filled(fast, "LargeMlpPolicy", POLICIES["LargeMlpPolicy"], tmp_path / "ours")
    for model in (reference, ours):
        for network in (model.actor, model.critic):
            next(p for n, p in network.named_parameters() if n.endswith("weight")).requires_grad_(False)
    before = {name: value.clone() for name, value in ours.policy.named_parameters()}
    train_seeded(reference, 20)
    train_seeded(ours, 20)
    for name, param in ours.policy.named_parameters():
        assert th.equal(param, before[name]) != param.requires_grad or "target" in name, name
    for (name, a), b in zip(reference.policy.state_dict().items(), ours.policy.state_dict().values(), strict=True):
        assert th.allclose(a.float(), b.float(), atol=1e-5), name


OFENET_CASES = {
    "sac": (sb3.SAC, sb3_large.SAC, {}),
    "sac-sde-shared-stacked": (
        sb3.SAC,
        sb3_large.SAC,
        dict(use_sde=True, share_features_extractor=True, ensemble_critics=True),
    ),
    "td3": (sb3.TD3, sb3_large.TD3, {}),
    "td3-stacked": (sb3.TD3, sb3_large.TD3, dict(ensemble_critics=True)),
}


def with_trained_ofenet(algo, policy_kwargs: dict, tmp_path):
    """A filled buffer and an OFENet after a few auxiliary updates on fixed batches."""
    kwargs = dict(width=32, ofenet_kwargs=dict(layers=2, growth=4), **policy_kwargs)
    model = filled(algo, "OFENetPolicy", kwargs, tmp_path)
    np.random.seed(0)
    for _ in range(5):
        batch = model.replay_buffer.sample(64)
        model.policy.ofenet.update(batch.observations, batch.actions, batch.next_observations)
    return model


@pytest.mark.parametrize("case", OFENET_CASES)
def test_same_updates_with_ofenet(case, tmp_path):
    """OFENet's features computed once per update (batched z_s, z_sa) give SB3's updates, which compute them per
    network; the learners' OFENet path is taken (a spy counts the batched passes)."""
    stock, fast, options = OFENET_CASES[case]
    reference = with_trained_ofenet(stock, options, tmp_path)
    ours = with_trained_ofenet(fast, options, tmp_path / "ours")
    batches = []
    ours.policy.ofenet.phi_s.register_forward_hook(lambda _module, args, _out: batches.append(args[0].shape[0]))
    train_seeded(reference, 30)
    train_seeded(ours, 30)
    assert batches == [128] * 30  # one phi_s pass over both observation batches per update, nothing else
    for (name, a), b in zip(reference.policy.state_dict().items(), ours.policy.state_dict().values(), strict=True):
        assert th.allclose(a.float(), b.float(), atol=1e-5), name


def test_same_updates_with_ofenet_through_learn(tmp_path):
    kwargs = dict(width=32, ofenet=dict(layers=2, growth=4, pretrain_steps=20))
    models = []
    for algo in (sb3.SAC, sb3_large.SAC):
        model = algo("OFENetPolicy", "Pendulum-v1", learning_starts=200, batch_size=64, seed=2, policy_kwargs=kwargs)
        # 20 pretraining and 30 OFENet / 30 RL updates. Longer runs drift apart in float noise: OFENet's biases sit
        # in front of batch norm, their gradient is ~0, and Adam scales that noise up to full steps.
        model.learn(230, callback=OFENetTrainer())
        models.append(model)
    for a, b in zip(models[0].policy.parameters(), models[1].policy.parameters(), strict=True):
        assert th.allclose(a, b, atol=1e-5)


def test_actor_step_leaves_critic_gradients_alone(tmp_path):
    model = filled(sb3_large.SAC, "LargeMlpPolicy", POLICIES["LargeMlpPolicy"], tmp_path)
    obs = th.randn(16, 3)
    sentinel = [th.full_like(p, 7.0) for p in model.critic.parameters()]
    for p, s in zip(model.critic.parameters(), sentinel, strict=True):
        p.grad = s.clone()
    actions, _ = model.actor.action_log_prob(obs)
    loss = -th.cat(model.critic(obs, actions), dim=1).min(dim=1).values.mean()
    before = [p.clone() for p in model.actor.parameters()]
    step_on(loss, model.actor.optimizer, list(model.actor.parameters()))
    assert all(th.equal(p.grad, s) for p, s in zip(model.critic.parameters(), sentinel, strict=True))
    assert all(p.grad is not None for p in model.actor.parameters())
    assert any(not th.equal(a, b) for a, b in zip(before, model.actor.parameters(), strict=True))


def test_adam_is_fused_by_default_and_matches_unfused(tmp_path):
    fused = filled(sb3.SAC, "LargeMlpPolicy", dict(width=32), tmp_path)
    plain = filled(sb3.SAC, "LargeMlpPolicy", dict(width=32, optimizer_kwargs={}), tmp_path / "plain")
    assert fused.actor.optimizer.defaults["fused"] and fused.critic.optimizer.defaults["fused"]
    assert not plain.critic.optimizer.defaults.get("fused")
    train_seeded(fused, 10)
    train_seeded(plain, 10)
    for a, b in zip(fused.policy.parameters(), plain.policy.parameters(), strict=True):
        assert th.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize(
    "saver, loader", [("sb3_large.SAC", "stable_baselines3.SAC"), ("stable_baselines3.SAC", "sb3_large.SAC")]
)
def test_saved_files_load_with_either_class(saver, loader, tmp_path):
    """Saved by one class, loaded by the other in a fresh process: same actions, and training goes on."""
    script = f"""
import importlib
import gymnasium as gym
import numpy as np
import sb3_large
def cls(path):
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)
model = cls("{saver}")("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, seed=0, policy_kwargs=dict(width=16))
model.learn(150)
model.save("{tmp_path / "model.zip"}")
obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
np.save("{tmp_path / "actions.npy"}", model.predict(obs, deterministic=True)[0])
loaded = cls("{loader}").load("{tmp_path / "model.zip"}", env=gym.make("Pendulum-v1"))
assert type(loaded) is cls("{loader}")
assert np.array_equal(loaded.predict(obs, deterministic=True)[0], np.load("{tmp_path / "actions.npy"}"))
loaded.learn(50, reset_num_timesteps=False)
assert loaded.num_timesteps == 200
"""
    run_python(["-c", script], cwd=tmp_path)


def test_rl_zoo_binding_and_run(tmp_path):
    from rl_zoo3 import exp_manager

    from sb3_large import zoo

    stock = dict(exp_manager.ALGOS)
    with zoo.large_zoo():
        assert exp_manager.ALGOS["sac"] is sb3_large.SAC and exp_manager.ALGOS["td3"] is sb3_large.TD3
    assert exp_manager.ALGOS == stock  # put back for whatever runs next in this process
    conf = str(ROOT / "hyperparams" / "td3_ota2021.yml")
    args = ["-m", "sb3_large.zoo", "train", "--algo", "td3", "--env", "Pendulum-v1", "-conf", conf]
    out = run_python([*args, "-n", "400", "--log-interval", "1", "-params", "learning_starts:200"], cwd=tmp_path)
    assert "critic_loss" in out.stdout
    enjoy = ["-m", "rl_zoo3.enjoy", "--algo", "td3", "--env", "Pendulum-v1", "-f", "logs", "-n", "200", "--no-render"]
    assert "Episode Reward" in run_python(enjoy, cwd=tmp_path).stdout


def test_zoo_usage_error():
    from sb3_large import zoo

    with pytest.raises(SystemExit, match="usage: python -m sb3_large.zoo"):
        zoo.main(["fit"])
