"""The learners' bounded return scale (``return_bound``) and SAC's ``target_std`` and ``actor_update_interval``."""

import math
import re

import numpy as np
import pytest
import stable_baselines3 as sb3
import torch as th
from stable_baselines3.common.logger import configure

import sb3_large
from sb3_large.hub import load_pretrained, save_pretrained
from sb3_large.learners.sac import target_entropy_of_std
from sb3_large.return_scale import ReturnScale

TINY = dict(arch="mlp", norm="layer", width=16)
CATEGORICAL = dict(TINY, q_distribution=dict(bins=21, low=-5.0, high=5.0, transform="none"))


def test_the_scale_is_the_returns_std_or_what_keeps_them_within_the_bound():
    scale = ReturnScale(bound=5.0, gamma=0.5, n_envs=2)
    assert scale.scale == 1.0  # nothing seen yet
    scale.update(np.array([2.0, 4.0]), np.array([False, True]))
    scale.update(np.array([2.0, 4.0]), np.array([False, False]))
    # Returns: env 0 2, then 0.5 * 2 + 2 = 3; env 1 4, then (after its episode ended) 4 again.
    assert np.allclose(scale.returns, [3.0, 4.0])
    values = np.array([2.0, 4.0, 3.0, 4.0])
    assert (scale.count, scale.max_abs) == (4.0, 4.0)
    assert scale.mean == pytest.approx(values.mean()) and scale.var == pytest.approx(values.var())
    assert scale.scale == pytest.approx(math.sqrt(values.var() + 1e-8))  # std 0.83 > 4 / 5
    tight = ReturnScale(bound=1.0, gamma=0.5, n_envs=2)
    for rewards, dones in ((np.array([2.0, 4.0]), np.array([False, True])), (np.array([2.0, 4.0]), np.zeros(2))):
        tight.update(rewards, dones)
    assert tight.scale == pytest.approx(4.0)  # max |G| / bound: every scaled return within [-1, 1]
    tight.update(np.array([1.0, 1.0, 1.0]), np.zeros(3))  # another number of envs: their sums start afresh
    assert np.allclose(tight.returns, [1.0, 1.0, 1.0])


def test_the_statistics_round_trip_and_bad_bounds_are_named():
    scale = ReturnScale(bound=5.0, gamma=0.99, n_envs=1)
    for reward in (1.0, -3.0, 0.5):
        scale.update(np.array([reward]), np.array([False]))
    copy = ReturnScale(bound=5.0, gamma=0.99, n_envs=1)
    copy.load_statistics(scale.statistics())
    assert copy.scale == scale.scale and copy.statistics() == scale.statistics()
    for bad in (0.0, -1.0, float("inf"), "5"):
        with pytest.raises(ValueError, match="return_bound: must be a finite number > 0"):
            sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", return_bound=bad)


def filled_model(tmp_path, **kwargs) -> sb3_large.SAC:
    model = sb3_large.SAC(
        "LargeMlpPolicy",
        "Pendulum-v1",
        policy_kwargs=dict(CATEGORICAL),
        learning_starts=100,
        batch_size=32,
        seed=0,
        **kwargs,
    )
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(300)
    return model


def test_the_learner_trains_on_rewards_divided_by_the_scale_of_what_it_collected(tmp_path):
    model = filled_model(tmp_path, return_bound=5.0)
    scale = model.return_scale
    assert scale is not None and scale.count == 300  # every collected step, random ones included
    # Pendulum's rewards are in [-16.3, 0]: its discounted returns are far outside [-5, 5].
    assert scale.max_abs > 100 and scale.scale == max(math.sqrt(scale.var + 1e-8), scale.max_abs / 5.0)
    assert scale.max_abs / scale.scale <= 5.0
    np.random.seed(3)
    raw = model.replay_buffer.sample(64).rewards
    np.random.seed(3)
    assert th.allclose(model._sample(64).rewards, raw / scale.scale)
    assert sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1").return_scale is None  # off by default


def test_the_return_scale_is_saved_and_loaded_by_sb3_and_the_hub(tmp_path):
    model = filled_model(tmp_path, return_bound=5.0)
    model.save(tmp_path / "model.zip")
    for cls in (sb3_large.SAC, sb3.SAC):  # stock SB3 loads it too (and acts without it)
        loaded = cls.load(tmp_path / "model.zip", env=model.get_env())
        assert loaded.return_scale.statistics() == model.return_scale.statistics()
        assert np.array_equal(loaded.return_scale.returns, model.return_scale.returns)
    obs = model.get_env().reset()
    assert loaded.predict(obs, deterministic=True)[0].shape == (1, 1)  # stock SAC acts without the scale
    hub = load_pretrained(save_pretrained(model, tmp_path / "hub", env_id="Pendulum-v1"))
    assert isinstance(hub, sb3_large.SAC) and hub.return_bound == 5.0
    assert hub.return_scale.statistics() == model.return_scale.statistics()
    # A stock SAC that loaded it keeps the attribute, takes no return_bound: its Hub folder has no statistics.
    stock = load_pretrained(save_pretrained(loaded, tmp_path / "stock", env_id="Pendulum-v1"))
    assert type(stock) is sb3.SAC and getattr(stock, "return_scale", None) is None


def test_load_can_change_or_turn_off_the_return_bound_and_resets_restart_the_sums(tmp_path):
    model = filled_model(tmp_path, return_bound=5.0)
    model.save(tmp_path / "model.zip")
    env = model.get_env()
    assert sb3_large.SAC.load(tmp_path / "model.zip", env=env, return_bound=None).return_scale is None
    wider = sb3_large.SAC.load(tmp_path / "model.zip", env=env, return_bound=10.0)
    assert wider.return_scale.bound == 10.0 and wider.return_scale.count == model.return_scale.count
    assert sb3_large.SAC.load(tmp_path / "model.zip", env=env, gamma=0.9).return_scale.count == 0  # another G
    with pytest.raises(ValueError, match="return_bound: must be a finite number > 0, got -1"):
        sb3_large.SAC.load(tmp_path / "model.zip", env=env, return_bound=-1)
    assert np.any(model.return_scale.returns != 0)  # mid-episode
    with pytest.warns(UserWarning, match="no gradient step will run"):
        model.learn(1)  # reset_num_timesteps=True: SB3 resets the env, so every episode's sum starts again
    assert np.allclose(model.return_scale.returns, model.replay_buffer.rewards[model.replay_buffer.pos - 1])


def test_a_hub_config_with_statistics_and_no_bound_is_refused(tmp_path):
    import json

    folder = save_pretrained(filled_model(tmp_path, return_bound=5.0), tmp_path / "hub", env_id="Pendulum-v1")
    config_path = folder / "sb3_large_config.json"
    config = json.loads(config_path.read_text())
    config["algorithm_kwargs"]["return_bound"] = None
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="return_scale: statistics of a return scale, but .*return_bound is null"):
        load_pretrained(folder)


def test_target_std_sets_the_entropy_of_a_gaussian_of_that_std():
    model = sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY), target_std=0.15)
    expected = 0.5 * math.log(2 * math.pi * math.e * 0.15**2)
    assert model.target_entropy == pytest.approx(expected) == pytest.approx(-0.4782, abs=1e-4)
    assert target_entropy_of_std(0.15, 6) == pytest.approx(6 * expected)
    with pytest.raises(ValueError, match="target_std: 0.15 sets the target entropy, and target_entropy is -1.0"):
        sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", target_std=0.15, target_entropy=-1.0)
    with pytest.raises(ValueError, match="target_std: must be a finite number > 0, got 0"):
        sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", target_std=0)


def test_target_std_survives_save_and_load(tmp_path):
    model = sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY), target_std=0.3)
    model.save(tmp_path / "model.zip")
    for cls in (sb3_large.SAC, sb3.SAC):
        assert cls.load(tmp_path / "model.zip").target_entropy == pytest.approx(target_entropy_of_std(0.3, 1))


def flat(module: th.nn.Module) -> th.Tensor:
    return th.cat([p.detach().flatten().clone() for p in module.parameters()])


def test_the_actor_and_entropy_coefficient_step_on_every_kth_update_only(tmp_path):
    model = filled_model(tmp_path, actor_update_interval=3)
    changed = []
    for _ in range(6):
        before = [flat(model.actor), flat(model.critic), model.log_ent_coef.detach().clone()]
        model.train(gradient_steps=1, batch_size=32)
        after = [flat(model.actor), flat(model.critic), model.log_ent_coef.detach()]
        changed.append([not th.equal(b, a) for b, a in zip(before, after, strict=True)])
    start = model._n_updates - 6
    expected = [(start + i) % 3 == 0 for i in range(6)]
    assert [c[0] for c in changed] == expected and [c[2] for c in changed] == expected
    assert all(c[1] for c in changed)  # the critics every time
    # A train() call whose only step skips the actor logs no actor loss; one of 3 steps runs it once, and logs it.
    while model._n_updates % 3 == 0:
        model.train(gradient_steps=1, batch_size=32)
    model.logger.dump(0)
    model.train(gradient_steps=1, batch_size=32)
    assert "train/actor_loss" not in model.logger.name_to_value and "train/critic_loss" in model.logger.name_to_value
    model.train(gradient_steps=3, batch_size=32)
    assert "train/actor_loss" in model.logger.name_to_value


def test_the_actor_cycle_goes_on_across_save_and_load(tmp_path):
    model = filled_model(tmp_path, actor_update_interval=2)
    model.train(gradient_steps=1, batch_size=32)
    model.save(tmp_path / "model.zip")
    loaded = sb3_large.SAC.load(tmp_path / "model.zip")
    assert (loaded.actor_update_interval, loaded._n_updates) == (2, model._n_updates)
    loaded.set_logger(configure(str(tmp_path / "loaded"), ["csv"]))
    loaded.replay_buffer = model.replay_buffer
    before = flat(loaded.actor)
    loaded.train(gradient_steps=1, batch_size=32)
    assert th.equal(before, flat(loaded.actor)) == (model._n_updates % 2 != 0)


def test_bad_options_are_named_when_built_and_when_loaded(tmp_path):
    with pytest.raises(ValueError, match="actor_update_interval: must be a positive integer, got 0"):
        sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", actor_update_interval=0)
    sb3_large.SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY), target_std=0.3).save(
        tmp_path / "model.zip"
    )
    with pytest.raises(ValueError, match="actor_update_interval: must be a positive integer, got 0"):
        sb3_large.SAC.load(tmp_path / "model.zip", actor_update_interval=0)
    with pytest.raises(ValueError, match="target_std: must be a finite number > 0, got -1.0"):
        sb3_large.SAC.load(tmp_path / "model.zip", target_std=-1.0)
    expected = (
        f"target_std: 0.3 sets the target entropy to {target_entropy_of_std(0.3, 1):.4g}, and target_entropy is -3.0"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        sb3_large.SAC.load(tmp_path / "model.zip", target_entropy=-3.0)
    assert sb3_large.SAC.load(tmp_path / "model.zip", target_std=None, target_entropy=-3.0).target_entropy == -3.0


@pytest.mark.parametrize("algo", [sb3_large.SAC, sb3_large.TD3])
def test_train_takes_its_steps_on_the_scaled_rewards(algo, tmp_path):
    """One gradient step on rewards divided by a scale of 2 is the step of a model whose buffer holds half the
    rewards and that scales nothing."""
    models = []
    for bound in (5.0, None):
        model = algo("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY), return_bound=bound, seed=0)
        model.set_logger(configure(str(tmp_path / str(bound)), ["csv"]))
        model.learn(100)  # random steps only: no update yet, the same buffer for both
        models.append(model)
    scaled, plain = models
    scaled.return_scale.count, scaled.return_scale.var, scaled.return_scale.max_abs = 1.0, 4.0 - 1e-8, 0.0
    assert scaled.return_scale.scale == pytest.approx(2.0)
    plain.replay_buffer.rewards[:] = scaled.replay_buffer.rewards / 2.0
    plain.policy.load_state_dict(scaled.policy.state_dict())
    for model in models:
        th.manual_seed(1)
        np.random.seed(1)
        model.train(gradient_steps=1, batch_size=32)
    assert th.allclose(flat(scaled.critic), flat(plain.critic), atol=1e-6)
