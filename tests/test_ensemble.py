"""Ensemble critics, compiled networks and files saved before them: same math, loadable both ways."""

import numpy as np
import pytest
import stable_baselines3 as sb3
import torch as th
from torch import nn

import sb3_large
from sb3_large.networks.ensemble import QEnsemble

from .conftest import ROOT, run_python

BODIES = {
    "mlp": dict(arch="mlp", width=24),
    "densenet-batchnorm": dict(arch="densenet", width=24, norm="batch"),
    "d2rl-layernorm": dict(arch="d2rl", width=24, depth=3, norm="layer"),
    "residual": dict(arch="residual", width=24, depth=1),
    # hyperparams/sac_large.yml's networks: LayerNorm MLP, critic wider than the actor
    "mlp-layernorm": dict(arch="mlp", norm="layer", actor_net=dict(width=16), critic_net=dict(width=24)),
}


def pendulum(algo, seed: int = 0, **policy_kwargs):
    model = algo(
        "LargeMlpPolicy", "Pendulum-v1", learning_starts=200, batch_size=64, seed=seed, policy_kwargs=policy_kwargs
    )
    model.learn(200)
    return model


def train_seeded(model, steps: int) -> None:
    np.random.seed(1)
    th.manual_seed(1)
    model.train(gradient_steps=steps, batch_size=64)


def member_state(critic) -> list[dict]:
    """Each Q network's tensors as separate-member state dicts, whichever form the critic has."""
    state = {k: v for k, v in critic.state_dict().items() if k.startswith(("qf", "q_ensemble"))}
    if critic.q_ensemble is None:
        return [{k[4:]: v for k, v in state.items() if k.startswith(f"qf{i}.")} for i in range(critic.n_critics)]
    return [
        {k[len("q_ensemble.net.") :]: v if v.dim() == 0 else v[i] for k, v in state.items()}
        for i in range(critic.n_critics)
    ]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("algo", [sb3_large.SAC, sb3.TD3], ids=["fast-sac", "sb3-td3"])
def test_ensemble_update_equals_separate_critics(algo, body):
    # SGD: Adam's first step moves every weight by +/- lr whatever its gradient's size, so rounding noise in
    # gradients that are zero in exact arithmetic (a bias under BatchNorm) would show as lr-sized differences.
    sgd = dict(optimizer_class=th.optim.SGD)
    separate = pendulum(algo, **BODIES[body], **sgd)
    stacked = pendulum(algo, **BODIES[body], **sgd, ensemble_critics=True)
    assert isinstance(stacked.critic.q_ensemble, QEnsemble) and separate.critic.q_ensemble is None
    for a, b in zip(member_state(separate.critic), member_state(stacked.critic), strict=True):
        assert a.keys() == b.keys() and all(th.equal(a[k], b[k]) for k in a)  # same initial weights
    obs, actions = th.randn(32, 3), th.rand(32, 1) * 2 - 1
    for q_sep, q_ens in zip(separate.critic(obs, actions), stacked.critic(obs, actions), strict=True):
        assert q_ens.shape == (32, 1) and th.allclose(q_sep, q_ens, atol=1e-5)
    train_seeded(separate, 3)
    train_seeded(stacked, 3)
    for a, b in zip(member_state(separate.critic), member_state(stacked.critic), strict=True):
        # The stacked BatchNorm keeps one step counter (unused with a momentum); TD3's actor loss runs qf0 only.
        tensors = [k for k in a if not k.endswith("num_batches_tracked")]
        assert all(th.allclose(a[k], b[k], atol=1e-5) for k in tensors)
    for a, b in zip(separate.actor.parameters(), stacked.actor.parameters(), strict=True):
        assert th.allclose(a, b, atol=1e-5)


def test_state_dicts_convert_between_forms():
    separate = pendulum(sb3.SAC, arch="densenet", width=16, norm="batch")
    stacked = pendulum(sb3.SAC, seed=5, arch="densenet", width=16, norm="batch", ensemble_critics=True)
    stacked.policy.load_state_dict(separate.policy.state_dict())
    back = pendulum(sb3.SAC, seed=6, arch="densenet", width=16, norm="batch")
    back.policy.load_state_dict(stacked.policy.state_dict())
    for a, b in zip(separate.policy.state_dict().values(), back.policy.state_dict().values(), strict=True):
        assert th.equal(a, b)


@pytest.mark.parametrize("saved, loaded", [(True, False), (False, True)])
def test_zip_loads_into_the_other_form(saved, loaded, tmp_path):
    """Weights and Adam moments cross between the forms: same actions, same next update."""
    model = pendulum(sb3_large.SAC, arch="densenet", width=16, norm="layer", ensemble_critics=saved)
    model.train(gradient_steps=5, batch_size=64)
    model.save(tmp_path / "model.zip")
    kwargs = {**model.policy_kwargs, "ensemble_critics": loaded}
    other = sb3_large.SAC.load(tmp_path / "model.zip", custom_objects={"policy_kwargs": kwargs})
    assert (other.critic.q_ensemble is not None) == loaded
    other.replay_buffer = model.replay_buffer
    other.set_logger(model.logger)
    train_seeded(model, 2)
    train_seeded(other, 2)
    for q_a, q_b in zip(
        model.critic(th.ones(4, 3), th.zeros(4, 1)), other.critic(th.ones(4, 3), th.zeros(4, 1)), strict=True
    ):
        assert th.allclose(q_a, q_b, atol=1e-5)


def test_layer_without_stacked_version_stays_separate():
    model = pendulum(sb3.SAC, arch="mlp", width=8, activation=nn.PReLU, ensemble_critics=True)
    assert model.critic.q_ensemble is None and hasattr(model.critic, "qf1")
    model.train(gradient_steps=2, batch_size=16)


@pytest.mark.parametrize(
    "algo, body",
    [
        (sb3_large.SAC, dict(arch="densenet", width=16)),
        (sb3_large.TD3, dict(arch="densenet", width=16)),
        # The RL Zoo path: stock SAC with the policy's compile option. SGD: the compiled LayerNorm backward sums in
        # another order, and Adam's first steps turn rounding-sized gradients into steps of up to lr.
        (sb3.SAC, dict(BODIES["mlp-layernorm"], optimizer_class=th.optim.SGD)),
    ],
    ids=["sac", "td3", "stock-sac-layernorm"],
)
def test_compiled_equals_eager(algo, body):
    eager = pendulum(algo, **body)
    compiled = pendulum(algo, **body, compile=True)
    train_seeded(eager, 3)
    train_seeded(compiled, 3)
    for (name, a), b in zip(eager.policy.state_dict().items(), compiled.policy.state_dict().values(), strict=True):
        assert th.allclose(a.float(), b.float(), atol=1e-5), name
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    assert np.allclose(eager.predict(obs, deterministic=True)[0], compiled.predict(obs, deterministic=True)[0])


def test_bad_switches():
    with pytest.raises(TypeError, match="ensemble_critics: must be True or False"):
        sb3.SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=8, ensemble_critics="yes"))
    with pytest.raises(TypeError, match="compile: must be True or False"):
        sb3.SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=8, compile=1))


def test_files_saved_by_version_0_1_load(tmp_path):
    """Zips written by sb3-large 0.1 (separate critics, plain Adam): load, act identically, train on, in
    either critic form, in a fresh process."""
    data = ROOT / "tests" / "data"
    script = f"""
import numpy as np, gymnasium as gym, stable_baselines3 as sb3, sb3_large
from sb3_large.ofenet import OFENetTrainer
expected = np.load("{data / "v0_1_actions.npz"}")
for name, algo, extra, callback in [("sac_densenet", sb3_large.SAC, {{}}, None),
                                    ("sac_densenet", sb3.SAC, {{"ensemble_critics": True}}, None),
                                    ("td3_ofenet", sb3_large.TD3, {{}}, OFENetTrainer())]:
    key = "sac" if name == "sac_densenet" else "td3_ofenet"
    path = "{data}/" + name + "_v0_1.zip"
    kwargs = {{**algo.load(path).policy_kwargs, **extra}}
    model = algo.load(path, env=gym.make("Pendulum-v1"), custom_objects={{"policy_kwargs": kwargs}})
    assert np.allclose(model.predict(expected["obs"], deterministic=True)[0], expected[key], atol=1e-6), name
    model.learn(120, reset_num_timesteps=False, callback=callback)
"""
    run_python(["-c", script], cwd=tmp_path)
