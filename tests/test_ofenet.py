import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.logger import configure

import sb3_large  # noqa: F401  (registers "OFENetPolicy")
from sb3_large.ofenet import OFENet, OFENetConfig, OFENetTrainer
from sb3_large.policies import OFENetSACPolicy, OFENetTD3Policy

from .conftest import run_python

TINY_OFENET = dict(layers=2, growth=8, pretrain_steps=0)


def make(algo=SAC, env="Pendulum-v1", ofenet=None, **kwargs):
    policy_kwargs = dict(arch="densenet", width=16, ofenet_kwargs={**TINY_OFENET, **(ofenet or {})})
    return algo("OFENetPolicy", env, seed=0, policy_kwargs=policy_kwargs, **kwargs)


def fill_buffer(model, n: int):
    """Random warm-up only: with learning_starts == n no RL update and no OFENet update happens."""
    model.learning_starts = n
    model.learn(n, callback=OFENetTrainer())
    assert int(model.policy.ofenet.n_updates) == 0


def snapshot(module: th.nn.Module) -> dict[str, th.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items() if isinstance(v, th.Tensor)}


def changed(before: dict[str, th.Tensor], module: th.nn.Module) -> list[str]:
    return [k for k, v in snapshot(module).items() if not th.equal(v, before[k])]


def test_alias_and_feature_widths_match_the_documented_formula():
    model = make(TD3, env="Hopper-v4", ofenet=dict(layers=3, growth=5))
    ofenet = model.policy.ofenet
    obs_dim, act_dim = 11, 3
    assert isinstance(model.policy, OFENetTD3Policy)
    assert ofenet.state_dim == obs_dim + 3 * 5
    assert ofenet.state_action_dim == obs_dim + act_dim + 2 * 3 * 5
    assert model.policy.critic.qf0[0].layers[0][0].in_features == obs_dim + act_dim + 30
    assert model.policy.actor.mu[0].layers[0][0].in_features == obs_dim + 15


@pytest.mark.parametrize("env_id, obs_dim", [("Pendulum-v1", 3), ("Hopper-v4", 11)])
def test_aux_loss_falls_during_pretraining(env_id, obs_dim):
    th.manual_seed(0)
    model = make(SAC, env=env_id, ofenet=dict(layers=4, growth=16))
    fill_buffer(model, 600)
    ofenet, buffer = model.policy.ofenet, model.replay_buffer
    losses = []
    for _ in range(400):
        batch = buffer.sample(128)
        losses.append(ofenet.update(batch.observations, batch.actions, batch.next_observations).item())
    assert ofenet.head.out_features == obs_dim
    assert np.mean(losses[-40:]) < 0.5 * np.mean(losses[:40])


def test_one_rl_step_leaves_ofenet_unchanged_and_one_aux_update_leaves_rl_networks_unchanged():
    model = make(SAC, batch_size=64)
    fill_buffer(model, 300)
    policy = model.policy
    batch = model.replay_buffer.sample(64)
    policy.ofenet.update(batch.observations, batch.actions, batch.next_observations)  # as the trainer would
    policy.ofenet.optimizer.zero_grad()

    ofenet_before, actor_before, critic_before = (
        snapshot(policy.ofenet),
        snapshot(policy.actor),
        snapshot(policy.critic),
    )
    model.train(gradient_steps=1, batch_size=64)
    assert changed(ofenet_before, policy.ofenet) == []
    assert changed(actor_before, policy.actor) and changed(critic_before, policy.critic)
    assert all(p.grad is None for p in policy.ofenet.parameters())

    ofenet_before, actor_before = snapshot(policy.ofenet), snapshot(policy.actor)
    critic_before, target_before = snapshot(policy.critic), snapshot(policy.critic_target)
    batch = model.replay_buffer.sample(64)
    policy.ofenet.update(batch.observations, batch.actions, batch.next_observations)
    assert changed(actor_before, policy.actor) == []
    assert changed(critic_before, policy.critic) == [] and changed(target_before, policy.critic_target) == []
    assert set(changed(ofenet_before, policy.ofenet)) >= {"head.weight", "phi_s.layers.0.0.weight", "n_updates"}


def test_ofenet_is_not_in_the_rl_optimizers_or_target_unless_joint():
    policy = make(SAC).policy
    ofenet_params = {id(p) for p in policy.ofenet.parameters()}
    for optimizer in (policy.actor.optimizer, policy.critic.optimizer):
        assert not ofenet_params & {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert not ofenet_params & {id(p) for p in policy.critic_target.parameters()}

    joint = make(SAC, ofenet=dict(joint=True)).policy
    critic_params = {id(p) for g in joint.critic.optimizer.param_groups for p in g["params"]}
    assert {id(p) for p in joint.ofenet.parameters()} <= critic_params


def test_joint_mode_lets_the_critic_loss_train_ofenet():
    model = make(SAC, batch_size=64, ofenet=dict(joint=True))
    fill_buffer(model, 300)
    before = snapshot(model.policy.ofenet)
    batch = model.replay_buffer.sample(64)
    model.policy.ofenet.update(batch.observations, batch.actions, batch.next_observations)
    model.train(gradient_steps=1, batch_size=64)
    assert "phi_s.layers.0.0.weight" in changed(before, model.policy.ofenet)


def test_rl_features_use_batch_norm_running_statistics():
    model = make(SAC)
    fill_buffer(model, 300)
    policy = model.policy
    batch = model.replay_buffer.sample(32)
    policy.ofenet.update(batch.observations, batch.actions, batch.next_observations)
    policy.set_training_mode(True)  # what SAC.train does before every RL update
    obs = th.as_tensor(model.replay_buffer.sample(32).observations).float()
    z_s = policy.actor.features_extractor(obs)
    assert th.allclose(z_s[:1], policy.actor.features_extractor(obs[:1]))
    before = policy.ofenet.phi_s.layers[0][1].running_mean.clone()
    batch = model.replay_buffer.sample(32)
    policy.ofenet.update(batch.observations, batch.actions, batch.next_observations)
    assert not th.equal(before, policy.ofenet.phi_s.layers[0][1].running_mean)
    assert not policy.ofenet.training


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_learn_without_the_trainer_fails_before_the_first_rl_update(algo):
    model = make(algo, learning_starts=100)
    before = snapshot(model.policy)
    with pytest.raises(
        RuntimeError, match=r"nothing trains its OFENet; pass callback=sb3_large\.ofenet\.OFENetTrainer"
    ):
        model.learn(300)
    assert model.num_timesteps == 101
    assert changed(before, model.policy) == []


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_trainer_pretrains_then_follows_the_gradient_steps_and_logs(tmp_path, algo):
    model = make(algo, learning_starts=100, train_freq=2, gradient_steps=3, ofenet=dict(pretrain_steps=50))
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(300, callback=OFENetTrainer(), log_interval=1)
    # 50 pretraining updates, then 3 per rollout of 2 steps for the 200 steps past learning_starts
    assert int(model.policy.ofenet.n_updates) == 50 + 3 * 100
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert "ofenet/aux_loss" in header and "ofenet/updates" in header


def test_updates_per_step_ratio():
    model = make(SAC, learning_starts=100, ofenet=dict(updates_per_step=0.5))
    model.learn(300, callback=OFENetTrainer())
    assert int(model.policy.ofenet.n_updates) == 100


LOAD_AND_ACT = """
import sys
import numpy as np
from stable_baselines3 import {algo}

model = {algo}.load(sys.argv[1], device="cpu")
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), deterministic=True)[0])
"""


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_save_load_in_a_fresh_process_and_resume(tmp_path, algo):
    model = make(algo, learning_starts=100, ofenet=dict(pretrain_steps=20))
    model.learn(200, callback=OFENetTrainer())
    model.save(tmp_path / "model.zip")
    obs = np.random.default_rng(0).uniform(-1, 1, size=(8, 3)).astype(np.float32)
    np.save(tmp_path / "obs.npy", obs)
    run_python(["-c", LOAD_AND_ACT.format(algo=algo.__name__), "model.zip", "obs.npy", "act.npy"], cwd=tmp_path)
    assert np.array_equal(np.load(tmp_path / "act.npy"), model.predict(obs, deterministic=True)[0])

    loaded = algo.load(tmp_path / "model.zip", env=model.get_env())
    saved_opt, loaded_opt = model.policy.ofenet.optimizer.state_dict(), loaded.policy.ofenet.optimizer.state_dict()
    assert saved_opt["param_groups"] == loaded_opt["param_groups"]
    for idx, state in saved_opt["state"].items():
        for key, value in state.items():
            assert th.equal(value, loaded_opt["state"][idx][key]), (idx, key)
    assert int(loaded.policy.ofenet.n_updates) == int(model.policy.ofenet.n_updates) == 120
    loaded.learn(50, callback=OFENetTrainer(), reset_num_timesteps=False)
    assert int(loaded.policy.ofenet.n_updates) == 170  # no second pretraining


@pytest.mark.parametrize(
    "ofenet, error, match",
    [
        (dict(predict_dims=4), ValueError, r"ofenet\.predict_dims: 4 exceeds the observation size 3; allowed: 1\.\.3"),
        (dict(layers=0), ValueError, r"ofenet\.layers: must be a positive integer, got 0"),
        (dict(growth=-1), ValueError, r"ofenet\.growth: must be a positive integer"),
        (dict(activation="nope"), ValueError, r"ofenet\.activation: unknown value 'nope'"),
        (dict(layer=3), ValueError, r"ofenet\.layer: unknown option; allowed: layers, growth"),
        (dict(updates_per_step=-1), ValueError, r"ofenet\.updates_per_step: must be a finite number >= 0"),
    ],
)
def test_bad_ofenet_settings(ofenet, error, match):
    with pytest.raises(error, match=match):
        make(SAC, ofenet=ofenet)


def test_non_box_observations_are_refused():
    import gymnasium as gym

    with pytest.raises(ValueError, match=r"observation_space: Dict is not supported"):
        OFENetSACPolicy(
            gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,))}), gym.spaces.Box(-1, 1, (1,)), lambda _: 1e-3
        )


def test_trainer_refuses_a_policy_without_ofenet():
    model = SAC("LargeMlpPolicy", "Pendulum-v1", learning_starts=10, policy_kwargs=dict(width=8))
    with pytest.raises(ValueError, match=r"OFENetTrainer: policy LargeSACPolicy has no OFENet"):
        model.learn(20, callback=OFENetTrainer())


def test_config_defaults_are_the_original_ones():
    config = OFENetConfig()
    assert (config.layers, config.growth, config.activation, config.norm) == (6, 40, "swish", "batch")
    assert (config.learning_rate, config.pretrain_steps, config.updates_per_step) == (3e-4, 10_000, 1.0)
    net = OFENet(27, 8, config)
    assert (net.state_dim, net.state_action_dim) == (27 + 240, 27 + 8 + 480)


def test_ofenet_is_the_policys_module_and_is_called_not_owned_by_the_rl_networks():
    policy = make(TD3).policy
    assert dict(policy.named_children())["ofenet"] is policy.ofenet
    for name in ("actor", "actor_target", "critic", "critic_target"):
        network = getattr(policy, name)
        assert not any(m is policy.ofenet for m in network.modules()), name
    assert {k.split(".")[0] for k in policy.state_dict() if ".phi_s." in k or k.startswith("phi_s")} == {"ofenet"}


def test_schedule_follows_sb3_step_counting_with_several_envs():
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    # gradient_steps=-1: SB3 runs one gradient step per transition its own envs collected in the rollout
    model = make(SAC, env=env, learning_starts=100, train_freq=3, gradient_steps=-1)
    model.learn(400, callback=OFENetTrainer())
    assert model._n_updates > 0
    assert int(model.policy.ofenet.n_updates) == model._n_updates


def test_old_kwarg_name_is_accepted_and_both_names_together_are_refused():
    old = SAC("OFENetPolicy", "Pendulum-v1", policy_kwargs=dict(width=8, ofenet=dict(layers=1, growth=4)))
    assert old.policy.ofenet.state_dim == 3 + 4
    assert old.policy._get_constructor_parameters()["ofenet_kwargs"]["layers"] == 1
    with pytest.raises(TypeError, match=r"policy_kwargs: 'ofenet' is the old name of 'ofenet_kwargs'"):
        SAC("OFENetPolicy", "Pendulum-v1", policy_kwargs=dict(width=8, ofenet={}, ofenet_kwargs={}))


def test_a_large_policy_takes_an_ofenet_as_an_option():
    model = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=8, ofenet_kwargs=TINY_OFENET))
    assert isinstance(model.policy.ofenet, OFENet)
    assert SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=8)).policy.ofenet is None
