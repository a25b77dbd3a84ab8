"""Running observation normalization inside the policy (``normalize_obs``) and its ``ObsNormUpdater``."""

import io

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from sb3_contrib import TQC
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.apex import ApeXCollector
from sb3_large.apex.worker import ActorWorker, WorkerSpec, acting_weights
from sb3_large.hub import load_pretrained, save_pretrained
from sb3_large.normalization import NormalizedFeatures, ObsNormUpdater, RunningObsNorm
from sb3_large.ofenet import OFENetTrainer

from .conftest import run_python
from .test_apex import StopWhen

MEAN, STD, DIM = 5.0, 3.0, 4


class GaussianObs(gym.Env):
    """Observations drawn i.i.d. from N(5, 3^2) per entry, whatever the action: a stream of known statistics."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (DIM,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action):
        self.t += 1
        return self._draw(), 0.0, False, self.t >= 50, {}

    def _draw(self) -> np.ndarray:
        return self.np_random.normal(MEAN, STD, DIM).astype(np.float32)


def make(algo=SAC, env=None, **policy_kwargs):
    kwargs = {"width": 16, "normalize_obs": True, **policy_kwargs}
    return algo("LargeMlpPolicy", env or GaussianObs(), seed=0, learning_starts=100, policy_kwargs=kwargs)


def stats(model) -> dict[str, th.Tensor]:
    return {k: v.clone() for k, v in model.policy.obs_norm.state_dict().items()}


def assert_same(a: dict[str, th.Tensor], b: dict[str, th.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert th.equal(a[k], b[k]), k


def test_statistics_are_those_of_the_whole_stream_and_normalize_it():
    rng = np.random.default_rng(0)
    stream = rng.normal(MEAN, STD, size=(20_000, DIM)).astype(np.float32)
    norm = RunningObsNorm(DIM, clip=None)
    start = 0
    for size in (1, 7, 500, 1, 3000, 16_491):  # uneven batches, single observations included
        norm.update(th.as_tensor(stream[start : start + size]))
        start += size
    assert start == len(stream) and int(norm.count) == len(stream)
    np.testing.assert_allclose(norm.mean.numpy(), stream.mean(0, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(norm.var.numpy(), stream.var(0, dtype=np.float64), rtol=1e-5)
    normalized = norm(th.as_tensor(stream)).numpy()
    np.testing.assert_allclose(normalized.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(0), 1.0, atol=1e-5)
    # clipping bounds every entry; without clipping a far observation keeps its value
    assert float(RunningObsNorm(DIM, clip=2.0)(th.full((1, DIM), 1e6)).max()) == 2.0
    assert float(norm(th.full((1, DIM), MEAN + 100 * STD)).min()) > 90


def test_the_policy_reads_normalized_observations_from_the_collected_stream():
    """A random warm-up (no RL update) on a N(5, 3^2) stream: the networks' inputs have mean ~0, std ~1."""
    model = make()
    model.learning_starts = 1000
    model.learn(1000, callback=ObsNormUpdater())
    policy, buffer = model.policy, model.replay_buffer
    # exactly the observations the env returned at each step: the stored ones after the first, and the last
    seen = np.concatenate([buffer.observations[1:1000, 0], model._last_obs])
    assert int(policy.obs_norm.count) == 1000 == len(seen)
    np.testing.assert_allclose(policy.obs_norm.mean.numpy(), seen.mean(0, dtype=np.float64), rtol=1e-5)
    np.testing.assert_allclose(policy.obs_norm.var.numpy(), seen.var(0, dtype=np.float64), rtol=1e-4)

    fresh = th.as_tensor(np.random.default_rng(1).normal(MEAN, STD, size=(5000, DIM)), dtype=th.float32)
    for name in ("actor", "critic", "critic_target"):
        extractor = getattr(policy, name).features_extractor
        assert isinstance(extractor, NormalizedFeatures)
        assert extractor.normalize.__self__ is policy.obs_norm  # one set of statistics, targets included
        inputs = extractor(preprocess_obs(fresh, policy.observation_space)).numpy()
        np.testing.assert_allclose(inputs.mean(0), 0.0, atol=0.15)
        np.testing.assert_allclose(inputs.std(0), 1.0, atol=0.1)


def test_under_vecnormalize_the_statistics_are_of_what_the_policy_reads():
    """VecNormalize hands the policy observations it already normalized: those are the ones counted."""
    env = VecNormalize(DummyVecEnv([GaussianObs]), norm_reward=False)
    model = make(env=env)
    model.learning_starts = 1000
    model.learn(1000, callback=ObsNormUpdater())
    obs_norm = model.policy.obs_norm
    np.testing.assert_allclose(obs_norm.mean.numpy(), 0.0, atol=0.3)  # the raw stream's mean is 5


@pytest.mark.parametrize("algo", [TD3, TQC])
def test_rl_updates_evaluation_and_predict_never_change_the_statistics(algo):
    model = make(algo)
    model.learn(300, callback=ObsNormUpdater())  # 200 RL updates with the updater on
    before = stats(model)
    assert int(before["count"]) == 300
    model.train(gradient_steps=20, batch_size=32)
    model.predict(np.zeros(DIM, np.float32))
    evaluate_policy(model, Monitor(GaussianObs()), n_eval_episodes=2)
    assert_same(before, stats(model))
    policy = model.policy
    # the statistics are the policy's buffers only: in no network's state, no optimizer, no polyak update
    assert [n for n, _ in policy.named_parameters() if "obs_norm" in n] == []
    for name in [n for n in ("actor", "actor_target", "critic", "critic_target") if hasattr(policy, n)]:
        assert not any("obs_norm" in k or "mean" in k for k in getattr(policy, name).state_dict())
        assert getattr(policy, name).features_extractor.normalize.__self__ is policy.obs_norm


def test_rl_updates_are_refused_until_the_statistics_were_updated():
    model = make()
    with pytest.raises(RuntimeError, match=r"statistics were never updated; pass callback=sb3_large\.normalization"):
        model.learn(200)
    with pytest.raises(ValueError, match="does not normalize observations; build it with"):
        SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=16)).learn(10, callback=ObsNormUpdater())
    with pytest.raises(ValueError, match="obs_norm_kwargs.clip: must be a finite number > 0"):
        make(obs_norm_kwargs=dict(clip=0))
    with pytest.raises(ValueError, match="obs_norm_kwargs.eps: unknown option; allowed: clip, epsilon"):
        make(obs_norm_kwargs=dict(eps=1e-6))
    with pytest.raises(ValueError, match="obs_norm_kwargs: given while normalize_obs is False"):
        make(normalize_obs=False, obs_norm_kwargs=dict(clip=5.0))
    with pytest.raises(TypeError, match="normalize_obs: must be True or False"):
        make(normalize_obs="yes")


def test_statistics_survive_save_and_load_in_a_fresh_process(tmp_path):
    model = make(obs_norm_kwargs=dict(clip=4.0))
    model.learn(300, callback=ObsNormUpdater())
    model.save(tmp_path / "model.zip")
    obs = np.random.default_rng(2).normal(MEAN, STD, size=(8, DIM)).astype(np.float32)
    np.save(tmp_path / "obs.npy", obs)
    script = (
        "import numpy as np, torch as th; from stable_baselines3 import SAC; "
        "m = SAC.load('model.zip'); n = m.policy.obs_norm; "
        "th.save({k: v for k, v in n.state_dict().items()}, 'stats.pt'); "
        "np.save('actions.npy', m.predict(np.load('obs.npy'), deterministic=True)[0]); print(n.clip)"
    )
    proc = run_python(["-c", script], cwd=tmp_path)
    assert proc.stdout.strip() == "4.0"
    assert_same(stats(model), th.load(tmp_path / "stats.pt"))
    np.testing.assert_array_equal(np.load(tmp_path / "actions.npy"), model.predict(obs, deterministic=True)[0])


def test_statistics_are_stored_in_hub_files(tmp_path):
    model = make(env=gym.make("Pendulum-v1"))
    model.learn(200, callback=ObsNormUpdater())
    save_pretrained(model, tmp_path / "hub")
    loaded = load_pretrained(tmp_path / "hub")
    assert int(loaded.policy.obs_norm.count) == 200
    assert_same(stats(model), stats(loaded))
    obs = np.array([[0.5, -0.5, 3.0]], np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


def test_apex_actors_receive_the_statistics_and_their_observations_are_counted():
    learner = make(env=gym.make("Pendulum-v1"))
    saved = io.BytesIO()
    learner.policy.save(saved)
    spec = WorkerSpec(0, lambda: gym.make("Pendulum-v1"), type(learner.policy), saved.getvalue(), 0.0, 1.0, 8, 1, 0)
    worker = ActorWorker(spec)
    assert int(worker.policy.obs_norm.count) == 0
    learner.learn(200, callback=ObsNormUpdater())
    worker.set_weights(2, acting_weights(learner.policy))
    assert_same(stats(learner), {k: v.clone() for k, v in worker.policy.obs_norm.state_dict().items()})
    obs = worker.obs
    expected = learner.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(worker.policy.predict(obs, deterministic=True)[0], expected)

    # a real run with a local actor: the learner's and the actor's stored observations are all counted
    model = make(env=gym.make("Pendulum-v1"))
    collector = ApeXCollector(n_actors=1, chunk_size=50, sync_every=10)
    stopper = StopWhen(collector, lambda c: c.actor_steps >= 200 and c.weight_syncs >= 2)
    model.learn(1_000_000, callback=CallbackList([ObsNormUpdater(), collector, stopper]))
    assert collector.actor_steps >= 200
    assert int(model.policy.obs_norm.count) == model.num_timesteps
    with pytest.raises(ValueError, match=r"normalize_obs=True\); pass callback=sb3_large\.normalization"):
        make(env=gym.make("Pendulum-v1")).learn(100, callback=ApeXCollector(n_actors=1))


def test_ofenet_reads_and_learns_from_normalized_observations():
    ofenet = dict(layers=2, growth=8, pretrain_steps=20)
    model = make(SAC, ofenet_kwargs=ofenet)
    policy = model.policy
    inputs: list[th.Tensor] = []
    update = policy.ofenet.update

    def recording_update(obs, actions, next_obs):
        inputs.append(obs)
        return update(obs, actions, next_obs)

    policy.ofenet.update = recording_update
    model.learn(300, callback=[OFENetTrainer(), ObsNormUpdater()])
    assert len(inputs) == 20 + 200 and int(policy.obs_norm.count) == 300
    # OFENet is trained on normalized observations (raw ones have mean 5, std 3)...
    trained_on = th.cat(inputs).numpy()
    np.testing.assert_allclose(trained_on.mean(0), 0.0, atol=0.25)
    np.testing.assert_allclose(trained_on.std(0), 1.0, atol=0.2)
    # ...and reads them for the RL networks: its DenseNet passes its input through as the first entries of z_s
    obs = th.as_tensor(model.replay_buffer.observations[:64, 0])
    for name in ("actor", "critic", "critic_target"):
        z_s = getattr(policy, name).features_extractor(obs)
        th.testing.assert_close(z_s[:, :DIM], policy.obs_norm(obs))
