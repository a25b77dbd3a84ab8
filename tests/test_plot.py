"""``python -m sb3_large.plot``: return and diagnostics curves of a user's runs, mean and spread over seeds."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th
from PIL import Image
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor, ResultsWriter

import sb3_large
from sb3_large.diagnostics import RepresentationDiagnostics
from sb3_large.plot import find_runs, mean_and_spread, panel_keys, plot_runs, save_figure

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny networks gain nothing from more threads, and lose a lot on a busy machine; put the setting back after."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)


def _real_run(folder: Path, formats: list[str]) -> None:
    """A tiny SAC run that writes what RL Zoo and SB3 write: monitor file, evaluations.npz, logger output."""
    import gymnasium as gym

    folder.mkdir(parents=True)
    env = Monitor(gym.make("Pendulum-v1"), str(folder / "0"))
    model = sb3_large.SAC(
        "LargeMlpPolicy", env, learning_starts=100, seed=0, policy_kwargs=dict(width=16, depth=1, arch="mlp")
    )
    model.set_logger(configure(str(folder), formats))
    evaluation = EvalCallback(Monitor(gym.make("Pendulum-v1")), eval_freq=200, n_eval_episodes=1, log_path=str(folder))
    # Diagnostics first: EvalCallback dumps the logger, so values recorded before it land at the same step.
    model.learn(600, callback=[RepresentationDiagnostics(every=200, batch_size=64), evaluation])


def _synthetic_seed(folder: Path, seed: int, offset: float) -> None:
    """Another experiment's seed, written with SB3's own writers: monitor episodes, evaluations, progress.csv."""
    folder.mkdir(parents=True)
    writer = ResultsWriter(str(folder / "0"), header={"t_start": 0.0, "env_id": "Pendulum-v1"})
    for episode in range(30):
        writer.write_row({"r": -1000.0 + 10 * episode + offset, "l": 200, "t": float(episode)})
    writer.close()
    steps = np.arange(1, 7) * 1000
    results = (-900.0 + 100 * np.arange(6) + offset)[:, None] + np.zeros((6, 2))
    np.savez(folder / "evaluations.npz", timesteps=steps, results=results, ep_lengths=np.full((6, 2), 200))
    logger = configure(str(folder), ["csv"])
    for step in steps:
        logger.record("time/total_timesteps", int(step))
        logger.record("diagnostics/actor_srank", 10.0 + seed)
        logger.record("diagnostics/critic_dormant", 0.1 * seed)
        logger.record("diagnostics/actor_weight_norm", 5.0)
        logger.dump(int(step))
    logger.close()


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plot") / "logs"
    _real_run(root / "sac" / "Pendulum-v1_1", ["csv", "tensorboard"])
    for seed, offset in ((1, 0.0), (2, 50.0), (3, 100.0)):
        _synthetic_seed(root / "td3" / f"Pendulum-v1_{seed}", seed, offset)
    return root


def test_runs_are_grouped_into_experiments(logs):
    runs = find_runs([logs])
    assert sorted(run.experiment for run in runs) == ["sac/Pendulum-v1"] + ["td3/Pendulum-v1"] * 3
    real = next(run for run in runs if run.experiment == "sac/Pendulum-v1")
    assert real.return_source == "evaluation"
    np.testing.assert_array_equal(real.series["return"][0], [200, 400, 600])
    assert "diagnostics/actor_srank" in real.series and "diagnostics/critic_dormant" in real.series
    assert real.series["diagnostics/actor_srank"][0].tolist() == [200, 400, 600]


def test_tensorboard_events_alone_give_the_same_curves(logs, tmp_path):
    pytest.importorskip("tensorboard")
    folder = tmp_path / "runs" / "SAC_1"
    folder.mkdir(parents=True)
    for path in (logs / "sac" / "Pendulum-v1_1").glob("events.out.tfevents.*"):
        (folder / path.name).write_bytes(path.read_bytes())
    (run,) = find_runs([tmp_path / "runs"])
    (real,) = [r for r in find_runs([logs]) if r.experiment == "sac/Pendulum-v1"]
    assert run.experiment == "SAC" and run.return_source == "evaluation"  # eval/mean_reward
    np.testing.assert_allclose(run.series["diagnostics/actor_srank"][1], real.series["diagnostics/actor_srank"][1])
    np.testing.assert_allclose(run.series["return"][1], real.series["return"][1], rtol=1e-6)


def test_mean_and_spread_over_seeds():
    steps, mean, std, count = mean_and_spread([([0, 10], [0.0, 10.0]), ([0, 5, 20], [2.0, 2.0, 2.0])])
    assert steps.tolist() == [0, 5, 10, 20]
    np.testing.assert_allclose(mean, [1.0, 3.5, 6.0, 2.0])
    np.testing.assert_allclose(std, [1.0, 1.5, 4.0, 0.0])
    assert count.tolist() == [2, 2, 2, 1]


def test_figure_has_one_series_per_experiment_and_panel(logs, tmp_path):
    runs = find_runs([logs])
    # The synthetic seeds log two of the keys the real run logs: panels list what exists, each with its runs.
    keys = ["actor_dormant", "actor_srank", "critic_dormant", "critic_srank"]
    assert panel_keys(runs) == ["return"] + [f"diagnostics/{k}" for k in keys]
    figure = plot_runs(runs)
    assert [axes.get_title() for axes in figure.axes] == ["return (evaluation)", *keys]
    both = ["sac/Pendulum-v1 (1 run)", "td3/Pendulum-v1 (3 runs)"]
    expected = [both, both[:1], both, both, both[:1]]
    assert [sorted(line.get_label() for line in axes.get_lines()) for axes in figure.axes] == expected
    bands = [len(axes.collections) for axes in figure.axes]
    assert bands == [len(labels) for labels in expected]
    td3_return = next(line for line in figure.axes[0].get_lines() if line.get_label().startswith("td3"))
    np.testing.assert_allclose(td3_return.get_ydata(), -850.0 + 100 * np.arange(6))  # mean of offsets 0, 50, 100
    with pytest.raises(
        ValueError, match="keys: 'ofenet_zs_srank' is in no run; found: actor_dormant, actor_feature_dim,"
    ):
        plot_runs(runs, keys=["ofenet_zs_srank"])
    assert len(plot_runs(runs, keys=["all"]).axes) == 1 + 10  # every diagnostics key of the real run
    path = save_figure(figure, tmp_path / "out.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1500, 720)


def test_cli_writes_the_png(logs, tmp_path):
    out = tmp_path / "figures" / "runs.png"
    cmd = [sys.executable, "-m", "sb3_large.plot", str(logs), "--out", str(out), "--keys", "actor_srank"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "panels return, diagnostics/actor_srank; experiments (runs):" in result.stdout
    assert "  sac/Pendulum-v1 (1)\n  td3/Pendulum-v1 (3)" in result.stdout
    with Image.open(out) as image:
        image.verify()
    missing = subprocess.run(
        [sys.executable, "-m", "sb3_large.plot", str(tmp_path / "nowhere")], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "nowhere: no such folder" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = subprocess.run(
        [sys.executable, "-m", "sb3_large.plot", str(tmp_path / "empty")], env=env, capture_output=True, text=True
    )
    assert empty.returncode == 2 and "no runs under" in empty.stderr
    (tmp_path / "broken" / "run_1").mkdir(parents=True)
    (tmp_path / "broken" / "run_1" / "evaluations.npz").write_bytes(b"PK\x03\x04 truncated")
    broken = subprocess.run(
        [sys.executable, "-m", "sb3_large.plot", str(tmp_path / "broken")], env=env, capture_output=True, text=True
    )
    assert broken.returncode == 2 and "run_1: cannot read its logs" in broken.stderr
