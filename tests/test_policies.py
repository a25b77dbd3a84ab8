import gymnasium as gym
import numpy as np
import pytest
import torch as th
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import DDPG, SAC, TD3
from torch import nn

import sb3_large
from sb3_large.networks import NetSpec
from sb3_large.policies import LargeSACPolicy, LargeTD3Policy, LargeTQCPolicy, OFENetSACPolicy

from .conftest import ARCHS, run_python

ALGOS = {SAC: LargeSACPolicy, TD3: LargeTD3Policy, TQC: LargeTQCPolicy}


def tiny(arch: str = "densenet", **extra) -> dict:
    return dict(arch=arch, width=16, depth=2, **extra)


@pytest.mark.parametrize("algo", ALGOS)
def test_alias_resolves_to_our_policy(algo):
    model = algo("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=tiny())
    assert type(model.policy) is ALGOS[algo]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("algo", [SAC, TD3])
def test_learns_a_few_hundred_steps_on_pendulum(algo, arch):
    model = algo("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, seed=0, policy_kwargs=tiny(arch))
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(300)
    assert model.num_timesteps == 300
    changed = [
        k for k, v in model.policy.state_dict().items() if v.dtype.is_floating_point and not th.equal(v, before[k])
    ]
    assert any(k.startswith("actor.") for k in changed) and any(k.startswith("critic.") for k in changed)


def test_tqc_and_ddpg_learn_too():
    TQC("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, policy_kwargs=tiny("residual")).learn(200)
    DDPG(LargeTD3Policy, "Pendulum-v1", learning_starts=100, policy_kwargs=tiny("d2rl")).learn(200)


@pytest.mark.parametrize("algo", ALGOS)
def test_rl_losses_reach_every_actor_and_critic_parameter(algo):
    model = algo("LargeMlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=tiny("densenet"))
    policy = model.policy
    obs = th.randn(32, 3)
    actions = th.rand(32, 1) * 2 - 1
    critic_out = policy.critic(obs, actions)
    critic_out = critic_out if isinstance(critic_out, th.Tensor) else th.cat(critic_out, dim=1)
    critic_out.pow(2).mean().backward()
    actor_out = policy.actor(obs) if algo is TD3 else policy.actor.action_log_prob(obs)[0]
    actor_out.pow(2).sum().backward()
    for net_name in ("actor", "critic"):
        for name, param in getattr(policy, net_name).named_parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, f"{net_name}.{name}"


@pytest.mark.parametrize("actor_key, critic_key", [("actor_net", "critic_net"), ("actor", "critic")])
def test_per_network_overrides_and_input_widths(actor_key, critic_key):
    overrides = {actor_key: dict(arch="mlp", width=12), critic_key: dict(depth=1)}
    model = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(arch="densenet", width=8, depth=3, **overrides))
    actor, critic = model.policy.actor, model.policy.critic
    assert actor.latent_pi[0][0].in_features == 3
    assert actor.mu.in_features == 12
    # critic: densenet on concat(obs, action) = 3 + 1, one layer of 8 -> 12 features, then Linear(12, 1)
    assert critic.qf0[0].layers[0][0].in_features == 4
    assert critic.qf0[1].in_features == 4 + 8
    assert len(critic.q_networks) == 2 and critic.qf0 is not critic.qf1
    assert model.policy.critic_target.qf0[1].in_features == 12


@pytest.mark.parametrize("algo", [SAC, TD3, TQC])
def test_recommended_defaults(algo):
    # No kwargs: sac_large.yml's body, a LayerNorm MLP 256 x 2, for the actor and the critics.
    policy = algo("LargeMlpPolicy", "Pendulum-v1").policy
    assert policy.actor_spec == policy.critic_spec == NetSpec(arch="mlp", width=256, depth=2, norm="layer")
    linears = [m for m in policy.actor.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears][:2] == [256, 256]
    assert sum(isinstance(m, nn.LayerNorm) for m in policy.critic.qf0.modules()) == 2


def test_crossq_defaults_are_its_measured_networks():
    spec = CrossQ("LargeMlpPolicy", "Pendulum-v1").policy.critic_spec
    assert spec == NetSpec(arch="mlp", width=256, norm="batch_renorm", arch_kwargs={"norm_position": "before_linear"})


@pytest.mark.parametrize("arch", ["simbav2", "densenet", "residual"])
def test_another_arch_chooses_its_own_norm(arch):
    # The default norm ("layer") belongs to the default MLP: simbav2 takes no norm, and must build.
    policy = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(arch=arch, width=32)).policy
    assert policy.actor_spec.arch == arch and policy.actor_spec.norm is None
    crossq = CrossQ("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(arch="densenet", width=32)).policy
    assert crossq.critic_spec.norm == "batch_renorm" and crossq.critic_spec.arch_kwargs == {}


def test_paper_defaults():
    # The OFENet policies, and the class path models saved by 0.1 name, keep the paper's DenseNet 2048 x 2.
    from sb3_large.policies.sac import LargeSACPolicy as V01SACPolicy

    for policy_class in (V01SACPolicy, OFENetSACPolicy):
        body = SAC(policy_class, "Pendulum-v1").policy.actor.latent_pi
        assert type(body).__name__ == "DenseNet" and len(body.layers) == 2
        assert [layer[0].out_features for layer in body.layers] == [2048, 2048]
        assert isinstance(body.layers[0][-1], nn.ReLU)


def test_saved_options_rebuild_under_other_defaults(tmp_path):
    # A policy records its options in full: loaded by a class with other defaults, it builds the same networks.
    from sb3_large.policies.sac import LargeSACPolicy as V01SACPolicy

    model = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(critic_net={"width": 64}))
    model.policy.save(tmp_path / "policy.pth")
    loaded = V01SACPolicy.load(tmp_path / "policy.pth")
    assert loaded.options == model.policy.options
    for key, value in model.policy.state_dict().items():
        assert th.equal(loaded.state_dict()[key], value), key


def test_sb3_shorthands_net_arch_and_activation_fn():
    model = TD3(
        "LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(arch="mlp", net_arch=[40, 30], activation_fn=nn.Tanh)
    )
    linears = [m for m in model.policy.actor.mu if isinstance(m, nn.Sequential)][0]
    assert [layer[0].out_features for layer in linears] == [40, 40]
    assert isinstance(linears[0][-1], nn.Tanh)


def test_gsde_and_batch_norm_work():
    SAC("LargeMlpPolicy", "Pendulum-v1", use_sde=True, learning_starts=50, policy_kwargs=tiny(norm="batch")).learn(120)


def test_policy_keeps_our_kwargs_for_standalone_save(tmp_path):
    model = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=tiny("d2rl", norm="layer", critic_net=dict(width=24)))
    model.policy.save(tmp_path / "policy.pth")
    loaded = LargeSACPolicy.load(tmp_path / "policy.pth")
    obs = np.zeros((1, 3), dtype=np.float32)
    assert np.allclose(loaded.predict(obs, deterministic=True)[0], model.policy.predict(obs, deterministic=True)[0])
    assert loaded.critic.qf0[1].in_features == 24


BAD_KWARGS = [
    (
        dict(arch="nope"),
        ValueError,
        r"policy_kwargs\.arch: unknown architecture 'nope'; known: d2rl, densenet, mlp, residual",
    ),
    (dict(width=0), ValueError, r"policy_kwargs\.width: must be a positive integer, got 0"),
    (dict(depth=0), ValueError, r"policy_kwargs\.depth: must be a positive integer, got 0"),
    (dict(actor_net=dict(width=-4)), ValueError, r"actor_net\.width: must be a positive integer, got -4"),
    (dict(critic_net=dict(widht=4)), ValueError, r"critic_net: unknown option 'widht'; allowed: arch, width"),
    (dict(actor=dict(width=-4)), ValueError, r"actor_net\.width: must be a positive integer, got -4"),
    (dict(actor={}, actor_net={}), TypeError, r"policy_kwargs: 'actor' is the old name of 'actor_net'"),
    (dict(widht=4), TypeError, r"policy_kwargs: unknown option 'widht' for LargeSACPolicy; allowed: arch, width"),
    (dict(arch="mlp", arch_kwargs=dict(expansion=2)), TypeError, r"expansion: architecture 'mlp' does not take"),
    (dict(activation="sigmoidal"), ValueError, r"activation: unknown value 'sigmoidal'"),
]


@pytest.mark.parametrize("kwargs, error, match", BAD_KWARGS)
def test_bad_policy_kwargs_fail_when_the_policy_is_built(kwargs, error, match):
    with pytest.raises(error, match=match):
        SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=8) | kwargs)


BOX = gym.spaces.Box(-1, 1, (2,), np.float32)


@pytest.mark.parametrize(
    "obs_space, action_space, match",
    [
        (gym.spaces.Box(0, 255, (64, 64, 3), np.uint8), BOX, r"observation_space: image observations"),
        (gym.spaces.Dict({"a": BOX}), BOX, r"observation_space: Dict is not supported"),
        (gym.spaces.Tuple((BOX, BOX)), BOX, r"observation_space: Tuple is not supported"),
        (BOX, gym.spaces.Discrete(3), r"action_space: Discrete is not supported"),
    ],
)
@pytest.mark.parametrize("policy_class", ALGOS.values())
def test_unsupported_spaces_are_refused(policy_class, obs_space, action_space, match):
    with pytest.raises(ValueError, match=match):
        policy_class(obs_space, action_space, lambda _: 1e-3, width=8)


def test_import_registers_aliases_only_once_per_algorithm():
    assert SAC.policy_aliases["LargeMlpPolicy"] is sb3_large.LargeSACPolicy
    assert TD3.policy_aliases["LargeMlpPolicy"] is sb3_large.LargeTD3Policy
    assert SAC.policy_aliases["MlpPolicy"] is not sb3_large.LargeSACPolicy


def test_importing_the_package_leaves_the_compiler_and_the_learners_unloaded(tmp_path):
    """What RL Zoo, an actor process or an unpickled policy imports: the policies, not the fast learners, whose
    torch.compile machinery takes seconds to load; ``sb3_large.SAC`` / ``TD3`` load them when first used."""
    script = (
        "import sys, sb3_large\n"
        "print(sorted(m for m in ('torch._dynamo', 'sb3_large.learners') if m in sys.modules))\n"
        "from sb3_large import TD3\n"
        "print(sb3_large.SAC.__module__, TD3.__module__, 'torch._dynamo' in sys.modules)\n"
    )
    out = run_python(["-c", script], cwd=tmp_path).stdout.splitlines()
    assert out == ["[]", "sb3_large.learners.sac sb3_large.learners.td3 True"]
    with pytest.raises(AttributeError, match="module 'sb3_large' has no attribute 'PPO'"):
        sb3_large.PPO  # noqa: B018
