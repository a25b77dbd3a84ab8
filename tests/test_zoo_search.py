"""``python -m sb3_large.zoo train -optimize``: RL Zoo's search over the large-network knobs."""

import argparse
import csv
import glob
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch as th
import yaml
from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER
from stable_baselines3 import SAC
from stable_baselines3.common.noise import NormalActionNoise

import sb3_large
from sb3_large.policies import LargeSACPolicy, LargeTD3Policy, OFENetSACPolicy, OFENetTD3Policy
from sb3_large.zoo import main, parse_search_space
from sb3_large.zoo_search import (
    LargeExperimentManager,
    LargeSampler,
    OptionalOFENetTrainer,
    SearchSpace,
    bound,
    dump_entry,
    merge_entry,
)

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "hyperparams" / "sac_large.yml")
TINY = dict(widths=(16, 32), depths=(1, 2), ofenet_layers=(1, 2), ofenet_growth=(4, 8))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks gain nothing from more threads, and lose a lot on a busy machine; put the setting back after."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)


def _env() -> dict:
    # One torch thread: the tiny networks gain nothing from more, and a busy machine loses a lot.
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def test_search_then_stock_rl_zoo_trains_from_the_best_entry(tmp_path):
    search = [sys.executable, "-m", "sb3_large.zoo", "train", "--algo", "sac", "--env", "Pendulum-v1"]
    search += ["-conf", CONF, "-f", "logs", "-optimize", "--n-trials", "2", "--n-jobs", "2", "-n", "400"]
    search += ["--n-evaluations", "2", "--eval-episodes", "1", "--no-optim-plots", "--sampler", "random"]
    search += ["--seed", "1", "-params", "learning_starts:100"]
    search += ["--search-space", "widths:[16,32]", "depths:[1,2]", "ofenet:[true]", "ofenet_layers:[1,2]"]
    search += ["ofenet_growth:[4,8]", "ofenet_kwargs:{pretrain_steps: 10}"]
    result = subprocess.run(search, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    (report,) = glob.glob(str(tmp_path / "logs" / "sac" / "report_Pendulum-v1_2-trials-400-random-median_*.csv"))
    with open(report) as f:
        trials = list(csv.DictReader(f))
    assert len(trials) == 2 and {t["params_arch"] for t in trials} <= {"mlp", "densenet", "d2rl", "residual"}
    assert {t["state"] for t in trials} <= {"COMPLETE", "PRUNED"} and {t["params_ofenet"] for t in trials} == {"True"}
    entry_path = report[: -len(".csv")] + ".yml"
    text = Path(entry_path).read_text()
    assert "learning_rate: !!float " in text and "gamma: !!float " in text
    entry = yaml.safe_load(text)["Pendulum-v1"]
    assert entry["policy"] == "sb3_large.policies.OFENetSACPolicy"
    assert entry["callback"] == ["sb3_large.ofenet.OFENetTrainer"]
    kwargs = entry["policy_kwargs"]
    assert kwargs["width"] in (16, 32) and kwargs["depth"] in (1, 2) and kwargs["ofenet_kwargs"]["pretrain_steps"] == 10
    assert isinstance(entry["learning_rate"], float) and entry["learning_starts"] == 100
    assert entry["gradient_steps"] == entry["train_freq"]

    train = [sys.executable, "-m", "rl_zoo3.train", "--algo", "sac", "--env", "Pendulum-v1"]
    train += ["-conf", entry_path, "-f", "trained", "-n", "250"]
    result = subprocess.run(train, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    model = SAC.load(tmp_path / "trained" / "sac" / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert isinstance(model.policy, OFENetSACPolicy)
    assert model.policy.actor_spec.width == kwargs["width"] and model.policy.actor_spec.arch == kwargs["arch"]
    assert model.policy.ofenet.n_updates > 0


def _params(ofenet: bool, algo: str) -> dict:
    params = dict(arch="residual", log2_width=4, depth=1, activation="elu", norm="layer", ofenet=ofenet)
    params.update(one_minus_gamma=0.01, learning_rate=1e-3, batch_size_pow=5, train_freq=2, tau=0.01)
    if ofenet:
        params.update(ofenet_layers=2, ofenet_growth=4)
    if algo == "td3":
        params.update(noise_type="normal", noise_std=0.2)
    return params


@pytest.mark.parametrize("algo", ["sac", "td3"])
@pytest.mark.parametrize("ofenet", [False, True])
def test_sampled_models_train_with_the_optional_trainer(algo, ofenet):
    sampler = LargeSampler(algo, SearchSpace(**TINY, ofenet_kwargs={"pretrain_steps": 5}))
    trial = optuna.trial.FixedTrial(_params(ofenet, algo))
    kwargs = sampler(trial, n_actions=1, n_envs=1, additional_args={"using_her_replay_buffer": False})
    expected = {("sac", False): LargeSACPolicy, ("sac", True): OFENetSACPolicy}
    expected.update({("td3", False): LargeTD3Policy, ("td3", True): OFENetTD3Policy})
    assert kwargs["policy"] is expected[algo, ofenet]
    assert kwargs["gamma"] == pytest.approx(0.99) and kwargs["batch_size"] == 32 and kwargs["gradient_steps"] == 2
    assert ("ofenet_kwargs" in kwargs["policy_kwargs"]) is ofenet
    if algo == "td3":
        assert isinstance(kwargs["action_noise"], NormalActionNoise)
    model = {"sac": sb3_large.SAC, "td3": sb3_large.TD3}[algo](env="Pendulum-v1", learning_starts=50, **kwargs)
    model.learn(120, callback=OptionalOFENetTrainer())
    assert model.policy.actor_spec.width == 16 and model.policy.actor_spec.arch == "residual"
    if ofenet:
        assert int(model.policy.ofenet.n_updates) > 5


def _manager(tmp_path, space: SearchSpace) -> LargeExperimentManager:
    manager = LargeExperimentManager(
        argparse.Namespace(),
        "sac",
        "Pendulum-v1",
        str(tmp_path / "logs"),
        n_timesteps=300,
        n_eval_episodes=1,
        hyperparams={"learning_starts": 100},
        optimize_hyperparameters=True,
        n_evaluations=2,
        config=CONF,
        verbose=0,
        search_space=space,
    )
    assert manager.setup_experiment() is None
    return manager


@pytest.mark.parametrize(
    ("pruner", "state"),
    [(optuna.pruners.ThresholdPruner(lower=1e9), "PRUNED"), (optuna.pruners.NopPruner(), "COMPLETE")],
)
def test_trials_are_pruned_by_rl_zoos_eval_callback(tmp_path, pruner, state):
    manager = _manager(tmp_path, SearchSpace(**TINY, ofenet=(True,), ofenet_kwargs={"pretrain_steps": 5}))
    study = optuna.create_study(direction="maximize", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
    with bound(HYPERPARAMS_SAMPLER, "sac", manager.large_sampler):
        study.optimize(manager.objective, n_trials=1)
    assert HYPERPARAMS_SAMPLER["sac"].__module__ == "rl_zoo3.hyperparams_opt"
    (trial,) = study.trials
    assert trial.state.name == state
    # The threshold pruner stops a trial at its first evaluation (150 steps); the other runs both.
    assert sorted(trial.intermediate_values) == ([1] if state == "PRUNED" else [1, 2])
    assert manager.study is study


def test_best_entry_keeps_the_base_entry_and_its_other_callbacks(tmp_path):
    manager = _manager(tmp_path, SearchSpace(**TINY))
    manager.base_entry["callback"] = ["sb3_large.ofenet.OFENetTrainer", {"my.Callback": {"k": 1}}]
    study = optuna.create_study(direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            params=_params(False, "sac"),
            distributions={
                k: optuna.distributions.CategoricalDistribution([v]) for k, v in _params(False, "sac").items()
            },
            value=-100.0,
        )
    )
    path = manager.write_best_entry(study)
    entry = yaml.safe_load(Path(path).read_text())["Pendulum-v1"]
    assert entry["policy"] == "sb3_large.policies.LargeSACPolicy" and "ofenet_kwargs" not in entry["policy_kwargs"]
    assert entry["callback"] == [{"my.Callback": {"k": 1}}]  # no OFENet trainer without OFENet
    assert entry["n_timesteps"] == 20000 and entry["learning_starts"] == 100
    assert entry["policy_kwargs"]["width"] == 16 and entry["policy_kwargs"]["arch"] == "residual"


def test_merge_entry_replaces_the_body_and_adds_the_trainer():
    base = {"policy": "MlpPolicy", "policy_kwargs": {"net_arch": [64]}, "callback": "x.Y", "n_timesteps": 1000}
    hyperparams = LargeSampler("sac", SearchSpace()).hyperparams(_params(True, "sac"))
    entry = merge_entry(base, hyperparams)
    assert entry["callback"] == ["x.Y", "sb3_large.ofenet.OFENetTrainer"]
    assert "net_arch" not in entry["policy_kwargs"] and entry["n_timesteps"] == 1000


def test_dump_entry_tags_floats_and_round_trips():
    entry = {"learning_rate": 3e-4, "gamma": 0.99, "n": 5, "schedule": "lin_1e-3", "text": "0.5", "big": 1e6}
    text = dump_entry("Hopper-v4", entry, header="one\ntwo")
    assert text.startswith("# one\n# two\n")
    assert "learning_rate: !!float 0.0003" in text and "big: !!float 1000000.0" in text
    assert yaml.safe_load(text) == {"Hopper-v4": entry}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"widht": [16, 32]}, "search_space.widht: unknown option; allowed: archs, widths"),
        ({"widths": [16, 48]}, "search_space.widths: low and high must be powers of two"),
        ({"widths": [64, 16]}, r"search_space.widths: need 1 <= low <= high"),
        ({"depths": 3}, r"search_space.depths: must be \[low, high\] integers"),
        ({"archs": []}, "search_space.archs: must be a non-empty list"),
        ({"ofenet": ["yes"]}, r"search_space.ofenet: 'yes' is not allowed; allowed: \[False, True\]"),
        ({"norms": ["batch"]}, "search_space: arch 'residual' with norm 'batch'"),
        ({"archs": ["mlp"], "activations": ["relu", "sigmoidal"]}, "activation 'sigmoidal' fails"),
        ({"ofenet_kwargs": {"layers": 3}}, "search_space.ofenet_kwargs.layers: sampled"),
        ({"ofenet_kwargs": {"pretrain": 3}}, "ofenet.pretrain: unknown option"),
        ({"policy_kwargs": {"width": 3}}, "search_space.policy_kwargs.width: sampled by the search"),
    ],
)
def test_search_space_errors_name_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace.from_kwargs(values)


def test_launcher_parses_the_search_space():
    space = parse_search_space(["widths:[16,64]", "ofenet:[false]", "ofenet_kwargs:{pretrain_steps: 3}"])
    assert space.widths == (16, 64) and space.ofenet == (False,) and space.ofenet_kwargs == {"pretrain_steps": 3}
    with pytest.raises(SystemExit, match="--search-space: expected key:value, got 'widths'"):
        parse_search_space(["widths"])
    with pytest.raises(SystemExit, match="--search-space: search_space.depths: must be"):
        parse_search_space(["depths:two"])
    with pytest.raises(SystemExit, match=r"usage: python -m sb3_large.zoo \{train,enjoy\} \[--search-space"):
        main(["optimize"])


def test_the_sampler_refuses_other_algorithms():
    with pytest.raises(ValueError, match="algo: 'ppo' has no large-network sampler; allowed: sac, td3"):
        LargeSampler("ppo", SearchSpace())


def test_trial_id_trains_a_stored_trial_with_its_trainer(tmp_path):
    storage = str(tmp_path / "study.log")
    study = optuna.create_study(
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage)),
        study_name="large",
        direction="maximize",
    )
    for ofenet in (False, True):
        params = _params(ofenet, "sac")
        distributions = {k: optuna.distributions.CategoricalDistribution([v]) for k, v in params.items()}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=-1.0))
    manager = LargeExperimentManager(
        argparse.Namespace(), "sac", "Pendulum-v1", str(tmp_path / "logs"), config=CONF, storage=storage,
        study_name="large", trial_id=1, verbose=0,
    )  # fmt: skip
    hyperparams, saved = manager.read_hyperparameters()
    for values in (hyperparams, saved):
        assert values["policy"] == "sb3_large.policies.OFENetSACPolicy"
        assert values["callback"] == ["sb3_large.ofenet.OFENetTrainer"]
        assert values["policy_kwargs"]["ofenet_kwargs"] == {"layers": 2, "growth": 4}
        assert values["batch_size"] == 32 and values["n_timesteps"] == 20000
