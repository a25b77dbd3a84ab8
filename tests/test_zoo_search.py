"""``python -m sb3_large.zoo train -optimize``: RL Zoo's search over the large-network knobs."""

import argparse
import csv
import glob
import os
import sys
from pathlib import Path

import optuna
import pytest
import torch as th
import yaml
from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.noise import NormalActionNoise

import sb3_large
from sb3_large.policies import (
    LargeCrossQPolicy,
    LargeSACPolicy,
    LargeTD3Policy,
    LargeTQCPolicy,
    OFENetSACPolicy,
    OFENetTD3Policy,
)
from sb3_large.zoo import main, parse_search_space
from sb3_large.zoo.callbacks import OptionalObsNormUpdater, OptionalOFENetTrainer
from sb3_large.zoo.entries import dump_entry, merge_entry
from sb3_large.zoo.manager import LargeExperimentManager, bound
from sb3_large.zoo.sampler import LargeSampler
from sb3_large.zoo.space import SearchSpace

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "hyperparams" / "sac_large.yml")
TINY = dict(widths=(16, 32), depths=(1, 2), ofenet_layers=(1, 2), ofenet_growth=(4, 8))
STOCK = {"sac": SAC, "td3": TD3, "tqc": TQC, "crossq": CrossQ}
FAST = {"sac": sb3_large.SAC, "td3": sb3_large.TD3, "tqc": TQC, "crossq": CrossQ}


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


# Per algorithm: its base entry (None: RL Zoo's own YAML) and options the search space turns on, so that between
# them every sampled option (OFENet, observation normalization, categorical critics, replay ratio) reaches a YAML
# entry that trains: with stock rl_zoo3.train, or (categorical critics) with the launcher its header names.
SEARCHES = {
    "sac": (CONF, ["ofenet:[true]", "normalize_obs:[true]", "q_distribution:[true]", "replay_ratios:[2]"]),
    "td3": (
        str(ROOT / "hyperparams" / "td3_ota2021.yml"),
        ["ofenet:[false]", "normalize_obs:[false]", "q_distribution:[false]"],
    ),
    "tqc": (None, ["ofenet:[true]", "normalize_obs:[true]"]),
    "crossq": (str(ROOT / "hyperparams" / "crossq_large.yml"), ["ofenet:[true]", "normalize_obs:[false]"]),
}
POLICY_CLASSES = {
    ("sac", True): OFENetSACPolicy,
    ("td3", False): LargeTD3Policy,
    ("tqc", True): LargeTQCPolicy,
    ("crossq", True): LargeCrossQPolicy,
}


@pytest.mark.parametrize("algo", list(SEARCHES))
def test_search_then_rl_zoo_trains_from_the_best_entry(tmp_path, monkeypatch, capsys, algo):
    # In this process (a fresh interpreter per run would spend most of the test importing).
    monkeypatch.chdir(tmp_path)
    conf, options = SEARCHES[algo]
    search = ["train", "--algo", algo, "--env", "Pendulum-v1", *(["-conf", conf] if conf else [])]
    search += ["-f", "logs", "-optimize", "--n-trials", "2", "-n", "200", "--n-evaluations", "2"]
    search += ["--n-jobs", "2" if algo == "sac" else "1", "--verbose", "0"]
    search += ["--eval-episodes", "1", "--no-optim-plots", "--sampler", "random", "--seed", "1"]
    search += ["-params", "learning_starts:100", "--search-space", "widths:[16,32]", "depths:[1,2]", *options]
    search += ["ofenet_layers:[1,2]", "ofenet_growth:[4,8]", "ofenet_kwargs:{pretrain_steps: 10}"]
    main(search)
    learner = {"sac": "sb3_large.SAC", "td3": "sb3_large.TD3", "tqc": "sb3_contrib.TQC", "crossq": "sb3_contrib.CrossQ"}
    assert f"sb3_large.zoo: --algo {algo} trains with {learner[algo]} " in capsys.readouterr().out

    (report,) = glob.glob(str(tmp_path / "logs" / algo / "report_Pendulum-v1_2-trials-200-random-median_*.csv"))
    with open(report) as f:
        trials = list(csv.DictReader(f))
    assert len(trials) == 2 and {t["state"] for t in trials} <= {"COMPLETE", "PRUNED"}
    expected_archs = {"mlp", "densenet", "d2rl"} | ({"residual"} if algo != "crossq" else set())
    assert {t["params_arch"] for t in trials} <= expected_archs
    entry_path = report[: -len(".csv")] + ".yml"
    text = Path(entry_path).read_text()
    assert "learning_rate: !!float " in text and "gamma: !!float " in text
    entry = yaml.safe_load(text)["Pendulum-v1"]
    ofenet, normalize = "ofenet:[true]" in options, "normalize_obs:[true]" in options
    policy_class = POLICY_CLASSES[algo, ofenet]
    assert entry["policy"] == f"sb3_large.policies.{policy_class.__name__}"
    callbacks = ["sb3_large.ofenet.OFENetTrainer"] * ofenet + ["sb3_large.normalization.ObsNormUpdater"] * normalize
    assert entry.get("callback", []) == callbacks
    kwargs = entry["policy_kwargs"]
    assert kwargs["actor_net"]["width"] in (16, 32) and kwargs["critic_net"]["width"] in (16, 32)
    assert kwargs["depth"] in (1, 2) and ("ofenet_kwargs" in kwargs) is ofenet
    assert kwargs.get("normalize_obs", False) is normalize
    assert ("q_distribution" in kwargs) is (algo == "sac")
    assert isinstance(entry["learning_rate"], float) and entry["learning_starts"] == 100
    ratios = (2,) if algo == "sac" else (1, 2)
    assert entry["gradient_steps"] in [entry["train_freq"] * ratio for ratio in ratios]
    assert ("tau" in entry) is (algo != "crossq") and ("policy_delay" in entry) is (algo == "crossq")
    assert ("top_quantiles_to_drop_per_net" in entry) is (algo == "tqc")

    from rl_zoo3.train import train
    from rl_zoo3.utils import ALGOS

    assert ALGOS[algo] is STOCK[algo]  # the launcher put RL Zoo back
    run = ["--algo", algo, "--env", "Pendulum-v1", "-conf", entry_path, "-f", "trained"]
    run += ["-n", "150", "--eval-freq", "-1", "--verbose", "0"]
    categorical = "q_distribution" in kwargs
    if categorical:
        # As the entry's header says: only sb3_large's SAC / TD3 train categorical critics by cross-entropy.
        assert f"# python -m sb3_large.zoo train --algo {algo} " in text
        capsys.readouterr()
        main(["train", *run])
        assert f"sb3_large.zoo: --algo {algo} trains with {learner[algo]} " in capsys.readouterr().out
        assert ALGOS[algo] is STOCK[algo]
    else:
        assert f"# python -m rl_zoo3.train --algo {algo} " in text
        monkeypatch.setattr(sys, "argv", ["rl_zoo3.train", *run])
        train()  # stock rl_zoo3.train
    learner_class = FAST[algo] if categorical else STOCK[algo]
    model = learner_class.load(tmp_path / "trained" / algo / "Pendulum-v1_1" / "Pendulum-v1.zip")
    assert type(model) is learner_class
    assert type(model.policy) is policy_class and model.num_timesteps >= 150
    assert model.policy.actor_spec.width == kwargs["actor_net"]["width"]
    assert model.policy.critic_spec.width == kwargs["critic_net"]["width"]
    assert model.policy.actor_spec.arch == kwargs["arch"]
    if ofenet:
        assert model.policy.ofenet.n_updates > 0
    if normalize:
        assert int(model.policy.obs_norm.count) == model.num_timesteps
    capsys.readouterr()
    main(["enjoy", "--algo", algo, "--env", "Pendulum-v1", "-f", "trained", "-n", "20", "--no-render"])
    assert f"sb3_large.zoo: --algo {algo} loads with {learner[algo]} " in capsys.readouterr().out
    assert ALGOS[algo] is STOCK[algo]


def _params(algo: str, options: bool) -> dict:
    """A trial's parameters; ``options`` turns on OFENet, observation normalization and categorical critics."""
    params = dict(arch="residual", log2_actor_width=4, log2_critic_width=5, depth=1, activation="elu", norm="layer")
    params.update(ofenet=options, normalize_obs=options, q_distribution=options and algo in ("sac", "td3"))
    params.update(one_minus_gamma=0.01, learning_rate=1e-3, batch_size_pow=5, train_freq=2, replay_ratio=2)
    if options:
        params.update(ofenet_layers=2, ofenet_growth=4)
    if algo != "crossq":
        params.update(tau=0.01)
    if algo == "td3":
        params.update(noise_type="normal", noise_std=0.2)
    if algo == "tqc":
        params.update(n_quantiles=5, top_quantiles_to_drop_per_net=1)
    if algo == "crossq":
        params.update(norm="batch_renorm", arch="mlp", policy_delay=2)
    return params


@pytest.mark.parametrize("algo", ["sac", "td3", "tqc", "crossq"])
@pytest.mark.parametrize("options", [False, True], ids=["plain", "ofenet-obsnorm-categorical"])
def test_sampled_models_train_with_the_optional_callbacks(algo, options):
    space = SearchSpace.from_kwargs({**TINY, "ofenet_kwargs": {"pretrain_steps": 5}}, algo)
    sampler = LargeSampler(algo, space)
    trial = optuna.trial.FixedTrial(_params(algo, options))
    kwargs = sampler(trial, n_actions=1, n_envs=1, additional_args={"using_her_replay_buffer": False})
    expected = {("sac", True): OFENetSACPolicy, ("td3", True): OFENetTD3Policy, ("td3", False): LargeTD3Policy}
    expected.update({("sac", False): LargeSACPolicy, ("tqc", True): LargeTQCPolicy, ("tqc", False): LargeTQCPolicy})
    expected.update({("crossq", True): LargeCrossQPolicy, ("crossq", False): LargeCrossQPolicy})
    assert kwargs["policy"] is expected[algo, options]
    assert kwargs["gamma"] == pytest.approx(0.99) and kwargs["batch_size"] == 32 and kwargs["gradient_steps"] == 4
    policy_kwargs = kwargs["policy_kwargs"]
    assert ("ofenet_kwargs" in policy_kwargs) is options and policy_kwargs.get("normalize_obs", False) is options
    assert ("q_distribution" in policy_kwargs) is (options and algo in ("sac", "td3"))
    if algo == "td3":
        assert isinstance(kwargs["action_noise"], NormalActionNoise)
    model = FAST[algo](env="Pendulum-v1", learning_starts=50, **kwargs)
    model.learn(110, callback=[OptionalOFENetTrainer(), OptionalObsNormUpdater()])
    policy = model.policy
    assert policy.actor_spec.width == 16 and policy.critic_spec.width == 32
    assert policy.actor_spec.arch == trial.params["arch"]
    if options:
        assert int(model.policy.ofenet.n_updates) > 5 and int(model.policy.obs_norm.count) == 110
    if algo == "tqc":
        assert model.policy.critic.n_quantiles == 5 and model.top_quantiles_to_drop_per_net == 1
    if algo == "crossq":
        assert model.policy_delay == 2


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


def _study_with(params_list: list[dict], storage=None) -> optuna.Study:
    study = optuna.create_study(storage=storage, study_name="large" if storage else None, direction="maximize")
    for params in params_list:
        distributions = {k: optuna.distributions.CategoricalDistribution([v]) for k, v in params.items()}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=-100.0))
    return study


def test_best_entry_keeps_the_base_entry_and_its_other_callbacks(tmp_path):
    manager = _manager(tmp_path, SearchSpace(**TINY))
    callbacks = ["sb3_large.ofenet.OFENetTrainer", {"my.Callback": {"k": 1}}, "sb3_large.normalization.ObsNormUpdater"]
    manager.base_entry["callback"] = callbacks
    path = manager.write_best_entry(_study_with([_params("sac", False)]), manager.large_sampler)
    text = Path(path).read_text()
    assert f"# python -m rl_zoo3.train --algo sac --env Pendulum-v1 -conf {path}\n" in text
    entry = yaml.safe_load(text)["Pendulum-v1"]
    assert entry["policy"] == "sb3_large.policies.LargeSACPolicy" and "ofenet_kwargs" not in entry["policy_kwargs"]
    assert entry["callback"] == [{"my.Callback": {"k": 1}}]  # no OFENet trainer or updater: the policy needs none
    assert entry["n_timesteps"] == 20000 and entry["learning_starts"] == 100
    kwargs = entry["policy_kwargs"]
    assert kwargs["actor_net"] == {"width": 16} and kwargs["critic_net"] == {"width": 32}
    assert kwargs["arch"] == "residual" and "width" not in kwargs


def test_best_entry_with_categorical_critics_names_the_launcher_that_trains_them(tmp_path):
    manager = _manager(tmp_path, SearchSpace(**TINY))
    path = manager.write_best_entry(_study_with([_params("sac", True)]), manager.large_sampler)
    text = Path(path).read_text()
    assert f"# python -m sb3_large.zoo train --algo sac --env Pendulum-v1 -conf {path}\n" in text
    entry = yaml.safe_load(text)["Pendulum-v1"]
    assert entry["policy_kwargs"]["q_distribution"] == {} and entry["policy_kwargs"]["normalize_obs"] is True
    assert entry["callback"] == ["sb3_large.ofenet.OFENetTrainer", "sb3_large.normalization.ObsNormUpdater"]


def test_the_dotted_paths_saved_entries_name_still_load():
    """YAML entries keep dotted paths: earlier searches wrote ``sb3_large.zoo_search.Optional*``, this one writes
    ``sb3_large.zoo.callbacks.Optional*``; recipes name the guard ``sb3_large.zoo.RequiresLauncher``."""
    from rl_zoo3.utils import get_class_by_name

    from sb3_large.zoo import RequiresLauncher
    from sb3_large.zoo.callbacks import OPTIONAL_OBS_NORM_UPDATER, OPTIONAL_OFENET_TRAINER, callbacks_without_ours

    old = ["sb3_large.zoo_search.OptionalOFENetTrainer", "sb3_large.zoo_search.OptionalObsNormUpdater"]
    new = [OPTIONAL_OFENET_TRAINER, OPTIONAL_OBS_NORM_UPDATER]
    assert new == ["sb3_large.zoo.callbacks.OptionalOFENetTrainer", "sb3_large.zoo.callbacks.OptionalObsNormUpdater"]
    for paths in (old, new):
        assert [get_class_by_name(path) for path in paths] == [OptionalOFENetTrainer, OptionalObsNormUpdater]
    assert get_class_by_name("sb3_large.zoo.RequiresLauncher") is RequiresLauncher
    assert callbacks_without_ours([*old, *new, "x.Y"]) == ["x.Y"]  # a search replaces either with its own


def test_merge_entry_replaces_the_body_and_adds_the_callbacks():
    base = {"policy": "MlpPolicy", "policy_kwargs": {"net_arch": [64]}, "callback": "x.Y", "n_timesteps": 1000}
    hyperparams = LargeSampler("sac", SearchSpace(**TINY)).hyperparams(_params("sac", True))
    entry = merge_entry(base, hyperparams)
    assert entry["callback"] == ["x.Y", "sb3_large.ofenet.OFENetTrainer", "sb3_large.normalization.ObsNormUpdater"]
    assert "net_arch" not in entry["policy_kwargs"] and entry["n_timesteps"] == 1000
    assert entry["gradient_steps"] == 4 and entry["train_freq"] == 2  # replay ratio 2


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
        ({"critic_widths": [16, 48]}, "search_space.critic_widths: low and high must be powers of two"),
        ({"widths": [64, 16]}, r"search_space.widths: need 1 <= low <= high"),
        ({"depths": 3}, r"search_space.depths: must be \[low, high\] integers"),
        ({"archs": []}, "search_space.archs: must be a non-empty list"),
        ({"ofenet": ["yes"]}, r"search_space.ofenet: 'yes' is not allowed; allowed: \[False, True\]"),
        ({"normalize_obs": True}, "search_space.normalize_obs: must be a non-empty list"),
        ({"replay_ratios": [0, 2]}, "search_space.replay_ratios: must be positive integers"),
        ({"ofenet_kwargs": {"layers": 3}}, "search_space.ofenet_kwargs.layers: sampled"),
        ({"ofenet_kwargs": {"pretrain": 3}}, "ofenet.pretrain: unknown option"),
        ({"q_distribution_kwargs": {"bins": 1}}, "q_distribution.bins: must be an integer >= 2"),
        ({"obs_norm_kwargs": {"clip": -1.0}}, "obs_norm_kwargs.clip: must be a finite number > 0"),
    ],
)
def test_search_space_errors_name_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace.from_kwargs(values)


@pytest.mark.parametrize(
    ("algo", "values", "message"),
    [
        ("sac", {"norms": ["batch"]}, "search_space: sac with arch 'residual', norm 'batch'"),
        ("tqc", {"archs": ["mlp"], "norms": ["batch_renorm"]}, "critic_net.norm: 'batch_renorm' cannot be used"),
        ("sac", {"archs": ["mlp"], "activations": ["relu", "sigmoidal"]}, "activation 'sigmoidal' fails"),
        ("crossq", {"q_distribution": [True]}, "search_space.q_distribution: crossq's learner does not train"),
        ("tqc", {"q_distribution": [False, True]}, "search_space.q_distribution: tqc's learner does not train"),
        ("td3", {"policy_kwargs": {"ensemble_critic": True}}, "policy_kwargs: unknown option 'ensemble_critic'"),
        ("tqc", {"policy_kwargs": {"n_quantiles": 3}}, "search_space.policy_kwargs.n_quantiles: sampled"),
    ],
)
def test_the_space_is_checked_for_the_algorithm(algo, values, message):
    with pytest.raises(ValueError, match=message):
        LargeSampler(algo, SearchSpace.from_kwargs({**TINY, **values}, algo))


# Every name under which the policies take a kwarg that a trial sets: old names and SB3's shorthands included.
SAMPLED = ["arch", "width", "depth", "activation", "norm", "arch_kwargs", "actor_net", "critic_net", "actor", "critic"]
SAMPLED += [
    "net_arch",
    "activation_fn",
    "ofenet",
    "ofenet_kwargs",
    "normalize_obs",
    "obs_norm_kwargs",
    "q_distribution",
]


@pytest.mark.parametrize("name", SAMPLED)
def test_a_sampled_policy_kwarg_cannot_be_fixed_under_any_name(name):
    with pytest.raises(ValueError, match=f"search_space.policy_kwargs.{name}: sampled by the search, cannot be fixed"):
        LargeSampler("sac", SearchSpace(**TINY, policy_kwargs={name: {}}))


def test_each_algorithm_has_its_defaults():
    crossq = SearchSpace.from_kwargs({}, "crossq")
    assert "batch_renorm" in crossq.norms and "residual" not in crossq.archs and crossq.q_distribution == (False,)
    assert SearchSpace.from_kwargs({}, "tqc").q_distribution == (False,)
    assert SearchSpace.from_kwargs({"norms": ["layer"]}, "crossq").norms == ("layer",)
    assert SearchSpace.from_kwargs({}, "sac") == SearchSpace()


def test_launcher_parses_the_search_space():
    space = parse_search_space(["widths:[16,64]", "ofenet:[false]", "ofenet_kwargs:{pretrain_steps: 3}"], "sac")
    assert space.widths == (16, 64) and space.ofenet == (False,) and space.ofenet_kwargs == {"pretrain_steps": 3}
    assert parse_search_space([], "crossq") == SearchSpace.from_kwargs({}, "crossq")
    with pytest.raises(SystemExit, match="--search-space: expected key:value, got 'widths'"):
        parse_search_space(["widths"], "sac")
    with pytest.raises(SystemExit, match="--search-space: search_space.depths: must be"):
        parse_search_space(["depths:two"], "sac")
    with pytest.raises(SystemExit, match="--search-space: search_space.policy_kwargs.critic: sampled by the search"):
        parse_search_space(["policy_kwargs:{critic: {width: 64}}"], "td3")
    with pytest.raises(SystemExit, match=r"usage: python -m sb3_large.zoo \{train,enjoy\} \[--search-space"):
        main(["optimize"])


def test_launcher_refuses_what_would_be_ignored_or_fail_late(capsys, monkeypatch):
    with pytest.raises(SystemExit, match="--search-space: only with -optimize .* or --trial-id"):
        main(["train", "--algo", "sac", "--env", "Pendulum-v1", "--search-space", "widths:[16,32]"])
    with pytest.raises(SystemExit, match="-optimize: algo: 'ppo' has no large-network sampler; allowed: sac, td3"):
        main(["train", "--algo", "ppo", "--env", "Pendulum-v1", "-optimize"])
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    with pytest.raises(SystemExit, match="-tb runs/x: tensorboard is not installed; pip install 'sb3-large\\[zoo\\]'"):
        main(["train", "--algo", "sac", "--env", "Pendulum-v1", "-tb", "runs/x"])
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "-h"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--search-space KEY:VALUE" in out and "replay_ratios" in out and "usage: rl_zoo3.train" in out


def test_the_sampler_and_the_manager_refuse_other_algorithms(tmp_path):
    with pytest.raises(ValueError, match="algo: 'ppo' has no large-network sampler; allowed: sac, td3, tqc, crossq"):
        LargeSampler("ppo", SearchSpace())
    with pytest.raises(ValueError, match="algo: 'ppo' has no large-network sampler"):
        LargeExperimentManager(
            argparse.Namespace(), "ppo", "Pendulum-v1", str(tmp_path), optimize_hyperparameters=True, verbose=0
        )
    stock = LargeExperimentManager(argparse.Namespace(), "ppo", "Pendulum-v1", str(tmp_path), verbose=0)
    assert stock.large_sampler is None  # training without -optimize stays RL Zoo's


@pytest.mark.parametrize("trial_id", [0, 1])  # Optuna numbers trials from 0: the first is often a short search's best
def test_trial_id_trains_a_stored_trial_with_its_callbacks(tmp_path, trial_id):
    storage = str(tmp_path / "study.log")
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    trials = [_params("sac", False), _params("sac", False)]
    trials[trial_id] = _params("sac", True)
    _study_with(trials, storage=journal)
    manager = LargeExperimentManager(
        argparse.Namespace(), "sac", "Pendulum-v1", str(tmp_path / "logs"), config=CONF, storage=storage,
        study_name="large", trial_id=trial_id, verbose=0,
    )  # fmt: skip
    hyperparams, saved = manager.read_hyperparameters()
    for values in (hyperparams, saved):
        assert values["policy"] == "sb3_large.policies.OFENetSACPolicy"
        assert values["callback"] == ["sb3_large.ofenet.OFENetTrainer", "sb3_large.normalization.ObsNormUpdater"]
        assert values["policy_kwargs"]["ofenet_kwargs"] == {"layers": 2, "growth": 4}
        assert values["batch_size"] == 32 and values["n_timesteps"] == 20000


def _trial_id_manager(tmp_path, algo: str, params_list: list[dict], config: str | None = CONF, **kwargs):
    storage = str(tmp_path / "study.log")
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    _study_with(params_list, storage=journal)
    return LargeExperimentManager(
        argparse.Namespace(), algo, "Pendulum-v1", str(tmp_path / "logs"), config=config, storage=storage,
        study_name="large", trial_id=len(params_list) - 1, verbose=0, **kwargs,
    )  # fmt: skip


def test_trial_id_trains_a_trial_of_the_search_before_actor_and_critic_widths_were_apart(tmp_path):
    # Parameters as the search stored them before this release: one log2_width, no obs norm / categorical / ratio.
    old = dict(arch="densenet", log2_width=5, depth=2, activation="relu", norm="layer", ofenet=True)
    old.update(ofenet_layers=2, ofenet_growth=4, one_minus_gamma=0.01, learning_rate=1e-3, batch_size_pow=6)
    old.update(train_freq=3, tau=0.02)
    hyperparams, _ = _trial_id_manager(tmp_path, "sac", [old, old]).read_hyperparameters()
    kwargs = hyperparams["policy_kwargs"]
    assert kwargs["actor_net"] == {"width": 32} and kwargs["critic_net"] == {"width": 32}
    assert "normalize_obs" not in kwargs and "q_distribution" not in kwargs
    assert hyperparams["gradient_steps"] == 3 and hyperparams["train_freq"] == 3
    assert hyperparams["callback"] == ["sb3_large.ofenet.OFENetTrainer"]


def test_trial_id_trains_a_stock_rl_zoo_trial_with_rl_zoos_converter(tmp_path):
    # What stock rl_zoo3.train --algo tqc -optimize stores: RL Zoo's own sampler's parameters.
    stock = dict(one_minus_gamma=0.01, batch_size_pow=6, learning_rate=1e-3, train_freq=4, tau=0.02)
    stock.update(net_arch="small", n_quantiles=10, top_quantiles_to_drop_per_net=2)
    hyperparams, _ = _trial_id_manager(tmp_path, "tqc", [stock, stock], config=None).read_hyperparameters()
    assert hyperparams["policy"] == "MlpPolicy" and "callback" not in hyperparams
    assert hyperparams["policy_kwargs"] == {"net_arch": [64, 64], "n_quantiles": 10}
    assert hyperparams["batch_size"] == 64 and hyperparams["top_quantiles_to_drop_per_net"] == 2


def test_tqc_trials_keep_a_target_quantile():
    sampler = LargeSampler("tqc", SearchSpace.from_kwargs(TINY, "tqc"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        study.enqueue_trial({"n_quantiles": 5})
        trial = study.ask()
        params = sampler.sample(trial)
        assert params["n_quantiles"] == 5 and params["top_quantiles_to_drop_per_net"] <= 4
        assert trial.distributions["top_quantiles_to_drop_per_net"].high == 4


def test_trial_id_takes_the_searchs_fixed_settings_from_search_space(tmp_path, monkeypatch):
    import rl_zoo3.train

    from sb3_large.zoo import cli

    managers = []
    monkeypatch.setattr(cli, "_run_rl_zoo3", lambda command, args: managers.append(rl_zoo3.train.ExperimentManager))
    fixed = "ofenet_kwargs:{pretrain_steps: 5000}"
    main(["train", "--algo", "sac", "--env", "Pendulum-v1", "--trial-id", "1", "--search-space", fixed])
    (space,) = [manager.keywords["search_space"] for manager in managers]
    assert space.ofenet_kwargs == {"pretrain_steps": 5000}
    trial = _params("sac", True)
    hyperparams, _ = _trial_id_manager(tmp_path, "sac", [trial, trial], search_space=space).read_hyperparameters()
    assert hyperparams["policy_kwargs"]["ofenet_kwargs"] == {"pretrain_steps": 5000, "layers": 2, "growth": 4}


def test_the_space_is_checked_against_the_envs_spaces_before_the_study_starts(tmp_path, monkeypatch):
    # predict_dims fits the stand-in env the launcher checks with, not Pendulum's 3 observation dims.
    manager = _manager(tmp_path, SearchSpace(**TINY, ofenet=(True,), ofenet_kwargs={"predict_dims": 50}))
    monkeypatch.setattr(optuna, "create_study", lambda **kwargs: pytest.fail("the study started"))
    with pytest.raises(ValueError, match="search_space: sac with arch .* fails: ofenet.predict_dims: 50 exceeds"):
        manager.hyperparameters_optimization()
