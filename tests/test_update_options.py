"""Update options: the learners' ``compile="update"`` (the whole gradient step compiled) and ``precision="bf16"``,
and the policies' ``precision="bf16"`` (bfloat16 bodies under any algorithm, SB3's own included)."""

import numpy as np
import pytest
import sb3_contrib
import stable_baselines3 as sb3
import torch as th
from stable_baselines3.common.logger import configure
from torch import nn

import sb3_large
from sb3_large.networks.ensemble import EnsembleLinear
from sb3_large.normalization import ObsNormUpdater
from sb3_large.policies import LargeSACPolicy
from sb3_large.precision import low_precision

TINY = dict(width=16)
TINY_OFENET = dict(width=16, ofenet_kwargs=dict(layers=2, growth=4))
# The shipped default's networks (hyperparams/sac_large.yml: LayerNorm MLP; Ant's actor is plain), tiny, with a
# critic wider than the actor and the twin critics stacked; and categorical critics on a residual body with
# observation normalization.
TINY_DEFAULT = dict(
    arch="mlp", norm="layer", actor_net=dict(width=16), critic_net=dict(width=32), ensemble_critics=True
)
TINY_CATEGORICAL = dict(arch="residual", width=16, depth=1, q_distribution=dict(bins=21), normalize_obs=True)
DEFAULT_SAC = dict(ent_coef="auto_0.01", target_entropy=-0.5)
# Large policies under SB3's algorithms: separate and stacked twin critics, TD3's single-output head, TQC's quantiles.
STOCK_BF16_CASES = [
    (sb3.SAC, dict(TINY_DEFAULT, ensemble_critics=False)),
    (sb3.SAC, TINY_DEFAULT),
    (sb3.TD3, TINY),
    (sb3_contrib.TQC, TINY),
]


def filled(algo, policy_kwargs: dict, tmp_path, policy: str = "LargeMlpPolicy", **kwargs):
    """A filled buffer (and an OFENet after a few auxiliary updates on fixed batches), no RL update yet."""
    model = algo(
        policy, "Pendulum-v1", learning_starts=300, batch_size=32, seed=4, policy_kwargs=dict(policy_kwargs), **kwargs
    )
    model.set_logger(configure(str(tmp_path), ["csv"]))
    callback = ObsNormUpdater() if model.policy.obs_norm is not None else None
    model.learn(300, callback=callback)
    ofenet = getattr(model.policy, "ofenet", None)
    np.random.seed(0)
    for _ in range(3 if ofenet is not None else 0):
        batch = model.replay_buffer.sample(32)
        ofenet.update(batch.observations, batch.actions, batch.next_observations)
    return model


def train_seeded(model, steps: int) -> dict[str, float]:
    np.random.seed(1)
    th.manual_seed(1)
    model.train(gradient_steps=steps, batch_size=32)
    return dict(model.logger.name_to_value)


def assert_bf16_close_to_fp32(fp32, bf16) -> None:
    """The first critic losses agree within 0.1%, and ten updates move the weights in nearly the same direction
    (cosine > 0.9) by the same amount (+-5%), but not identically."""
    models = (fp32, bf16)
    before = [th.cat([p.detach().flatten().clone() for p in m.policy.parameters()]) for m in models]
    first = [train_seeded(m, 1) for m in models]
    assert first[1]["train/critic_loss"] == pytest.approx(first[0]["train/critic_loss"], rel=1e-3)
    for model in models:
        model.train(gradient_steps=9, batch_size=32)
    after = [th.cat([p.detach().flatten() for p in m.policy.parameters()]) for m in models]
    assert all(p.dtype == th.float32 for m in models for p in m.policy.parameters())
    moves = [a - b for a, b in zip(after, before, strict=True)]
    assert th.nn.functional.cosine_similarity(moves[0], moves[1], dim=0) > 0.9
    assert moves[1].norm() == pytest.approx(float(moves[0].norm()), rel=0.05)
    assert not th.equal(moves[0], moves[1])


@pytest.mark.compile
@pytest.mark.parametrize(
    "algo, policy_kwargs, algo_kwargs",
    [
        (sb3_large.SAC, TINY_OFENET, {}),
        (sb3_large.TD3, TINY, {}),
        (sb3_large.SAC, TINY_DEFAULT, DEFAULT_SAC),
        (sb3_large.SAC, TINY_CATEGORICAL, {}),
    ],
    ids=["sac-ofenet", "td3", "sac-default-stacked", "sac-categorical-residual"],
)
def test_compiled_update_equals_eager(algo, policy_kwargs, algo_kwargs, tmp_path):
    eager = filled(algo, policy_kwargs, tmp_path / "eager", **algo_kwargs)
    compiled = filled(algo, policy_kwargs, tmp_path / "compiled", compile="update", **algo_kwargs)
    assert compiled._update_step != compiled._update  # bound methods: equal when they are the same method
    # Inductor draws its own random numbers unless told to call torch's: same noise, so same updates.
    with th._inductor.config.patch(fallback_random=True):
        logged = [train_seeded(model, 6) for model in (eager, compiled)]
    for (name, a), b in zip(eager.policy.state_dict().items(), compiled.policy.state_dict().values(), strict=True):
        assert th.allclose(a.float(), b.float(), atol=1e-5), name
    assert logged[0].keys() == logged[1].keys()
    for key, value in logged[0].items():
        assert value == pytest.approx(logged[1][key], rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize(
    "algo, policy_kwargs",
    [(sb3_large.SAC, TINY), (sb3_large.SAC, TINY_OFENET), (sb3_large.TD3, TINY_OFENET), (sb3_large.SAC, TINY_DEFAULT)],
    ids=["sac", "sac-ofenet", "td3-ofenet", "sac-default-stacked"],
)
def test_bf16_updates_stay_close_to_fp32(algo, policy_kwargs, tmp_path):
    """bfloat16 forward passes (8 mantissa bits), fp32 weights, losses and targets: the first critic losses agree
    within 0.1%, and ten updates move the weights in nearly the same direction (cosine > 0.9; measured 0.96-0.99)
    by the same amount (+-5%), but not identically (the forward passes did run in bfloat16)."""
    models = [filled(algo, policy_kwargs, tmp_path / p, precision=p) for p in ("fp32", "bf16")]
    assert_bf16_close_to_fp32(*models)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(compile="graph"), ValueError, "compile: unknown value 'graph'; allowed: None, update"),
        (dict(compile=True), ValueError, "compile: unknown value True; allowed: None, update"),
        (dict(precision="fp16"), ValueError, "precision: unknown value 'fp16'; allowed: fp32, bf16"),
    ],
)
@pytest.mark.parametrize("algo", [sb3_large.SAC, sb3_large.TD3])
def test_bad_options_are_refused_when_the_model_is_built(algo, kwargs, error, match):
    with pytest.raises(error, match=match):
        algo("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY), **kwargs)


def test_options_are_saved_and_files_still_load_with_stock_sb3(tmp_path):
    model = sb3_large.SAC(
        "LargeMlpPolicy", "Pendulum-v1", learning_starts=50, policy_kwargs=dict(TINY), precision="bf16"
    )
    model.learn(60)
    model.save(tmp_path / "model.zip")
    loaded = sb3_large.SAC.load(tmp_path / "model.zip", env=model.get_env())
    assert (loaded.compile, loaded.precision) == (None, "bf16")
    loaded.learn(20, reset_num_timesteps=False)
    with pytest.raises(ValueError, match="precision: unknown value 'fp8'"):
        sb3_large.SAC.load(tmp_path / "model.zip", precision="fp8")
    assert isinstance(sb3.SAC.load(tmp_path / "model.zip"), sb3.SAC)


# The policies' precision option: what stock SB3 (and RL Zoo, through a YAML's policy_kwargs) trains.
@pytest.mark.parametrize(
    "algo, policy_kwargs",
    [*STOCK_BF16_CASES, (sb3_large.SAC, dict(TINY_DEFAULT, ensemble_critics=False))],
    ids=["sb3-sac-default", "sb3-sac-default-stacked", "sb3-td3", "tqc", "sb3_large-sac-default"],
)
def test_bf16_policy_updates_stay_close_to_fp32(algo, policy_kwargs, tmp_path):
    """Same bounds as the learners' bf16: the first critic losses within 0.1%, ten updates in nearly the same
    direction by nearly the same amount, not identical."""
    algo_kwargs = DEFAULT_SAC if algo in (sb3.SAC, sb3_large.SAC) else {}
    models = [filled(algo, dict(policy_kwargs, precision=p), tmp_path / p, **algo_kwargs) for p in ("fp32", "bf16")]
    assert [m.policy.precision for m in models] == ["fp32", "bf16"]
    assert_bf16_close_to_fp32(*models)


def output_dtypes(network: nn.Module, run) -> dict[str, th.dtype]:
    """The dtype of every Linear layer's output (stacked ones included) while ``run()`` executes."""
    dtypes: dict[str, th.dtype] = {}
    hooks = [
        module.register_forward_hook(lambda _m, _i, out, name=name: dtypes.__setitem__(name, out.dtype))
        for name, module in network.named_modules()
        if isinstance(module, nn.Linear | EnsembleLinear)
    ]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return dtypes


def assert_bodies_bf16_and_outputs_float32(critic_dtypes: dict[str, th.dtype]) -> None:
    """Every Q network's body layers answered in bfloat16, its output layer (``qfN.1`` / ``q_ensemble.net.1``) in
    float32."""
    outputs = {name: d for name, d in critic_dtypes.items() if name.endswith(".1") and name.count(".") <= 2}
    bodies = {name: d for name, d in critic_dtypes.items() if name not in outputs}
    assert outputs and set(outputs.values()) == {th.float32}, critic_dtypes
    assert bodies and set(bodies.values()) == {th.bfloat16}, critic_dtypes


def set_output_bias(critic: nn.Module, value: float) -> None:
    """Every Q network outputs ``value`` whatever its input: zero output weights, bias ``value``."""
    with th.no_grad():
        for name, module in critic.named_modules():
            if isinstance(module, nn.Linear | EnsembleLinear) and name.endswith(".1") and name.count(".") <= 2:
                module.weight.zero_()
                module.bias.fill_(value)


@pytest.mark.parametrize("algo, policy_kwargs", STOCK_BF16_CASES, ids=["sac-separate", "sac-stacked", "td3", "tqc"])
@pytest.mark.parametrize("where", ["policy", "learner"])
def test_bf16_q_values_keep_float32_precision(algo, policy_kwargs, where):
    """A Q value of 300.7 stays 300.7 (bfloat16's 8-bit mantissa would give 300), whether the policy's
    ``precision`` or a learner's autocast (``sb3_large.SAC(precision="bf16")``) turns bfloat16 on."""
    kwargs = dict(policy_kwargs, precision="bf16") if where == "policy" else dict(policy_kwargs)
    model = algo("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=kwargs)
    set_output_bias(model.critic, 300.7)
    obs, actions = th.randn(4, 3), th.rand(4, 1)
    with low_precision("cpu", "bf16" if where == "learner" else "fp32"):
        q_values = model.critic(obs, actions)
        q1 = model.critic.q1_forward(obs, actions) if algo is sb3.TD3 else None
    for q in (*q_values, *([] if q1 is None else [q1])):
        assert q.dtype == th.float32
        np.testing.assert_allclose(q.detach().numpy(), 300.7, rtol=1e-6)


def test_bf16_categorical_logits_keep_float32_precision():
    model = sb3_large.SAC(
        "LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY_CATEGORICAL, precision="bf16"), learning_starts=10
    )
    set_output_bias(model.critic, 0.0)
    with th.no_grad():
        for q_net in model.critic.q_networks:
            q_net[1].bias.copy_(th.linspace(0.0, 1.0, 21) + 100.0)  # logits bfloat16 would round to 100
    logits = model.critic.logits(th.randn(4, 3), th.rand(4, 1))
    for values in logits:
        assert values.dtype == th.float32
        np.testing.assert_allclose(values[0].detach().numpy(), np.linspace(0.0, 1.0, 21) + 100.0, rtol=1e-6)


def test_td3_actor_head_runs_in_float32_under_a_learners_autocast():
    model = sb3.TD3("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY, arch="mlp"))
    out = {}
    with low_precision("cpu", "bf16"):
        dtypes = output_dtypes(model.actor, lambda: out.update(a=model.actor(th.randn(5, 3))))
    assert dtypes["mu.0.0.0"] == th.bfloat16 and dtypes["mu.1"] == th.float32 and out["a"].dtype == th.float32


@pytest.mark.parametrize("algo", [sb3_large.SAC, sb3_large.TD3])
def test_learners_refuse_bf16_for_stock_policies_alike(algo):
    match = "precision: 'bf16' needs a large policy .*, whose output layers run in float32; (SAC|TD3)Policy has none"
    with pytest.raises(ValueError, match=match):
        algo("MlpPolicy", "Pendulum-v1", precision="bf16")


@pytest.mark.parametrize("ensemble", [False, True], ids=["separate", "stacked"])
def test_bf16_sac_policy_runs_the_bodies_in_bfloat16_and_answers_in_float32(ensemble):
    model = sb3.SAC(
        "LargeMlpPolicy",
        "Pendulum-v1",
        policy_kwargs=dict(TINY_DEFAULT, ensemble_critics=ensemble, precision="bf16"),
    )
    obs, actions = th.zeros(5, 3), th.zeros(5, 1)
    outputs = {}
    actor_dtypes = output_dtypes(model.actor, lambda: outputs.update(pi=model.actor.action_log_prob(obs)))
    critic_dtypes = output_dtypes(model.critic, lambda: outputs.update(q=model.critic(obs, actions)))
    body = {name: d for name, d in actor_dtypes.items() if name.startswith("latent_pi.")}
    assert body and set(body.values()) == {th.bfloat16}
    assert (actor_dtypes["mu"], actor_dtypes["log_std"]) == (th.float32, th.float32)  # the squashed Gaussian's heads
    assert_bodies_bf16_and_outputs_float32(critic_dtypes)
    assert all(t.dtype == th.float32 for t in (*outputs["pi"], *outputs["q"]))
    # SB3's own train() reaches every parameter through the bfloat16 passes.
    model.learn(150)
    model.train(gradient_steps=1, batch_size=32)
    for network in (model.actor, model.critic):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in network.parameters()), network


def test_bf16_td3_actor_runs_its_head_in_float32_and_q1_answers_in_float32():
    model = sb3.TD3("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY, arch="mlp", precision="bf16"))
    obs = th.randn(5, 3)
    out = {}
    dtypes = output_dtypes(model.actor, lambda: out.update(a=model.actor(obs)))
    assert dtypes["mu.0.0.0"] == dtypes["mu.0.1.0"] == th.bfloat16 and dtypes["mu.1"] == th.float32
    critic_dtypes = output_dtypes(model.critic, lambda: out.update(q1=model.critic.q1_forward(obs, out["a"])))
    assert_bodies_bf16_and_outputs_float32(critic_dtypes)
    assert out["a"].dtype == out["q1"].dtype == th.float32


def test_bf16_tqc_critics_answer_in_float32():
    model = sb3_contrib.TQC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY, precision="bf16"))
    out = {}
    dtypes = output_dtypes(model.critic, lambda: out.update(q=model.critic(th.zeros(5, 3), th.zeros(5, 1))))
    assert_bodies_bf16_and_outputs_float32(dtypes)
    assert out["q"].shape == (5, 2, 25) and out["q"].dtype == th.float32


def test_bf16_policy_reaches_the_td3_learners_ofenet_path(tmp_path):
    """``sb3_large.TD3`` on OFENet features computes the actions from ``z_s`` itself: the bodies still run in bf16."""
    model = filled(sb3_large.TD3, dict(TINY_OFENET, precision="bf16"), tmp_path)
    assert model.precision == "fp32"  # the learner's own option is off: only the policy's is on
    dtypes = {}
    for name in ("actor", "actor_target"):
        network = getattr(model, name)
        found = output_dtypes(network, lambda: model.train(gradient_steps=2, batch_size=32))
        dtypes.update({f"{name}.{layer}": dtype for layer, dtype in found.items()})
    assert {d for name, d in dtypes.items() if ".mu.0." in name} == {th.bfloat16}
    assert dtypes["actor.mu.1"] == dtypes["actor_target.mu.1"] == th.float32


def test_compiled_td3_actor_compiles_the_body_a_bf16_actor_calls():
    model = sb3.TD3("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY, precision="bf16", compile=True))
    assert "forward" in vars(model.actor.mu[0]) and "forward" not in vars(model.actor.mu)


def test_bf16_policy_is_saved_and_loaded_and_fp32_files_do_not_name_it(tmp_path):
    model = sb3.SAC("LargeMlpPolicy", "Pendulum-v1", learning_starts=50, policy_kwargs=dict(TINY, precision="bf16"))
    model.learn(60)
    model.save(tmp_path / "model.zip")
    loaded = sb3.SAC.load(tmp_path / "model.zip")
    assert (loaded.policy.precision, loaded.actor.precision, loaded.critic.precision) == ("bf16",) * 3
    obs = np.zeros((4, 3), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    model.policy.save(tmp_path / "policy.pth")
    assert LargeSACPolicy.load(tmp_path / "policy.pth").critic.precision == "bf16"
    # Written only when on: an fp32 policy's file also loads in versions that predate the option.
    fp32 = sb3.SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY))
    fp32.policy.save(tmp_path / "fp32.pth")
    saved = th.load(tmp_path / "fp32.pth", weights_only=False)["data"]
    assert "precision" not in saved and LargeSACPolicy.load(tmp_path / "fp32.pth").precision == "fp32"


@pytest.mark.parametrize(
    "algo, precision, match",
    [
        (sb3.SAC, "fp16", "precision: unknown value 'fp16'; allowed: fp32, bf16"),
        (sb3.TD3, "bfloat16", "precision: unknown value 'bfloat16'; allowed: fp32, bf16"),
        (sb3_contrib.CrossQ, "bf16", "precision: unknown value 'bf16'; allowed: fp32$"),
    ],
)
def test_bad_policy_precision_is_refused_before_any_network_is_built(algo, precision, match):
    with pytest.raises(ValueError, match=match):
        algo("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY, precision=precision))
