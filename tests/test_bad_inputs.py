"""Bad policy kwargs and buffers: one clear error naming the field; the spaces SB3's MlpPolicy takes, we take."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib import TQC
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.buffers import NStepReplayBuffer
from stable_baselines3.common.torch_layers import NatureCNN

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.ofenet import OFENetTrainer

OFENET = dict(layers=1, growth=4, pretrain_steps=4)

BAD_KWARGS = {
    "n_critics=0": (dict(n_critics=0), ValueError, r"n_critics: must be a positive integer, got 0"),
    "n_critics='2'": (dict(n_critics="2"), ValueError, r"n_critics: must be a positive integer, got '2'"),
    "optimizer_class str": (
        dict(optimizer_class="Adam"),
        TypeError,
        r"optimizer_class: must be a torch.optim.Optimizer subclass \(e.g. torch.optim.Adam\), got 'Adam'",
    ),
    "lr in optimizer_kwargs": (
        dict(optimizer_kwargs=dict(lr=1e-3)),
        ValueError,
        r"optimizer_kwargs: 'lr' is set from the algorithm's learning_rate; pass learning_rate= instead",
    ),
    "negative width": (dict(net_arch=[64, -1]), ValueError, r"net_arch\[1\]: must be a positive integer, got -1"),
    "no critic widths": (dict(net_arch=dict(pi=[16])), ValueError, r"net_arch.qf: expected a non-empty list"),
    "activation with arguments": (
        dict(activation=th.nn.Linear),
        ValueError,
        r"activation: Linear cannot be built without arguments",
    ),
    "fused and foreach": (
        dict(optimizer_kwargs=dict(fused=True, foreach=True)),
        ValueError,
        r"optimizer_kwargs: torch.optim.adam.Adam refuses \{'fused': True, 'foreach': True\}: `fused` and "
        r"`foreach` cannot be `True` together",
    ),
    "unknown optimizer option": (
        dict(optimizer_kwargs=dict(momentum=0.9)),
        ValueError,
        r"optimizer_kwargs: torch.optim.adam.Adam refuses \{'momentum': 0.9\}: .*unexpected keyword .*'momentum'",
    ),
    "NatureCNN on Box": (
        dict(features_extractor_class=NatureCNN),
        ValueError,
        r"features_extractor_class: NatureCNN reads images \(a uint8 Box of shape \(channels, height, width\)\), "
        r"got observations Box\(.*\); allowed here: FlattenExtractor \(the default\) or an extractor of vector",
    ),
    "features_extractor_class not a class": (
        dict(features_extractor_class="FlattenExtractor"),
        TypeError,
        r"features_extractor_class: must be a stable_baselines3 BaseFeaturesExtractor subclass",
    ),
    "q_distribution beyond float32": (
        dict(q_distribution=dict(low=-1e39, high=1e39, transform="none")),
        ValueError,
        r"q_distribution.low: must be within -3.403e\+38 and 3.403e\+38 with transform='none' \(each bin's Q value "
        r"is a float32 number\), got -1e\+39",
    ),
    "q_distribution symlog beyond float32": (
        dict(q_distribution=dict(high=100.0)),
        ValueError,
        r"q_distribution.high: must be within -88 and 88 with transform='symlog'",
    ),
    "q_distribution span beyond float32": (
        dict(q_distribution=dict(low=-3e38, high=3e38, transform="none")),
        ValueError,
        r"q_distribution.high: high - low must be at most 3.403e\+38 \(a float32 number\), got 3e\+38 - -3e\+38",
    ),
    "q_distribution bins below float32": (
        dict(q_distribution=dict(low=1e6, high=1e6 + 1, transform="none")),
        ValueError,
        r"q_distribution.bins: 101 bins between 1000000.0 and 1000001.0 are 0.0099 wide, below float32's "
        r"resolution there \(0.0625\); use fewer bins or a wider support",
    ),
    "arch_kwargs not a mapping": (
        dict(arch_kwargs=[1]),
        TypeError,
        r"arch_kwargs: must be a mapping of the architecture's options, got \[1\]",
    ),
    "inf in a setting": (
        dict(ofenet_kwargs=dict(learning_rate=float("inf"))),
        ValueError,
        r"ofenet.learning_rate: must be a finite number > 0, got inf",
    ),
}


@pytest.mark.parametrize("case", BAD_KWARGS)
def test_bad_policy_kwargs(case):
    kwargs, error, message = BAD_KWARGS[case]
    with pytest.raises(error, match=message):
        SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=8, **kwargs))


def test_tqc_needs_quantiles():
    with pytest.raises(ValueError, match=r"n_quantiles: must be a positive integer, got 0"):
        TQC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=8, n_quantiles=0))


class ShapedEnv(gym.Env):
    """One-step-per-call env with the observation space under test."""

    action_space = spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, observation_space: spaces.Space):
        self.observation_space = observation_space

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), float(action[0]), False, False, {}


SPACES = {
    "Box(2, 3)": spaces.Box(-1, 1, (2, 3), np.float32),
    "MultiDiscrete([4, 3])": spaces.MultiDiscrete([4, 3]),
    "MultiBinary(5)": spaces.MultiBinary(5),
    "MultiBinary((3, 2))": spaces.MultiBinary((3, 2)),
}


@pytest.mark.parametrize("policy", ["LargeMlpPolicy", "OFENetPolicy"])
@pytest.mark.parametrize("space", SPACES)
def test_the_observation_spaces_sb3_takes(space, policy):
    kwargs = dict(width=8) if policy == "LargeMlpPolicy" else dict(width=8, ofenet_kwargs=OFENET)
    model = TD3(policy, ShapedEnv(SPACES[space]), learning_starts=20, batch_size=8, policy_kwargs=kwargs)
    before = [p.clone() for p in model.policy.parameters()]
    model.learn(40, callback=OFENetTrainer() if policy == "OFENetPolicy" else None)
    assert any(not th.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))
    action, _ = model.predict(SPACES[space].sample(), deterministic=True)
    assert action.shape == (1,)


def test_dict_and_discrete_action_refusals_stay_clear():
    with pytest.raises(ValueError, match=r"observation_space: Dict is not supported; .*FlattenObservation"):
        SAC("LargeMlpPolicy", ShapedEnv(spaces.Dict({"a": spaces.Box(-1, 1, (2,))})), policy_kwargs=dict(width=8))


def ofenet_sac(**kwargs):
    return SAC(
        "OFENetPolicy", "Pendulum-v1", learning_starts=10, policy_kwargs=dict(width=8, ofenet_kwargs=OFENET), **kwargs
    )


BAD_OFENET_SETUPS = {
    "n-step buffer": (
        dict(replay_buffer_class=NStepReplayBuffer, replay_buffer_kwargs=dict(n_steps=3)),
        r"NStepReplayBuffer \(n_steps=3\) samples s_\(t\+n\) as next observation; OFENet learns the one-step",
    ),
    "optimize_memory_usage": (
        dict(optimize_memory_usage=True, replay_buffer_kwargs=dict(handle_timeout_termination=False)),
        r"optimize_memory_usage=True stores no next observation at an episode's end",
    ),
    "batch size 1": (dict(batch_size=1), r"batch size 1 .*OFENet's batch norm needs at least 2 samples"),
}


@pytest.mark.parametrize("case", BAD_OFENET_SETUPS)
def test_ofenet_refuses_what_it_cannot_learn_from(case):
    kwargs, message = BAD_OFENET_SETUPS[case]
    model = ofenet_sac(**kwargs)
    with pytest.raises(ValueError, match=message):
        model.learn(20, callback=OFENetTrainer())


@pytest.mark.parametrize("ensemble", [False, True])
def test_a_batch_norm_body_with_batch_size_1_names_the_setting(ensemble):
    kwargs = dict(width=8, norm="batch", ensemble_critics=ensemble)
    model = SAC("LargeMlpPolicy", "Pendulum-v1", batch_size=1, learning_starts=10, policy_kwargs=kwargs)
    with pytest.raises(ValueError, match=r"batch_size: batch norm \(norm='batch'\) needs at least 2 samples"):
        model.learn(20)
    model.batch_size = 2  # the same model trains once the batch is big enough
    model.learn(20, reset_num_timesteps=False)
