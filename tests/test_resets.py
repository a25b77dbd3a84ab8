"""Periodic resets of named networks (``sb3_large.resets``), with a replay ratio above 1."""

import math

import numpy as np
import pytest
import torch as th
import yaml
from rl_zoo3.utils import get_callback_list
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.env_util import make_vec_env

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.apex import ApeXCollector
from sb3_large.normalization import ObsNormUpdater
from sb3_large.ofenet import OFENetTrainer
from sb3_large.resets import PeriodicReset, reset_networks

from .conftest import run_python


def make(algo=SAC, policy_kwargs=None, **kwargs):
    kwargs = {"seed": 0, "learning_starts": 100, "batch_size": 32, **kwargs}
    return algo("LargeMlpPolicy", "Pendulum-v1", policy_kwargs={"width": 16, **(policy_kwargs or {})}, **kwargs)


def tensors(module) -> dict[str, th.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items() if isinstance(v, th.Tensor)}


def optimizer_state(optimizer) -> list[dict[str, th.Tensor]]:
    state = optimizer.state
    return [{k: v.clone() for k, v in state.get(p, {}).items()} for g in optimizer.param_groups for p in g["params"]]


def assert_equal_states(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert th.equal(a[k], b[k]), k


def assert_equal_optimizer(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b) and all(x.keys() == y.keys() for x, y in zip(a, b, strict=True))
    for x, y in zip(a, b, strict=True):
        for k in x:
            assert th.equal(x[k], y[k]), k


def snapshot(model) -> dict:
    policy = model.policy
    names = [n for n in ("actor", "critic", "critic_target", "actor_target") if hasattr(policy, n)]
    out = {name: tensors(getattr(policy, name)) for name in names}
    out["actor_opt"] = optimizer_state(policy.actor.optimizer)
    out["critic_opt"] = optimizer_state(policy.critic.optimizer)
    if getattr(model, "log_ent_coef", None) is not None:
        out["log_ent_coef"] = {"v": model.log_ent_coef.detach().clone()}
        out["ent_opt"] = optimizer_state(model.ent_coef_optimizer)
    return out


def test_a_critic_reset_reinitialises_exactly_the_critic_and_its_target():
    model = make(policy_kwargs=dict(critic_net={"norm": "batch"}, arch="mlp"))
    model.learn(300)
    before = snapshot(model)
    policy = model.policy
    th.manual_seed(7)
    reset_networks(model, ["critic"])
    th.manual_seed(7)
    built = tensors(policy.make_critic())
    # the critic is what the policy's own builder makes (batch-norm statistics included), its target equals it
    assert_equal_states(tensors(policy.critic), built)
    assert_equal_states(tensors(policy.critic_target), built)
    weights = [k for k in before["critic"] if k.endswith("weight")]
    assert weights and all(not th.equal(before["critic"][k], built[k]) for k in weights)
    assert all(float(v.abs().sum()) == 0 for k, v in policy.critic.state_dict().items() if k.endswith("running_mean"))
    # SB3's aliases of the batch-norm statistics still point at the critic's own tensors
    live = [v for k, v in policy.critic.state_dict().items() if "running_" in k]
    assert [t.data_ptr() for t in model.batch_norm_stats] == [t.data_ptr() for t in live]
    # its optimizer forgot the moments and step counts; nothing else changed, bit for bit
    assert all(not s for s in optimizer_state(policy.critic.optimizer)) and any(before["critic_opt"])
    assert_equal_states(before["actor"], tensors(policy.actor))
    assert_equal_optimizer(before["actor_opt"], optimizer_state(policy.actor.optimizer))
    assert_equal_states(before["log_ent_coef"], {"v": model.log_ent_coef.detach()})
    assert_equal_optimizer(before["ent_opt"], optimizer_state(model.ent_coef_optimizer))


def test_an_actor_reset_uses_the_actors_own_initialisation():
    """gSDE's log_std starts at ``log_std_init``: a generic re-initialisation (``reset_parameters``) would miss it."""
    model = make(use_sde=True, policy_kwargs=dict(log_std_init=-2.0))
    model.learn(300)
    policy = model.policy
    assert not th.all(policy.actor.log_std == -2.0)  # training moved it
    before = snapshot(model)
    reset_networks(model, ["actor"])
    assert th.all(policy.actor.log_std == -2.0)
    assert all(not th.equal(v, tensors(policy.actor)[k]) for k, v in before["actor"].items() if k.endswith("weight"))
    assert all(not s for s in optimizer_state(policy.actor.optimizer))
    for name in ("critic", "critic_target"):
        assert_equal_states(before[name], tensors(getattr(policy, name)))
    assert_equal_optimizer(before["critic_opt"], optimizer_state(policy.critic.optimizer))


def test_a_td3_actor_reset_resets_its_target_and_leaves_the_critics():
    model = make(TD3, learning_starts=50)
    model.learn(200)
    before = snapshot(model)
    reset_networks(model, ("actor",))
    policy = model.policy
    assert_equal_states(tensors(policy.actor), tensors(policy.actor_target))
    assert not th.equal(before["actor"]["mu.1.weight"], policy.actor.mu[1].weight)
    for name in ("critic", "critic_target"):
        assert_equal_states(before[name], tensors(getattr(policy, name)))


def test_the_entropy_coefficient_goes_back_to_its_initial_value():
    model = make(ent_coef="auto_0.5")
    model.learn(300)
    assert not math.isclose(model.log_ent_coef.item(), math.log(0.5), rel_tol=1e-4)
    before = snapshot(model)
    reset_networks(model, ["ent_coef"])
    assert th.equal(model.log_ent_coef.detach(), th.log(th.ones(1) * 0.5))
    assert not model.ent_coef_optimizer.state
    for name in ("actor", "critic", "critic_target"):
        assert_equal_states(before[name], tensors(getattr(model.policy, name)))


def test_an_ofenet_reset_keeps_its_update_count_and_the_rl_networks():
    model = SAC(
        "OFENetPolicy",
        "Pendulum-v1",
        seed=0,
        learning_starts=100,
        policy_kwargs=dict(width=16, ofenet_kwargs=dict(layers=2, growth=8, pretrain_steps=10)),
    )
    model.learn(200, callback=OFENetTrainer())
    ofenet = model.policy.ofenet
    before, ofenet_before, n_updates = snapshot(model), tensors(ofenet), int(ofenet.n_updates)
    reset_networks(model, ["ofenet"])
    assert int(ofenet.n_updates) == n_updates == 110
    changed = [k for k, v in tensors(ofenet).items() if not th.equal(v, ofenet_before[k])]
    linear = {k for k in ofenet_before if k.endswith(".0.weight") or k == "head.weight"}
    assert len(linear) == 5 and linear <= set(changed)  # the 2 + 2 DenseNet layers and the head
    assert all(not v.any() for k, v in ofenet.state_dict().items() if k.endswith(("running_mean", "batches_tracked")))
    assert not ofenet.optimizer.state
    for name in ("actor", "critic", "critic_target"):
        assert_equal_states(before[name], tensors(getattr(model.policy, name)))


def test_a_joint_ofenet_reset_leaves_no_optimizer_state_for_its_parameters():
    """With joint=True the critics' optimizer steps OFENet too: it must forget OFENet's moments as well."""
    model = SAC(
        "OFENetPolicy",
        "Pendulum-v1",
        seed=0,
        learning_starts=100,
        policy_kwargs=dict(width=16, ofenet_kwargs=dict(layers=2, growth=8, pretrain_steps=10, joint=True)),
    )
    model.learn(200, callback=OFENetTrainer())
    policy, ofenet_params = model.policy, list(model.policy.ofenet.parameters())
    critic_optimizer = policy.critic.optimizer
    assert any(p in critic_optimizer.state for p in ofenet_params)  # the critic loss did step OFENet
    critic_params = [p for p in policy.critic.parameters() if p in critic_optimizer.state]
    before = {id(p): {k: v.clone() for k, v in critic_optimizer.state[p].items()} for p in critic_params}
    reset_networks(model, ["ofenet"])
    for optimizer in (critic_optimizer, policy.ofenet.optimizer, policy.actor.optimizer, model.ent_coef_optimizer):
        assert not any(p in optimizer.state for p in ofenet_params)
    # the critics' own moments stay, bit for bit
    assert critic_params and all(
        all(th.equal(v, critic_optimizer.state[p][k]) for k, v in before[id(p)].items()) for p in critic_params
    )


def test_names_are_checked_before_anything_runs():
    allowed = "allowed: actor, critic, ent_coef, ofenet"
    with pytest.raises(ValueError, match=rf"networks: 'critc' cannot be reset; {allowed}"):
        PeriodicReset(every_steps=100, networks=["critc"])
    with pytest.raises(TypeError, match="networks: must be a non-empty list of names"):
        PeriodicReset(every_steps=100, networks="critic")
    with pytest.raises(ValueError, match="every_steps: must be a positive integer, got 0"):
        PeriodicReset(every_steps=0)
    td3 = make(TD3)
    with pytest.raises(ValueError, match="'ent_coef' cannot be reset in this TD3 model; allowed: actor, critic$"):
        td3.learn(10, callback=PeriodicReset(every_steps=5, networks=["critic", "ent_coef"]))
    assert td3.num_timesteps == 0
    with pytest.raises(ValueError, match="'ofenet' cannot be reset in this SAC model; allowed: actor, critic$"):
        reset_networks(make(ent_coef=0.1), ["ofenet"])


def test_training_goes_on_after_resets_with_a_replay_ratio_of_two():
    model = make(gradient_steps=2, policy_kwargs=dict(normalize_obs=True))
    resets = PeriodicReset(every_steps=150, networks=["actor", "critic", "ent_coef"])
    callbacks = [ObsNormUpdater(), resets]
    model.learn(500, callback=callbacks)
    assert resets.resets == 3  # at 150, 300 and 450 env steps
    model.learn(100, callback=callbacks, reset_num_timesteps=False)
    assert resets.resets == 3  # not at 600: the end of the budget (learn() would return fresh networks)
    resets_at_600 = PeriodicReset(every_steps=150, networks=["critic"])  # on the next learn(), before its first step
    model.learn(1, callback=resets_at_600, reset_num_timesteps=False)
    assert resets_at_600.resets == 1
    assert model._n_updates == 2 * (601 - 100)
    model.train(gradient_steps=2, batch_size=32)
    values = model.logger.name_to_value
    assert all(np.isfinite(values[k]) for k in ("train/critic_loss", "train/actor_loss", "train/ent_coef"))
    # the stats of the observation normalization are no network: a reset leaves them
    count = int(model.policy.obs_norm.count)
    reset_networks(model, ["actor", "critic"])
    assert int(model.policy.obs_norm.count) == count == 600  # learn(1) above ran without the updater


@pytest.mark.parametrize("new_callback", [False, True], ids=["same-callback", "new-callback-per-chunk"])
@pytest.mark.parametrize("n_envs, chunk", [(1, 100), (3, 102)], ids=["1-env", "3-envs"])
def test_a_run_in_chunks_resets_where_one_learn_call_does(capsys, new_callback, n_envs, chunk):
    """The reset skipped on the last step of one learn() (with 3 envs that step passes 100 and lands on 102) is
    done when the next continues the run, with the same callback or (as after loading a checkpoint) a new one:
    the schedule of a single learn() over the same steps is kept."""

    def model():
        env = make_vec_env("Pendulum-v1", n_envs=n_envs, seed=0)
        return SAC("LargeMlpPolicy", env, learning_starts=50, batch_size=32, seed=0, policy_kwargs={"width": 16})

    model().learn(3 * chunk, callback=PeriodicReset(every_steps=100, networks=["actor"], verbose=1))
    single = capsys.readouterr().out
    chunked_model, resets = model(), PeriodicReset(every_steps=100, networks=["actor"], verbose=1)
    for _ in range(3):
        callback = PeriodicReset(every_steps=100, networks=["actor"], verbose=1) if new_callback else resets
        chunked_model.learn(chunk, callback=callback, reset_num_timesteps=False)
    chunked = capsys.readouterr().out
    steps = [100, 200] if n_envs == 1 else [102, 201, 300]
    assert single.splitlines() == chunked.splitlines() == [f"PeriodicReset: reset actor at step {n}" for n in steps]


def test_resets_with_the_apex_collectors_replay_ratio():
    model = make(learning_starts=300)
    collector = ApeXCollector(n_actors=1, chunk_size=50, replay_ratio=2.0)
    resets = PeriodicReset(every_steps=500, networks=["critic"])
    model.learn(1200, callback=CallbackList([collector, resets]))
    assert collector.actor_steps > 0
    # at 500 and 1000 steps, actors' transitions counted; one ingest of queued chunks may carry num_timesteps past
    # 1000 and to the end of the budget at once, where no reset happens
    assert resets.resets in (1, 2)
    assert model._n_updates == 2 * (1200 - 300)
    assert all(th.isfinite(p).all() for p in model.policy.parameters())


def test_rl_zoo_yaml_with_resets_and_observation_normalization(tmp_path):
    entry = {
        "policy": "sb3_large.policies.LargeSACPolicy",
        "n_timesteps": 600,
        "learning_starts": 100,
        "gradient_steps": 2,
        "batch_size": 32,
        "policy_kwargs": {"width": 16, "normalize_obs": True, "obs_norm_kwargs": {"clip": 5.0}},
        "callback": [
            "sb3_large.normalization.ObsNormUpdater",
            {"sb3_large.resets.PeriodicReset": {"every_steps": 250, "networks": ["actor", "critic"], "verbose": 1}},
        ],
    }
    callbacks = get_callback_list(entry)
    assert isinstance(callbacks[1], PeriodicReset) and callbacks[1].every_steps == 250
    conf = tmp_path / "conf.yml"
    conf.write_text(yaml.safe_dump({"Pendulum-v1": entry}))
    train = ["-m", "rl_zoo3.train", "--algo", "sac", "--env", "Pendulum-v1", "-conf", str(conf)]
    proc = run_python([*train, "-f", "logs", "--seed", "0", "--eval-freq", "-1"], cwd=tmp_path)
    assert "PeriodicReset: reset actor, critic at step 250" in proc.stdout
    assert "PeriodicReset: reset actor, critic at step 500" in proc.stdout
    model = SAC.load(tmp_path / "logs" / "sac" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert int(model.policy.obs_norm.count) == 600 and model.policy.obs_norm.clip == 5.0
