"""OFENet policies under SB3's policy contracts: device moves take the OFENet along, and ``gradient_steps=0``
trains nothing (the OFENet included)."""

import pytest
import torch as th
from stable_baselines3 import SAC, TD3

import sb3_large  # noqa: F401  (registers "OFENetPolicy")
from sb3_large.ofenet import OFENetTrainer

OFENET = dict(layers=2, growth=4, pretrain_steps=10)


def ofenet_model(algo, **kwargs):
    return algo(
        "OFENetPolicy",
        "Pendulum-v1",
        learning_starts=50,
        batch_size=32,
        seed=0,
        policy_kwargs=dict(width=16, ofenet_kwargs=OFENET),
        **kwargs,
    )


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_a_device_move_takes_the_ofenet_along(algo):
    """The networks keep calling the policy's own OFENet after ``policy.to(device)`` (here the meta device)."""
    policy = ofenet_model(algo).policy.to("meta")
    assert {p.device.type for p in policy.parameters()} == {"meta"}
    assert {b.device.type for b in policy.ofenet.buffers()} == {"meta"}
    assert policy.actor.features_extractor.state_features.__self__ is policy.ofenet
    assert policy.critic.state_action_features.__self__ is policy.ofenet
    features = policy.actor.extract_features(th.zeros(2, 3, device="meta"), policy.actor.features_extractor)
    assert features.device.type == "meta" and features.shape == (2, policy.ofenet.state_dim)


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_gradient_steps_zero_trains_nothing(algo):
    model = ofenet_model(algo, gradient_steps=0)
    before = {k: v.clone() for k, v in model.policy.state_dict().items() if isinstance(v, th.Tensor)}
    model.learn(120, callback=OFENetTrainer())
    after = model.policy.state_dict()
    changed = [k for k, v in before.items() if not th.equal(v, after[k])]
    assert changed == []


def test_state_dict_values_are_tensors_and_the_optimizer_state_round_trips():
    model = ofenet_model(SAC)
    model.learn(100, callback=OFENetTrainer())
    state = model.policy.state_dict()
    assert all(isinstance(v, th.Tensor) for v in state.values())
    fresh = ofenet_model(SAC).policy
    fresh.load_state_dict(state)
    saved, loaded = model.policy.ofenet.optimizer.state_dict(), fresh.ofenet.optimizer.state_dict()
    assert saved["param_groups"] == loaded["param_groups"] and saved["state"].keys() == loaded["state"].keys()
    for idx, entry in saved["state"].items():
        assert all(th.equal(value, loaded["state"][idx][key]) for key, value in entry.items())
