"""Our bodies in sb3-contrib's CrossQ: alias, CrossQ's train() contract, batch renorm, saving, RL Zoo."""

import copy
from pathlib import Path

import numpy as np
import pytest
import rl_zoo3
import torch as th
import yaml
from sb3_contrib import TQC, CrossQ
from sb3_contrib.common.torch_layers import BatchRenorm1d
from sb3_contrib.crossq.policies import CrossQPolicy
from stable_baselines3 import SAC, TD3
from torch import nn

import sb3_large
from sb3_large.networks import NetSpec, build
from sb3_large.networks.layers import BatchRenorm, UnitRowsAfterStep
from sb3_large.ofenet import OFENetTrainer
from sb3_large.policies import LargeCrossQPolicy
from sb3_large.policies.crossq_policy import body_linears
from sb3_large.resets import reset_networks

from .conftest import ROOT, run_python
from .test_save_load import LOAD_AND_ACT

# CrossQ's own networks (sb3-contrib's MlpPolicy) as body options, at test widths.
CROSSQ_LAYOUT = dict(arch="mlp", depth=2, norm="batch_renorm", arch_kwargs={"norm_position": "before_linear"})


def tiny(**extra) -> dict:
    return {**CROSSQ_LAYOUT, "width": 16, **extra}


def renorm_layers(module: nn.Module) -> list[BatchRenorm1d]:
    return [m for m in module.modules() if isinstance(m, BatchRenorm1d)]


def test_alias_builds_our_policy_without_target_networks():
    model = CrossQ("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=tiny())
    assert sb3_large.LargeCrossQPolicy is LargeCrossQPolicy
    assert type(model.policy) is LargeCrossQPolicy
    assert not hasattr(model.policy, "critic_target") and not hasattr(model.policy, "actor_target")
    # CrossQ's Adam setting is kept (with fused Adam, as the other large policies)
    assert model.policy.optimizer_kwargs == {"betas": (0.5, 0.999), "fused": True}


def test_learns_and_critic_runs_one_joint_batch_with_statistics_updated_once_per_step():
    model = CrossQ("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, batch_size=32, seed=0, policy_kwargs=tiny())
    seen = []
    hook = model.critic.qf0.register_forward_pre_hook(
        lambda module, args: seen.append((args[0].shape[0], module[0][0][0].training))
    )
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(400)
    hook.remove()
    assert np.isfinite(model.logger.name_to_value["train/critic_loss"])
    n_updates = model._n_updates
    assert n_updates == 300
    # One critic pass per update over concat(batch, next batch) with batch renorm in training mode, and one per
    # actor update (every policy_delay) over the batch with frozen statistics; nothing else.
    joint = [s for s in seen if s == (64, True)]
    actor_loss = [s for s in seen if s == (32, False)]
    assert len(joint) == n_updates and len(actor_loss) == n_updates // model.policy_delay
    assert len(seen) == len(joint) + len(actor_loss)
    for layer in renorm_layers(model.critic):
        assert int(layer.steps) == n_updates
    for layer in renorm_layers(model.actor):  # the actor's statistics move in its own loss only
        assert int(layer.steps) == n_updates // model.policy_delay
    changed = {k for k, v in model.policy.state_dict().items() if not th.equal(v, before[k])}
    assert any(k.startswith("actor.") for k in changed) and any(k.startswith("critic.") for k in changed)


def test_critic_loss_goes_down_on_a_fixed_seed():
    model = CrossQ("LargeMlpPolicy", "Pendulum-v1", learning_starts=200, seed=0, policy_kwargs=tiny(width=32))
    losses = []
    model.learn(200)
    for _ in range(8):
        model.train(gradient_steps=50, batch_size=256)
        losses.append(model.logger.name_to_value["train/critic_loss"])
    assert all(np.isfinite(losses)) and np.mean(losses[-2:]) < np.mean(losses[:2]), losses


def test_batch_renorm_statistics_update_in_train_mode_and_are_frozen_in_eval_mode():
    model = CrossQ("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=tiny())
    critic, layer = model.critic, renorm_layers(model.critic)[0]
    obs, actions = th.randn(8, 3), th.rand(8, 1) * 2 - 1
    model.policy.set_training_mode(False)
    stats = (layer.ra_mean.clone(), layer.ra_var.clone(), int(layer.steps))
    critic(obs, actions)
    model.predict(np.zeros((4, 3), dtype=np.float32))
    assert th.equal(layer.ra_mean, stats[0]) and th.equal(layer.ra_var, stats[1]) and int(layer.steps) == stats[2]
    critic.set_bn_training_mode(True)
    assert not critic.training and all(m.training for m in renorm_layers(critic))  # only the norm layers
    critic(obs, actions)
    assert not th.equal(layer.ra_mean, stats[0]) and int(layer.steps) == stats[2] + 1
    critic.set_bn_training_mode(False)
    frozen = layer.ra_mean.clone()
    critic(obs, actions)
    assert th.equal(layer.ra_mean, frozen)


@pytest.mark.parametrize(
    "kwargs, count",
    [
        (tiny(), 2 * 3 + 3),  # per critic: before each of 2 linear layers and before the head; same in the actor
        (tiny(arch_kwargs={}), 2 * 2 + 2),  # after each linear layer, before the activation
        (dict(arch="densenet", width=16, depth=2), 2 * 2 + 2),  # the CrossQ policy's default norm
        (tiny(norm="none"), 0),
    ],
)
def test_networks_contain_batch_renorm_layers_when_asked(kwargs, count):
    policy = CrossQ("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=kwargs).policy
    layers = renorm_layers(policy)
    assert len(layers) == count and all(type(m) is BatchRenorm for m in layers)


def test_batch_renorm_also_a_norm_of_the_sac_bodies():
    net, _ = build(NetSpec(arch="d2rl", width=8, depth=2, norm="batch_renorm"), 5)
    assert len(renorm_layers(net)) == 2


def test_crossq_settings_reach_every_batch_renorm_layer():
    policy = CrossQ(
        "LargeMlpPolicy",
        "Pendulum-v1",
        policy_kwargs=tiny(batch_norm_momentum=0.2, batch_norm_eps=1e-4, renorm_warmup_steps=7),
    ).policy
    settings = {(m.momentum, m.eps, m.warmup_steps) for m in renorm_layers(policy)}
    assert settings == {(0.2, 1e-4, 7)}


def test_crossq_default_networks_are_expressible():
    """sb3-contrib's MlpPolicy and ours with CrossQ's layout: same parameters, same outputs for the same weights."""
    env = CrossQ("MlpPolicy", "Pendulum-v1").env
    lr = lambda _: 1e-3  # noqa: E731
    space = (env.observation_space, env.action_space, lr)
    stock = CrossQPolicy(*space, net_arch=dict(pi=[16, 16], qf=[32, 32]))
    ours = LargeCrossQPolicy(*space, **CROSSQ_LAYOUT, actor_net={"width": 16}, critic_net={"width": 32})
    stock_state, our_state = stock.state_dict(), ours.state_dict()
    assert [v.shape for v in stock_state.values()] == [v.shape for v in our_state.values()]
    ours.load_state_dict(dict(zip(our_state, stock_state.values(), strict=True)))
    obs, actions = th.randn(10, 3), th.rand(10, 1) * 2 - 1
    for mode in (True, False):
        stock.set_training_mode(mode)
        ours.set_training_mode(mode)
        assert th.allclose(ours.actor(obs, deterministic=True), stock.actor(obs, deterministic=True))
        for q_ours, q_stock in zip(ours.critic(obs, actions), stock.critic(obs, actions), strict=True):
            assert th.allclose(q_ours, q_stock)


def test_identical_actions_after_load_in_a_fresh_process(tmp_path):
    model = CrossQ("LargeMlpPolicy", "Pendulum-v1", learning_starts=50, seed=1, policy_kwargs=tiny())
    model.learn(150)
    model.save(tmp_path / "model.zip")
    obs = np.random.default_rng(0).uniform(-1, 1, size=(16, 3)).astype(np.float32)
    np.save(tmp_path / "obs.npy", obs)
    script = LOAD_AND_ACT.format(module="sb3_contrib", algo="CrossQ")
    out = run_python(["-c", script, "model.zip", "obs.npy", "actions.npy"], cwd=tmp_path).stdout
    assert out.split() == ["sb3_large.policies.crossq_policy", "True"]
    assert np.array_equal(np.load(tmp_path / "actions.npy"), model.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(norm="batchrenorm"), ValueError, r"norm: unknown value 'batchrenorm'; allowed: none, layer, batch, "),
        (dict(arch="residual", arch_kwargs={}), ValueError, r"norm: unknown value 'batch_renorm' for arch"),
        (dict(arch_kwargs={"norm_position": "pre"}), ValueError, r"norm_position: unknown value 'pre'; allowed: "),
        (dict(batch_norm=False), ValueError, r"batch_norm: LargeCrossQPolicy sets normalization with norm="),
        (dict(batch_norm_momentum=0), ValueError, r"batch_norm_momentum: must be a finite number > 0"),
        (dict(renorm_warmup_steps=-1), ValueError, r"renorm_warmup_steps: must be an integer >= 0"),
    ],
)
def test_bad_values_name_the_field(kwargs, error, match):
    with pytest.raises(error, match=match):
        CrossQ("LargeMlpPolicy", "Pendulum-v1", policy_kwargs={**tiny(), **kwargs})


def test_single_sample_training_batch_names_batch_size():
    model = CrossQ("LargeMlpPolicy", "Pendulum-v1", learning_starts=10, batch_size=1, policy_kwargs=tiny())
    model.learn(10)
    with pytest.raises(ValueError, match=r"batch_size: batch renorm \(norm='batch_renorm'\) needs at least 2"):
        model.train(gradient_steps=model.policy_delay, batch_size=1)  # the actor's update sees 1 sample


def test_yaml_mujoco_entries_are_rl_zoo_crossq_with_our_policy():
    """RL Zoo's CrossQ entries with our policy; HalfCheetah's add OFENet features (8 x 30) and their trainer,
    Walker2d's weight normalization at 2 gradient steps per env step."""
    with open(ROOT / "hyperparams" / "crossq_large.yml") as f:
        ours = yaml.safe_load(f)
    with open(Path(rl_zoo3.__file__).parent / "hyperparams" / "crossq.yml") as f:
        zoo = yaml.safe_load(f)
    for env_id in ("HalfCheetah-v4", "Hopper-v4", "Walker2d-v4", "Ant-v4", "Humanoid-v4", "Swimmer-v4"):
        entry = dict(ours[env_id])
        assert entry.pop("policy") == "sb3_large.policies.LargeCrossQPolicy"
        kwargs = dict(entry.pop("policy_kwargs"))
        ofenet = kwargs.pop("ofenet_kwargs", None)
        if env_id.startswith("HalfCheetah"):
            assert entry.pop("callback") == ["sb3_large.ofenet.OFENetTrainer"]
            assert ofenet == {"layers": 8, "growth": 30}
        else:
            assert ofenet is None and "callback" not in entry, env_id
        walker = env_id.startswith("Walker2d")
        assert entry.pop("gradient_steps", 1) == (2 if walker else 1), env_id
        expected = {k: v for k, v in zoo[env_id].items() if k not in ("policy", "policy_kwargs")}
        assert entry == expected, env_id
        policy = CrossQ(LargeCrossQPolicy, "Pendulum-v1", policy_kwargs=kwargs).policy
        # The critic width every figure was measured at (RL Zoo's CrossQ: 2048).
        assert (policy.actor_spec.width, policy.critic_spec.width) == (256, 256)
        assert policy.actor_spec.norm == policy.critic_spec.norm == "batch_renorm"
        assert policy.weight_norm is walker, env_id
    assert ours["HalfCheetah-v5"] == ours["HalfCheetah-v4"]
    assert ours["Walker2d-v5"] == ours["Walker2d-v4"]


def test_stock_rl_zoo_trains_and_enjoys_crossq(tmp_path):
    conf = str(ROOT / "hyperparams" / "crossq_large.yml")
    train = ["-m", "rl_zoo3.train", "--algo", "crossq", "--env", "Pendulum-v1", "-conf", conf, "-n", "300"]
    # 50 updates of the entry's 2048-wide critics: enough to show that they train.
    args = [*train, "-f", "logs", "--seed", "0", "--eval-freq", "-1", "-params", "learning_starts:250"]
    out = run_python(args, cwd=tmp_path).stdout
    assert "('policy', 'sb3_large.policies.LargeCrossQPolicy')" in out
    model = CrossQ.load(tmp_path / "logs" / "crossq" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert type(model.policy) is LargeCrossQPolicy and model.num_timesteps == 300
    assert len(renorm_layers(model.policy)) == 2 * 3 + 3  # the entry's CrossQ layout
    enjoy = ["-m", "rl_zoo3.enjoy", "--algo", "crossq", "--env", "Pendulum-v1", "-f", "logs", "-n", "60"]
    out = run_python([*enjoy, "--no-render"], cwd=tmp_path).stdout
    assert "Loading logs/crossq/Pendulum-v1_1/Pendulum-v1.zip" in out


def test_stock_rl_zoo_trains_the_halfcheetah_entry_with_ofenet(tmp_path):
    """The entry's OFENetTrainer callback reaches stock RL Zoo's CrossQ (networks shrunk for the test)."""
    ofenet = "ofenet_kwargs=dict(layers=2, growth=8, pretrain_steps=100)"
    small = f"dict(arch='mlp', depth=2, norm='batch_renorm', width=32, {ofenet})"
    conf = str(ROOT / "hyperparams" / "crossq_large.yml")
    train = ["-m", "rl_zoo3.train", "--algo", "crossq", "--env", "HalfCheetah-v4", "-conf", conf, "-n", "300"]
    args = [*train, "-f", "logs", "--seed", "0", "--eval-freq", "-1", "-params", "learning_starts:200"]
    out = run_python([*args, f"policy_kwargs:{small}"], cwd=tmp_path).stdout
    assert "sb3_large.ofenet.OFENetTrainer" in out
    assert "OFENet pretraining 100/100" in out, out[-3000:]  # the entry's callback ran
    model = CrossQ.load(tmp_path / "logs" / "crossq" / "HalfCheetah-v4_1" / "HalfCheetah-v4.zip")
    assert model.policy.ofenet is not None and model.num_timesteps == 300


def test_composes_with_ofenet():
    model = CrossQ(
        "LargeMlpPolicy",
        "Pendulum-v1",
        learning_starts=100,
        seed=0,
        policy_kwargs=tiny(ofenet_kwargs=dict(layers=2, growth=8, pretrain_steps=50)),
    )
    model.learn(300, callback=OFENetTrainer())
    assert model.logger.name_to_value["ofenet/updates"] == 50 + 200
    assert np.isfinite(model.logger.name_to_value["train/critic_loss"])
    ofenet = {id(p) for p in model.policy.ofenet.parameters()}
    for optimizer in (model.actor.optimizer, model.critic.optimizer):
        assert not ofenet & {id(p) for group in optimizer.param_groups for p in group["params"]}


@pytest.mark.parametrize(
    "algo, policy_kwargs, field",
    [
        (SAC, dict(norm="batch_renorm"), "critic_net"),
        (TD3, dict(actor_net=dict(norm="batch_renorm")), "actor_net"),
        (TQC, dict(critic_net=dict(norm="batch_renorm")), "critic_net"),
    ],
)
def test_batch_renorm_refused_where_a_target_copy_would_keep_initial_statistics(algo, policy_kwargs, field):
    """SB3 copies only running_* buffers into target networks; batch renorm's are ra_*."""
    with pytest.raises(ValueError, match=rf"{field}.norm: 'batch_renorm' cannot be used in a network with a target"):
        algo("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(arch="mlp", width=8, **policy_kwargs))


def test_batch_renorm_allowed_in_sac_actor_which_has_no_target():
    model = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=8, actor_net=dict(norm="batch_renorm")))
    assert renorm_layers(model.actor) and not renorm_layers(model.critic_target)


def test_stacked_critic_batch_norms_follow_set_bn_training_mode():
    policy = CrossQ("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=tiny(norm="batch", ensemble_critics=True)).policy
    assert policy.critic.q_ensemble is not None
    stacked = [m for m in policy.critic.modules() if type(m).__name__ == "EnsembleBatchNorm1d"]
    assert stacked
    policy.critic.set_bn_training_mode(False)
    before = [m.running_mean.clone() for m in stacked]
    policy.critic(th.randn(8, 3), th.rand(8, 1))
    assert not any(m.training for m in stacked)
    assert all(th.equal(a, m.running_mean) for a, m in zip(before, stacked, strict=True))
    policy.critic.set_bn_training_mode(True)
    assert all(m.training for m in stacked)


def body_weights(model) -> list[th.Tensor]:
    """The weights of the linear layers of the actor's and critics' bodies (not of their output layers)."""
    return [m.weight for m in body_linears([model.actor.latent_pi, *model.critic.q_bodies()])]


@pytest.mark.parametrize("stacked", [False, True], ids=["separate", "stacked"])
def test_weight_norm_keeps_every_body_row_at_unit_norm_and_leaves_the_heads_free(stacked, tmp_path):
    # Batch renorm layers have no stacked version: stacked critics take batch norm (the CrossQ paper's first form).
    kwargs = tiny(weight_norm=True, ensemble_critics=stacked, norm="batch" if stacked else "batch_renorm")
    model = CrossQ("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, batch_size=32, seed=0, policy_kwargs=kwargs)
    weights = body_weights(model)
    assert len(weights) == 2 + 2 * (1 if stacked else 2)  # two linear layers per body
    assert stacked == (weights[-1].dim() == 3)
    before = [w.clone() for w in weights]
    model.learn(300)
    for weight, old in zip(weights, before, strict=True):
        assert not th.equal(weight, old)  # trained...
        assert th.allclose(weight.norm(dim=-1), th.ones(weight.shape[:-1]), atol=1e-5)  # ...and back on the sphere
    heads = [
        model.actor.mu.weight,
        *(q[-1].weight for q in ([model.critic.q_ensemble.net] if stacked else model.critic.q_networks)),
    ]
    assert all(not th.allclose(h.norm(dim=-1), th.ones(h.shape[:-1]), atol=1e-3) for h in heads)

    model.save(tmp_path / "wn.zip")
    loaded = CrossQ.load(tmp_path / "wn.zip", env=model.get_env())
    assert loaded.policy.weight_norm is True
    for a, b in zip(model.policy.state_dict().values(), loaded.policy.state_dict().values(), strict=True):
        assert th.equal(a, b)
    loaded.learn(100, reset_num_timesteps=False)  # the hook is registered again on load
    assert all(th.allclose(w.norm(dim=-1), th.ones(w.shape[:-1]), atol=1e-5) for w in body_weights(loaded))


def test_without_weight_norm_the_rows_drift():
    model = CrossQ("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, batch_size=32, seed=0, policy_kwargs=tiny())
    before = [w.norm(dim=-1) for w in body_weights(model)]
    model.learn(300)
    assert model.policy.weight_norm is False
    after = [w.norm(dim=-1) for w in body_weights(model)]
    assert all(not th.allclose(b, a, atol=1e-3) for b, a in zip(before, after, strict=True))


def test_the_projection_leaves_a_batch_normalized_network_as_it_was():
    """Each unit's weights and bias scaled together, then batch-normalized: the same outputs, in CrossQ's layout
    where a ReLU sits between a linear layer and the next batch norm; scaling the weights alone would not keep them
    (their biases would count more). Up to the batch norm's eps: at CrossQ's 0.001 a unit of tiny variance (mostly
    below the ReLU's threshold) still sees its scale, so the test takes eps near 0."""
    model = CrossQ("LargeMlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=tiny(batch_norm_eps=1e-9))
    critic = model.critic.train()  # batch statistics, as in CrossQ's critic update
    weights_only = copy.deepcopy(critic)
    obs, actions = th.randn(64, 3), th.rand(64, 1) * 2 - 1
    with th.no_grad():
        before = th.cat(critic(obs, actions))
        UnitRowsAfterStep(body_linears(critic.q_bodies())).project()
        for layer in body_linears(weights_only.q_bodies()):
            layer.weight.div_(layer.weight.norm(dim=-1, keepdim=True))
        moved = (th.cat(critic(obs, actions)) - before).abs().max()
        moved_weights_only = (th.cat(weights_only(obs, actions)) - before).abs().max()
    assert all(th.allclose(w.norm(dim=-1), th.ones(w.shape[:-1]), atol=1e-6) for w in body_weights(model)[2:])
    assert moved < 1e-4 and moved_weights_only > 0.2


def test_a_reset_network_starts_on_the_unit_sphere():
    model = CrossQ(
        "LargeMlpPolicy",
        "Pendulum-v1",
        learning_starts=100,
        batch_size=32,
        seed=0,
        policy_kwargs=tiny(weight_norm=True),
    )
    model.learn(200)
    reset_networks(model, ["actor", "critic"])
    assert all(th.allclose(w.norm(dim=-1), th.ones(w.shape[:-1]), atol=1e-5) for w in body_weights(model))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(critic_net=dict(norm="layer")), r"critic_net: weight_norm=True needs arch='mlp' with norm 'batch' or"),
        (dict(arch="residual", norm="layer", arch_kwargs={}), r"actor_net: weight_norm=True needs arch='mlp'"),
        (dict(activation="tanh"), r"actor_net.activation: weight_norm=True with norm_position 'before_linear'"),
        (dict(weight_norm=1), r"weight_norm: must be True or False, got 1"),
    ],
)
def test_weight_norm_refuses_bodies_it_would_change(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        CrossQ("LargeMlpPolicy", "Pendulum-v1", policy_kwargs={**tiny(weight_norm=True), **kwargs})
