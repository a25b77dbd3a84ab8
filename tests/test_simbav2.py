"""The SimbaV2-style body: weights and features on the unit sphere, kept there through every learner."""

import numpy as np
import pytest
import stable_baselines3 as sb3
import torch as th
from sb3_contrib import TQC, CrossQ

import sb3_large
from sb3_large.networks import NetSpec, build
from sb3_large.networks.simbav2 import (
    HypersphericalBlock,
    HypersphericalEmbedding,
    HypersphericalLinear,
    SimbaV2,
    register_projection,
)

from .conftest import ROOT, run_python

TINY = dict(arch="simbav2", width=16, depth=2)


def sphere_layers(module: th.nn.Module) -> list[tuple[str, HypersphericalLinear]]:
    return [(n, m) for n, m in module.named_modules() if isinstance(m, HypersphericalLinear)]


def max_row_norm_error(layers) -> float:
    return max((m.weight.norm(dim=1) - 1).abs().max().item() for _, m in layers)


def test_features_and_every_block_output_have_unit_norm():
    net, out_dim = build(NetSpec(**TINY, arch_kwargs={"expansion": 2}), 5)
    assert isinstance(net, SimbaV2) and out_dim == 16
    outputs = []
    for module in net.modules():
        if isinstance(module, (HypersphericalEmbedding, HypersphericalBlock)):
            module.register_forward_hook(lambda _m, _args, out: outputs.append(out))
    x = th.randn(64, 5) * th.logspace(-2, 2, 64).unsqueeze(1)  # inputs of very different norms
    features = net.features(x)
    assert len(outputs) == 3
    for h in (*outputs, features):
        assert th.allclose(h.norm(dim=-1), th.ones(64), atol=1e-5)
    # the output for SB3's heads: the unit features times a per-unit scale that starts at sqrt(width)
    assert th.allclose(net(x), features * 4.0)
    # the appended constant keeps the input's norm: inputs along one direction map to different features
    assert not th.allclose(net.features(x[:1]), net.features(10 * x[:1]))


def test_layers_have_no_bias_and_start_on_the_sphere():
    net, _ = build(NetSpec(**TINY), 3)
    layers = sphere_layers(net)
    assert len(layers) == 1 + 2 * 2 and max_row_norm_error(layers) < 1e-6
    assert not any(n.endswith("bias") for n, _ in net.named_parameters())


def test_the_projection_hook_is_what_keeps_the_weights_on_the_sphere():
    def train(project: bool) -> float:
        th.manual_seed(0)
        net, _ = build(NetSpec(**TINY), 3)
        optimizer = th.optim.Adam(net.parameters(), lr=1e-2)
        if project:
            assert register_projection(optimizer, net) is not None
        for _ in range(20):
            optimizer.zero_grad()
            net(th.randn(32, 3)).sum().backward()
            optimizer.step()
        return max_row_norm_error(sphere_layers(net))

    assert train(project=False) > 1e-2
    assert train(project=True) < 1e-5
    other = th.optim.Adam([th.nn.Parameter(th.zeros(2))])  # an optimizer of no hyperspherical layer: no hook
    assert register_projection(other, build(NetSpec(**TINY), 3)[0]) is None


LEARNERS = {
    "sb3.SAC": (sb3.SAC, {}),
    "sb3_large.SAC": (sb3_large.SAC, {}),
    "sb3.TD3": (sb3.TD3, {}),
    "sb3_large.TD3": (sb3_large.TD3, {}),
    "TQC": (TQC, {}),
    "CrossQ": (CrossQ, {"norm": "none"}),
}


@pytest.mark.parametrize("name", LEARNERS)
def test_weights_stay_on_the_unit_sphere_through_learn(name):
    algo, extra = LEARNERS[name]
    model = algo("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, seed=0, policy_kwargs={**TINY, **extra})
    online = sphere_layers(model.actor) + sphere_layers(model.critic)
    start = {n: m.weight.detach().clone() for n, m in online}
    model.learn(400)
    assert np.isfinite(model.logger.name_to_value["train/critic_loss"])
    assert max_row_norm_error(online) < 1e-5
    moved = [(m.weight - start[n]).abs().max().item() for n, m in online]
    assert min(moved) > 1e-3  # the weights did learn: the sphere was left at every step and projected back


LOAD_ACT_TRAIN = """
import sys
import gymnasium as gym
import numpy as np
from stable_baselines3 import SAC
from sb3_large.networks.simbav2 import HypersphericalLinear

model = SAC.load(sys.argv[1], env=gym.make("Pendulum-v1"), device="cpu")
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), deterministic=True)[0])
model.learn(200, reset_num_timesteps=False)  # the optimizers SB3 built on load project too
online = [*model.actor.modules(), *model.critic.modules()]
error = max(float((m.weight.norm(dim=1) - 1).abs().max()) for m in online if isinstance(m, HypersphericalLinear))
print(type(model.policy).__name__, model.num_timesteps, error < 1e-5)
"""


def test_save_load_in_a_fresh_process_gives_the_same_actions_and_keeps_projecting(tmp_path):
    model = sb3.SAC("LargeMlpPolicy", "Pendulum-v1", learning_starts=50, seed=1, policy_kwargs=TINY)
    model.learn(150)
    model.save(tmp_path / "model.zip")
    obs = np.random.default_rng(0).uniform(-1, 1, size=(16, 3)).astype(np.float32)
    np.save(tmp_path / "obs.npy", obs)
    out = run_python(["-c", LOAD_ACT_TRAIN, "model.zip", "obs.npy", "actions.npy"], cwd=tmp_path).stdout
    assert out.split() == ["LargeSACPolicy", "350", "True"]
    assert np.array_equal(np.load(tmp_path / "actions.npy"), model.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(norm="layer"), ValueError, r"norm: unknown value 'layer' for architecture 'simbav2'; allowed: none$"),
        (dict(arch_kwargs={"shift": 0}), ValueError, r"shift: must be a finite number > 0, got 0"),
        (dict(arch_kwargs={"shift": float("inf")}), ValueError, r"shift: must be a finite number > 0, got inf"),
        (dict(arch_kwargs={"expansion": 1.5}), ValueError, r"expansion: must be a positive integer, got 1.5"),
        (dict(arch_kwargs={"dropout": 0.1}), TypeError, r"dropout: architecture 'simbav2' does not take this option"),
    ],
)
def test_bad_options_give_one_clear_error(options, error, match):
    with pytest.raises(error, match=match):
        sb3.SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs={**TINY, **options})


def test_stock_rl_zoo_trains_it_from_a_yaml_entry(tmp_path):
    conf = str(ROOT / "hyperparams" / "sac_large.yml")
    train = ["-m", "rl_zoo3.train", "--algo", "sac", "--env", "Pendulum-v1", "-conf", conf, "-n", "300", "-f", "logs"]
    params = ["-params", "learning_starts:100", "policy_kwargs:dict(arch='simbav2', width=16)"]
    run_python([*train, "--seed", "0", "--eval-freq", "-1", *params], cwd=tmp_path)
    model = sb3.SAC.load(tmp_path / "logs" / "sac" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert model.policy.critic_spec.arch == "simbav2" and model.num_timesteps == 300
    assert max_row_norm_error(sphere_layers(model.actor) + sphere_layers(model.critic)) < 1e-5
