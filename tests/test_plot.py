"""``python -m sb3_large.plot``: return and diagnostics curves of a user's runs, mean and spread over seeds."""

import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch as th
import yaml
from PIL import Image
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor, ResultsWriter

import sb3_large
from sb3_large.diagnostics import RepresentationDiagnostics
from sb3_large.plot import find_runs, mean_and_spread, panel_keys, plot_runs, save_figure, scan_runs
from sb3_large.plot.__main__ import main as plot_main


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
    model.learn(600, callback=[RepresentationDiagnostics(every=200, batch_size=64), evaluation])


def _zoo_config(folder: Path, algo: str, env: str, hyperparams: dict, seed: int, **args) -> None:
    """``config.yml`` and ``args.yml`` as RL Zoo writes them (``yaml.dump`` of sorted ``OrderedDict``s)."""
    params = folder / env
    params.mkdir(parents=True)
    with open(params / "config.yml", "w") as f:
        yaml.dump(OrderedDict(sorted(hyperparams.items())), f)
    values = {"algo": algo, "env": env, "seed": seed, "n_timesteps": -1, "env_kwargs": None, "trained_agent": ""}
    values.update({"conf_file": None, "trial_id": None, **args})
    with open(params / "args.yml", "w") as f:
        yaml.dump(OrderedDict(sorted(values.items())), f)


def _episodes(folder: Path, env: str, returns: list[float]) -> None:
    writer = ResultsWriter(str(folder / "0"), header={"t_start": 0.0, "env_id": env})
    for episode, value in enumerate(returns):
        writer.write_row({"r": value, "l": 200, "t": float(episode)})
    writer.close()


def _evaluations(folder: Path, steps: list[int], means: list[float]) -> None:
    results = np.asarray(means, float)[:, None] + np.zeros((len(steps), 2))
    np.savez(folder / "evaluations.npz", timesteps=steps, results=results, ep_lengths=np.full((len(steps), 2), 200))


def _synthetic_seed(folder: Path, seed: int, offset: float) -> None:
    """Another experiment's seed, as RL Zoo lays it out (its config, monitor episodes, evaluations), with
    diagnostics written by SB3's CSV logger."""
    folder.mkdir(parents=True)
    _zoo_config(folder, "td3", "Pendulum-v1", TD3_ENTRY, seed, conf_file="/somewhere/td3_large.yml")
    _episodes(folder, "Pendulum-v1", [-1000.0 + 10 * episode + offset for episode in range(30)])
    steps = np.arange(1, 7) * 1000
    _evaluations(folder, list(steps), list(-900.0 + 100 * np.arange(6) + offset))
    logger = configure(str(folder), ["csv"])
    for step in steps:
        logger.record("time/total_timesteps", int(step))
        logger.record("diagnostics/actor_srank", 10.0 + seed)
        logger.record("diagnostics/critic_dormant", 0.1 * seed)
        logger.record("diagnostics/actor_weight_norm", 5.0)
        logger.dump(int(step))
    logger.close()


TD3_ENTRY = {"n_timesteps": 20000, "policy": "sb3_large.policies.LargeTD3Policy", "learning_rate": 1e-3}


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plot") / "logs"
    _real_run(root / "sac" / "Pendulum-v1_1", ["csv", "tensorboard"])
    for seed, offset in ((1, 0.0), (2, 50.0), (3, 100.0)):
        _synthetic_seed(root / "td3" / f"Pendulum-v1_{seed}", seed, offset)
    return root


def test_runs_are_grouped_by_their_rl_zoo_configuration(logs):
    runs = find_runs([logs])
    td3 = "td3/Pendulum-v1 (td3_large.yml)"
    assert sorted(run.experiment for run in runs) == ["sac/Pendulum-v1_1"] + [td3] * 3
    real = next(run for run in runs if run.experiment == "sac/Pendulum-v1_1")
    assert real.config is None and real.env == "Pendulum-v1"  # no RL Zoo config: from the monitor file's header
    np.testing.assert_array_equal(real.series["return/evaluation"][0], [200, 400, 600])
    assert "return/training" in real.series  # training episodes apart from the evaluations
    assert "diagnostics/actor_srank" in real.series and "diagnostics/critic_dormant" in real.series
    assert real.series["diagnostics/actor_srank"][0].tolist() == [200, 400, 600]
    seed = next(run for run in runs if run.experiment == td3)
    assert seed.config.algo == "td3" and seed.config.settings["learning_rate"] == 1e-3 and seed.env == "Pendulum-v1"


def test_tensorboard_events_alone_give_the_same_curves(logs, tmp_path):
    pytest.importorskip("tensorboard")
    folder = tmp_path / "runs" / "SAC_1"
    folder.mkdir(parents=True)
    for path in (logs / "sac" / "Pendulum-v1_1").glob("events.out.tfevents.*"):
        (folder / path.name).write_bytes(path.read_bytes())
    (run,) = find_runs([tmp_path / "runs"])
    (real,) = [r for r in find_runs([logs]) if r.experiment == "sac/Pendulum-v1_1"]
    assert run.experiment == "SAC_1" and run.env is None  # nothing in the folder names the environment
    np.testing.assert_allclose(run.series["diagnostics/actor_srank"][1], real.series["diagnostics/actor_srank"][1])
    np.testing.assert_allclose(run.series["return/evaluation"][1], real.series["return/evaluation"][1], rtol=1e-6)


def test_mean_and_spread_over_seeds():
    steps, mean, std, count = mean_and_spread([([0, 10], [0.0, 10.0]), ([0, 5, 20], [2.0, 2.0, 2.0])])
    assert steps.tolist() == [0, 5, 10, 20]
    np.testing.assert_allclose(mean, [1.0, 3.5, 6.0, 2.0])
    np.testing.assert_allclose(std, [1.0, 1.5, 4.0, 0.0])
    assert count.tolist() == [2, 2, 2, 1]


def _lines(axes) -> dict[str, object]:
    return {line.get_label(): line for line in axes.get_lines()}


def test_figure_has_a_row_per_key_and_one_series_per_experiment(logs, tmp_path):
    runs = find_runs([logs])
    # The synthetic seeds log two of the keys the real run logs: panels list what exists, each with its runs.
    keys = ["actor_dormant", "actor_srank", "critic_dormant", "critic_srank"]
    assert panel_keys(runs) == ["return/evaluation", "return/training"] + [f"diagnostics/{k}" for k in keys]
    figure = plot_runs(runs)
    titles = ["evaluation return", "training-episode return (moving mean)", *keys]
    assert [axes.get_title() for axes in figure.axes] == [f"Pendulum-v1: {title}" for title in titles]
    both = ["sac/Pendulum-v1_1", "td3/Pendulum-v1 (td3_large.yml)"]
    expected = [both, both, both[:1], both, both, both[:1]]
    assert [sorted(_lines(axes)) for axes in figure.axes] == expected
    assert [len(axes.collections) for axes in figure.axes] == [len(labels) for labels in expected]
    td3_eval = _lines(figure.axes[0])[both[1]]
    np.testing.assert_allclose(td3_eval.get_ydata(), -850.0 + 100 * np.arange(6))  # mean of offsets 0, 50, 100
    assert td3_eval.get_marker() == "o"  # six points: markers
    assert _lines(figure.axes[1])[both[1]].get_marker() == "None"  # 21 smoothed episodes: a plain line
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == [f"{both[0]} (1 run)", f"{both[1]} (3 runs)"]
    with pytest.raises(
        ValueError, match="keys: 'ofenet_zs_srank' is in no run; found: actor_dormant, actor_feature_dim,"
    ):
        plot_runs(runs, keys=["ofenet_zs_srank"])
    assert len(plot_runs(runs, keys=["all"]).axes) == 2 + 10  # every diagnostics key of the real run
    path = save_figure(figure, tmp_path / "out.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] == 500
    with pytest.raises(ValueError, match=r"out: the image's format comes from its suffix, which must be one of"):
        save_figure(figure, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == ["out.png"]


@pytest.fixture
def mixed(tmp_path) -> Path:
    """A mixed RL Zoo folder: one configuration on two seeds and another (its best trial), each evaluated once;
    a run in another environment; a run stopped before its first episode; a tensorboard run with no scalar."""
    root = tmp_path / "logs"
    best = {**TD3_ENTRY, "learning_rate": 3e-4}
    for folder, entry, seed, value, conf in [
        ("sac/Pendulum-v1_1", TD3_ENTRY, 1, -1200.0, "/x/sac_large.yml"),
        ("sac/Pendulum-v1_2", TD3_ENTRY, 2, -1000.0, "/x/sac_large.yml"),
        ("sac/Pendulum-v1_3", best, 1, -300.0, "/x/report_Pendulum-v1_2-trials-1000-random-median_17.yml"),
    ]:
        (root / folder).mkdir(parents=True)
        _zoo_config(root / folder, "sac", "Pendulum-v1", entry, seed, conf_file=conf)
        _evaluations(root / folder, [1000], [value])
        _episodes(root / folder, "Pendulum-v1", [value - 100.0] * 5)
    (root / "sac" / "InvertedPendulum-v4_1").mkdir(parents=True)
    _zoo_config(root / "sac" / "InvertedPendulum-v4_1", "sac", "InvertedPendulum-v4", TD3_ENTRY, 1)
    _evaluations(root / "sac" / "InvertedPendulum-v4_1", [500, 1000], [50.0, 1000.0])
    (root / "sac" / "Pendulum-v1_4").mkdir(parents=True)
    _zoo_config(root / "sac" / "Pendulum-v1_4", "sac", "Pendulum-v1", TD3_ENTRY, 3, conf_file="/x/sac_large.yml")
    _episodes(root / "sac" / "Pendulum-v1_4", "Pendulum-v1", [])
    logger = configure(str(root / "runs" / "SAC_1"), ["tensorboard"])
    logger.close()
    return root


def test_a_mixed_zoo_folder_draws_each_configuration_apart_and_names_what_it_leaves_out(mixed):
    scan = scan_runs([mixed])
    skipped = {path.relative_to(mixed).as_posix(): reason for path, reason in scan.skipped}
    assert sorted(skipped) == ["runs/SAC_1", "sac/Pendulum-v1_4"]  # no scalar; no finished episode
    assert all(
        reason.startswith("nothing to plot: no evaluations.npz, eval/mean_reward") for reason in skipped.values()
    )
    seeds, best = (
        "sac/Pendulum-v1 (sac_large.yml)",
        "sac/Pendulum-v1 (report_Pendulum-v1_2-trials-1000-random-median_17.yml)",
    )
    figure = plot_runs(scan.runs)
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == [
        "InvertedPendulum-v4: evaluation return",
        "Pendulum-v1: evaluation return",
        "InvertedPendulum-v4: training-episode return (moving mean)",
        "Pendulum-v1: training-episode return (moving mean)",
    ]
    pendulum_eval = _lines(figure.axes[1])
    assert sorted(pendulum_eval) == [best, seeds]  # two groups: configurations, not folder numbers
    for line in pendulum_eval.values():
        assert line.get_marker() == "o" and line.get_markersize() > 0 and len(line.get_xdata()) == 1
    assert pendulum_eval[seeds].get_ydata().tolist() == [-1100.0] and pendulum_eval[best].get_ydata().tolist() == [
        -300.0
    ]
    assert figure.axes[2].texts[0].get_text() == "not logged"  # no training episodes in that environment
    # each environment its own y-axis: Pendulum's returns do not squash InvertedPendulum's
    assert figure.axes[0].get_ylim()[0] > 0 > figure.axes[1].get_ylim()[1]


def test_short_runs_without_a_configuration_stay_apart_unless_asked(tmp_path):
    for n, offset in ((1, 0.0), (2, 10.0)):
        logger = configure(str(tmp_path / "runs" / "Hopper-v4" / f"SAC_{n}"), ["csv"])
        logger.record("time/total_timesteps", 100)
        logger.record("rollout/ep_rew_mean", offset)
        logger.dump(100)
        logger.close()
    apart = find_runs([tmp_path / "runs"])
    assert sorted(run.experiment for run in apart) == ["Hopper-v4/SAC_1", "Hopper-v4/SAC_2"]
    assert {run.env for run in apart} == {"Hopper-v4"}  # from the folder RL Zoo's -tb names after the env
    together = find_runs([tmp_path / "runs"], seeds_by_name=True)
    assert [run.experiment for run in together] == ["Hopper-v4/SAC"] * 2


def test_event_files_without_tensorboard_are_named_with_the_extra(logs, tmp_path, monkeypatch):
    folder = tmp_path / "runs" / "SAC_1"
    folder.mkdir(parents=True)
    for path in (logs / "sac" / "Pendulum-v1_1").glob("events.out.tfevents.*"):
        (folder / path.name).write_bytes(path.read_bytes())
    for module in ("tensorboard", "tensorboard.backend.event_processing.event_accumulator"):
        monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed (even if imported before)
    scan = scan_runs([tmp_path / "runs"])
    ((path, reason),) = scan.skipped
    assert path == folder and not scan.runs
    assert "tensorboard event files not read: tensorboard is not installed; pip install 'sb3-large[zoo]'" in reason


def test_cli_writes_the_png_and_names_what_it_leaves_out(logs, mixed, tmp_path, capsys):
    out = tmp_path / "figures" / "mixed.png"
    plot_main([str(mixed), "--out", str(out)])
    printed = capsys.readouterr().out
    rows = "rows return/evaluation, return/training; columns InvertedPendulum-v4, Pendulum-v1"
    assert printed.startswith(f"{out}: {rows}; experiments (runs):\n")
    seeds = ", ".join(str(mixed / "sac" / f"Pendulum-v1_{n}") for n in (1, 2))
    assert f"  sac/Pendulum-v1 (sac_large.yml) (2): {seeds}\n" in printed
    assert f"left out:\n  {mixed / 'runs' / 'SAC_1'}: nothing to plot: no evaluations.npz" in printed
    assert f"  {mixed / 'sac' / 'Pendulum-v1_4'}: nothing to plot: " in printed
    with Image.open(out) as image:
        image.verify()
    plot_main([str(logs), "--out", str(out), "--keys", "actor_srank"])
    assert (
        "rows return/evaluation, return/training, diagnostics/actor_srank; columns Pendulum-v1"
        in capsys.readouterr().out
    )

    def error(*args: str) -> str:
        with pytest.raises(SystemExit) as exit_info:
            plot_main(list(args))
        assert exit_info.value.code == 2
        return capsys.readouterr().err

    assert "nowhere: no such folder" in error(str(tmp_path / "nowhere"))
    for out in (tmp_path / "plot", tmp_path / "plot.txt"):
        message = error(str(logs), "--out", str(out))
        assert f"--out: {out}: the image's format comes from its suffix, which must be one of " in message
        assert ".pdf" in message and ".png" in message and not out.exists()
    (tmp_path / "empty").mkdir()
    assert "no runs to plot under" in error(str(tmp_path / "empty"))
    (tmp_path / "broken" / "run_1").mkdir(parents=True)
    (tmp_path / "broken" / "run_1" / "evaluations.npz").write_bytes(b"PK\x03\x04 truncated")
    message = error(str(tmp_path / "broken"))
    assert "; left out:\n  " in message and "run_1: cannot read its logs" in message


def test_cli_names_the_extra_when_matplotlib_is_missing(mixed, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(SystemExit) as exit_info:
        plot_main([str(mixed)])
    assert exit_info.value.code == 2
    assert "matplotlib, which is not installed; pip install 'sb3-large[zoo]'" in capsys.readouterr().err


def test_a_monitor_row_cut_short_is_an_episode_not_yet_recorded(tmp_path):
    folder = tmp_path / "runs" / "SAC_1"
    folder.mkdir(parents=True)
    _episodes(folder, "Pendulum-v1", [-100.0, -80.0])
    with open(folder / "0.monitor.csv", "a") as f:
        f.write("-90.0,200")  # the run stopped mid-line: no time yet
    (run,) = find_runs([tmp_path / "runs"], window=1)
    steps, returns = run.series["return/training"]
    assert steps.tolist() == [200.0, 400.0] and returns.tolist() == [-100.0, -80.0]
    (folder / "0.monitor.csv").write_text('#{"t_start": 0.0, "env_id": "Pendulum-v1"}\nr,l,t\n"' + "x" * 200_000)
    scan = scan_runs([tmp_path / "runs"])
    ((path, reason),) = scan.skipped
    assert path == folder and reason.startswith("cannot read its logs: Error('field larger than field limit")


def test_overlapping_folders_find_each_run_once(mixed, capsys):
    runs = find_runs([mixed, mixed / "sac"])
    assert sorted(run.path.relative_to(mixed).as_posix() for run in runs) == [
        "sac/InvertedPendulum-v4_1",
        "sac/Pendulum-v1_1",
        "sac/Pendulum-v1_2",
        "sac/Pendulum-v1_3",
    ]
    plot_main([str(mixed), str(mixed / "sac"), "--out", str(mixed / "plot.png")])
    assert "  sac/Pendulum-v1 (sac_large.yml) (2): " in capsys.readouterr().out
