"""A new user's first mistakes, each answered by one clear message instead of a late failure or silence."""

import fcntl
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

import sb3_large
from sb3_large import zoo
from sb3_large.hub import CONFIG_NAME, load_pretrained, save_pretrained
from sb3_large.hub import main as hub_main
from sb3_large.plot import Run, plot_runs, save_figure
from sb3_large.policies import (
    LargeCrossQPolicy,
    LargeSACPolicy,
    LargeTD3Policy,
    LargeTQCPolicy,
    OFENetSACPolicy,
    OFENetTD3Policy,
)
from sb3_large.policies.common import check_algorithm

from .conftest import ROOT

SAC_CONF = str(ROOT / "hyperparams" / "sac_large.yml")
# Each large policy and the algorithm it is written for (DDPG and sb3_large's learners train their base's policy).
OWNERS = {
    LargeSACPolicy: "SAC",
    OFENetSACPolicy: "SAC",
    LargeTD3Policy: "TD3",
    OFENetTD3Policy: "TD3",
    LargeTQCPolicy: "TQC",
    LargeCrossQPolicy: "CrossQ",
}
ALGORITHMS = {SAC: "SAC", TD3: "TD3", DDPG: "TD3", TQC: "TQC", CrossQ: "CrossQ"}
ALGORITHMS |= {sb3_large.SAC: "SAC", sb3_large.TD3: "TD3"}
MISMATCHES = [(a, p) for a in ALGORITHMS for p in OWNERS if ALGORITHMS[a] != OWNERS[p]]


def _env() -> dict:
    """The environment of a fresh interpreter that imports this checkout's sb3_large."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


# -- 1. a policy of another algorithm ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "algo, policy", MISMATCHES, ids=[f"{a.__module__.split('.')[0]}.{a.__name__}-{p.__name__}" for a, p in MISMATCHES]
)
def test_a_policy_of_another_algorithm_is_named_with_both(algo, policy):
    with pytest.raises(TypeError) as error:
        check_algorithm(policy, algo)
    message = str(error.value)
    assert message.startswith(f"policy: {policy.__name__} is a policy of {OWNERS[policy]} ")
    assert f"cannot be trained by {algo.__name__}; allowed for {algo.__name__}: " in message
    assert f"--algo {OWNERS[policy].lower()}" in message
    own = [p.__name__ for p, owner in OWNERS.items() if owner == ALGORITHMS[algo]]
    assert all(name in message for name in own)


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_each_algorithm_still_builds_its_own_large_policies(algo):
    for policy in (p for p, owner in OWNERS.items() if owner == ALGORITHMS[algo]):
        kwargs = dict(width=16, depth=1, norm="batch_renorm") if policy is LargeCrossQPolicy else dict(width=16)
        assert isinstance(algo(policy, "Pendulum-v1", buffer_size=100, policy_kwargs=kwargs).policy, policy)


def test_the_launcher_refuses_the_entry_in_one_line_before_any_env(tmp_path):
    args = ["train", "--algo", "td3", "--env", "Pendulum-v1", "-conf", SAC_CONF, "-n", "50", "-f", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"^policy: LargeSACPolicy is a policy of SAC .* by TD3; allowed for TD3: "):
        zoo.main([*args, "--eval-freq", "-1"])
    assert not (tmp_path / "td3").exists()  # refused before RL Zoo made its log folder and envs


# Where SB3 first reads an attribute another algorithm's policy lacks (its _create_aliases), stock SB3 gets the
# same answer: TD3 / DDPG read actor_target, SAC / TD3 / DDPG / TQC critic_target.
STOCK_MISMATCHES = [(a, p) for a, p in MISMATCHES if a in (TD3, DDPG) or p is LargeCrossQPolicy]


@pytest.mark.parametrize(
    "algo, policy",
    STOCK_MISMATCHES,
    ids=[f"{a.__module__.split('.')[0]}.{a.__name__}-{p.__name__}" for a, p in STOCK_MISMATCHES],
)
def test_stock_sb3_names_both_algorithms_before_anything_trains(algo, policy):
    kwargs = dict(width=16, depth=1)
    with pytest.raises(AttributeError) as error:
        algo(policy, "Pendulum-v1", buffer_size=100, policy_kwargs=kwargs)
    message = str(error.value)
    assert message.startswith(f"policy: {policy.__name__} is a policy of {OWNERS[policy]} and has no ")
    assert algo.__name__ in message
    assert message.endswith(f"--algo {OWNERS[policy].lower()}")


def test_stock_rl_zoo_names_both_algorithms(tmp_path):
    args = ["--algo", "td3", "--env", "Pendulum-v1", "-conf", SAC_CONF, "-n", "50", "-f", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "rl_zoo3.train", *args, "--eval-freq", "-1"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "policy: LargeSACPolicy is a policy of SAC and has no 'actor_target', which TD3 and DDPG read" in done.stderr
    assert "run its YAML entry with --algo sac" in done.stderr


# -- 2. a budget that ends before learning_starts --------------------------------------------------------------
def test_a_budget_at_or_below_learning_starts_warns():
    from sb3_large.budget import warn_if_no_gradient_steps

    for total in (500, 1000):
        with pytest.warns(UserWarning) as caught:
            warn_if_no_gradient_steps(total, 1000)
        (message,) = [str(w.message) for w in caught]
        assert f"total_timesteps: the run ends at {total} env steps (RL Zoo: n_timesteps, -n)" in message
        assert "learning_starts=1000" in message and "no gradient step will run" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_no_gradient_steps(1001, 1000)


@pytest.mark.parametrize("algo", [sb3_large.SAC, sb3_large.TD3])
def test_the_learners_warn_that_no_gradient_step_will_run(algo):
    model = algo("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, policy_kwargs=dict(width=16))
    with pytest.warns(UserWarning, match="the run ends at 50 env steps .*learning_starts=100.*no gradient step"):
        model.learn(50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.learn(60, reset_num_timesteps=False)  # it ends at 110: past learning_starts


@pytest.mark.parametrize("algo, conf, steps, starts", [("sac", "sac", 500, 1000), ("crossq", "crossq", 100, 100)])
def test_the_launcher_warns_that_no_gradient_step_will_run(tmp_path, algo, conf, steps, starts):
    conf = str(ROOT / "hyperparams" / f"{conf}_large.yml")
    args = ["train", "--algo", algo, "--env", "Pendulum-v1", "-conf", conf, "-n", str(steps), "-f", str(tmp_path)]
    pattern = rf"the run ends at {steps} env steps .*learning_starts={starts}: .*no gradient step will run"
    with pytest.warns(UserWarning, match=pattern):
        zoo.main([*args, "--eval-freq", "-1", "--seed", "0", "-params", "policy_kwargs:dict(width=16)"])


# -- 3. the launcher's help --------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_zoo_help_lists_the_commands_and_exits_0(tmp_path, flag):
    proc = subprocess.run(
        [sys.executable, "-m", "sb3_large.zoo", flag], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m sb3_large.zoo {train,enjoy}")
    assert re.search(r"^  train +RL Zoo's train \(python -m rl_zoo3.train\)", proc.stdout, re.MULTILINE)
    assert re.search(r"^  enjoy +RL Zoo's enjoy \(python -m rl_zoo3.enjoy\)", proc.stdout, re.MULTILINE)
    assert "python -m sb3_large.zoo <command> -h" in proc.stdout


@pytest.mark.parametrize("argv, given", [([], "no command given"), (["fit"], "unknown command 'fit'")])
def test_zoo_without_a_known_command_exits_with_usage(argv, given):
    with pytest.raises(SystemExit) as exit_info:
        zoo.main(argv)
    message = str(exit_info.value.code)
    assert message.startswith("usage: python -m sb3_large.zoo {train,enjoy}")
    assert f"error: {given}; allowed: train, enjoy (python -m sb3_large.zoo -h for help)" in message


# -- 4. hub info of an RL Zoo run --------------------------------------------------------------------------------
def _sb3_zip(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    SAC("MlpPolicy", "Pendulum-v1", buffer_size=10, policy_kwargs=dict(net_arch=[8])).save(path)


def test_hub_info_of_a_folder_without_config_says_what_it_is(tmp_path, capsys):
    run = tmp_path / "logs" / "sac" / "Pendulum-v1_1"
    _sb3_zip(run / "Pendulum-v1.zip")
    (run / "Pendulum-v1").mkdir()
    (run / "Pendulum-v1" / "args.yml").write_text(yaml.dump({"algo": "sac", "env": "Pendulum-v1"}))
    _sb3_zip(tmp_path / "sb3" / "model.zip")
    (tmp_path / "empty").mkdir()
    expected = {
        run: f"is an RL Zoo run (Pendulum-v1.zip, Pendulum-v1/args.yml), not a model folder of sb3_large.hub (it "
        f"holds no {CONFIG_NAME}); make one with: python -m sb3_large.hub save {run} <new model folder>",
        tmp_path / "sb3": "is an SB3 model's folder (model.zip), not a model folder of sb3_large.hub (it holds no "
        f"{CONFIG_NAME}); make one with: python -m sb3_large.hub save {tmp_path / 'sb3' / 'model.zip'} <new",
        tmp_path / "empty": f"holds no {CONFIG_NAME}: not a model folder of sb3_large.hub (written by save_pretrained",
    }
    for folder, message in expected.items():
        for command in (["info", str(folder)], ["push", str(folder), "--repo-id", "org/name"]):
            with pytest.raises(SystemExit) as exit_info:
                hub_main(command)
            error = capsys.readouterr().err
            assert exit_info.value.code == 1
            assert f"python -m sb3_large.hub: error: source: {folder} {message}" in error, error
            assert "Errno" not in error and "Traceback" not in error


# -- 5. a reader that stops early --------------------------------------------------------------------------------
def _first_line_then_close(args: list[str], cwd: Path) -> tuple[int, bytes, str]:
    """Run ``python <args>`` with its stdout a pipe of one page that is closed after the first line: the rest of an
    output longer than the pipe is written after its reader left. Returns the exit status, the line, stderr."""
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=_env(), stdout=write_fd, stderr=subprocess.PIPE)
    os.close(write_fd)
    line = b""
    while not line.endswith(b"\n") and (byte := os.read(read_fd, 1)):
        line += byte
    os.close(read_fd)
    _, stderr = proc.communicate(timeout=600)
    return proc.returncode, line, stderr.decode()


def _hub_folder(tmp_path: Path) -> list[str]:
    """A model folder whose config prints as far more than a pipe holds (a long metrics list)."""
    model = SAC("LargeMlpPolicy", "Pendulum-v1", buffer_size=10, policy_kwargs=dict(width=16, depth=1))
    folder = save_pretrained(model, tmp_path / "model", metrics={"returns": [-150.5] * 5000})
    return ["-m", "sb3_large.hub", "info", str(folder)]


def _plot_runs(tmp_path: Path) -> list[str]:
    """Seeds of one experiment whose listing prints as more than a pipe holds (60 long folder names)."""
    for seed in range(60):
        folder = tmp_path / "logs" / f"a_run_folder_with_a_long_name_to_list_many_characters_{seed}"
        folder.mkdir(parents=True)
        header = '#{"t_start": 0.0, "env_id": "Pendulum-v1"}\nr,l,t\n'
        (folder / "0.monitor.csv").write_text(header + "".join(f"{-i},200,{i}\n" for i in range(3)))
    return ["-m", "sb3_large.plot", str(tmp_path / "logs"), "--seeds-by-name", "--out", str(tmp_path / "p.png")]


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="the pipe's size is set with Linux's F_SETPIPE_SZ")
@pytest.mark.parametrize("cli", ["hub", "zoo", "plot"])
def test_a_reader_that_stops_after_one_line_ends_each_cli_quietly(tmp_path, cli):
    args = {
        "hub": _hub_folder,
        "zoo": lambda _: ["-m", "sb3_large.zoo", "train", "-h"],  # ours and rl_zoo3's options: 8 KB
        "plot": _plot_runs,
    }[cli](tmp_path)
    status, line, stderr = _first_line_then_close(args, tmp_path)
    assert line and status in (0, 141), (status, stderr)
    assert "Traceback" not in stderr and "Broken pipe" not in stderr and "BrokenPipeError" not in stderr, stderr


# -- 6. a Hub save that knows neither the env id nor the statistics ---------------------------------------------
def _saves(model, folder: Path, **kwargs) -> list[str]:
    """``save_pretrained``'s warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_pretrained(model, folder, **kwargs)
    return [str(w.message) for w in caught if "unknown to save_pretrained" in str(w.message)]


def test_a_save_that_knows_no_statistics_warns_once(tmp_path):
    env = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
    model = SAC("LargeMlpPolicy", env, buffer_size=100, policy_kwargs=dict(width=16, depth=1))
    model.save(tmp_path / "run.zip")
    assert _saves(model, tmp_path / "with_env") == []  # its env holds both

    (warning,) = _saves(SAC.load(tmp_path / "run.zip"), tmp_path / "zip")
    assert warning.startswith("vec_normalize and env_id: unknown to save_pretrained (the model has no env)")
    assert "model.set_env(VecNormalize.load('vecnormalize.pkl', venv)) and pass env_id= (CLI: --env)" in warning
    assert "python -m sb3_large.hub save <run folder> <folder>" in warning
    config = json.loads((tmp_path / "zip" / CONFIG_NAME).read_text())
    assert config["vec_normalize"] is None and config["env_id"] is None

    (warning,) = _saves(SAC.load(tmp_path / "run.zip"), tmp_path / "zip_env_id", env_id="Pendulum-v1")
    assert warning.startswith("vec_normalize: unknown to save_pretrained") and "env_id=" not in warning

    with pytest.warns(UserWarning, match=r"vec_normalize and env_id: unknown to save_pretrained"):
        hub_main(["save", str(tmp_path / "run.zip"), str(tmp_path / "cli")])

    # A model folder's config says what the model was saved with: loaded without env, it saves without a warning.
    with pytest.warns(UserWarning, match="vec_normalize: the model acts on observations normalized"):
        loaded = load_pretrained(tmp_path / "with_env")
    assert _saves(loaded, tmp_path / "again") == []


# -- 7. long legend labels ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_envs", [1, 3])
def test_long_legend_labels_stay_inside_the_figure(tmp_path, n_envs):
    labels = [
        "sac/Pendulum-v1 (sac_large.yml, policy_kwargs.actor_net={'width': 256, 'norm': 'layer'}, "
        "learning_rate=0.001, gradient_steps=2, ...)",
        "td3/Pendulum-v1 (td3_large.yml, policy_kwargs.critic_net={'width': 1024, 'depth': 3}, noise_std=0.1, ...)",
        "a_folder_name_without_any_space_" * 6,
        "short",
    ]
    steps = np.arange(10) * 100.0
    runs = [
        Run(Path(f"{i}_{env}"), label, {"return/evaluation": (steps, steps * i)}, env=f"Env{env}-v1")
        for i, label in enumerate(labels)
        for env in range(n_envs)
    ]
    figure = plot_runs(runs)
    figure.canvas.draw()  # Agg
    assert figure.legends
    for legend in figure.legends:
        box, inside = legend.get_window_extent(), figure.bbox
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1, box
    texts = [text.get_text().replace("\n", " ") for text in figure.legends[0].get_texts()]
    assert all(any(label[:20] in text for text in texts) for label in labels)
    assert save_figure(figure, tmp_path / "plot.png").stat().st_size > 0
