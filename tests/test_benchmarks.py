"""The benchmark scripts run (smoke tests: figures are never asserted, only that rows come out)."""

import contextlib
import csv
import importlib
import importlib.util
import io
import json
import pickle
import shutil
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch as th
import yaml
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import VecNormalize

from .conftest import ROOT, run_python

RETURNS = ROOT / "benchmarks" / "returns.py"
MUJOCO = [f"{env}-{v}" for env in ("Hopper", "Walker2d", "HalfCheetah", "Ant", "Humanoid") for v in ("v4", "v5")]


def json_rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def benchmarks_on_path():
    """``benchmarks/`` first on ``sys.path``, as the scripts have it: their modules import one another by name, and
    the worker processes ``returns.py`` spawns import them again with this process's path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(RETURNS.parent))
        yield


def run_main(script: str, argv: list) -> str:
    """A benchmark script's ``main(argv)`` in this process, which has torch and the rest imported already (a fresh
    interpreter imports them again: seconds per run); its stdout. Needs ``benchmarks_on_path``. ``returns.py``
    still trains every job in a worker process of its own."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            importlib.import_module(script).main([str(arg) for arg in argv])
    finally:
        print(out.getvalue())  # pytest shows it when the test fails
    return out.getvalue()


def test_apex_scaling_quick(benchmarks_on_path):
    (row,) = json_rows(run_main("apex_scaling", ["--quick", "--actors", "1"]))
    assert row["backend"] == "local" and row["n_actors"] == 1 and row["env_steps_per_s"] > 0


def test_param_counts(benchmarks_on_path):
    out = run_main("param_counts", ["--widths", "8", "16", "--obs-dim", "5", "--act-dim", "2"])
    assert "| densenet |" in out and "| residual |" in out


def test_learner_throughput_quick(benchmarks_on_path):
    out = run_main("learner_throughput", ["--quick", "--algos", "sac", "--variants", "ofenet", "bf16", "--cpu-time"])
    rows = json_rows(out)
    assert {(r["algo"], r["arch"]) for r in rows} == {("sac", "mlp"), ("sac", "densenet")}
    keys = {"sb3_updates_per_s", "ours_updates_per_s", "speedup", "peak_gflops", "sb3_peak_rss_mb", "ours_peak_rss_mb"}
    assert all(keys <= set(r) and r["ours_updates_per_s"] > 0 for r in rows)
    assert all(r[v]["updates_per_s"] > 0 and r[v]["vs_ours"] > 0 for r in rows for v in ("ofenet", "bf16"))
    assert "| learner | upd/s | vs SB3 | vs ours (same arch, width) |" in out


def test_learner_throughput_times_a_recipe_every_way(benchmarks_on_path):
    learners = ["sb3", "sb3+ensemble", "ours", "ours+bf16"]
    argv = [
        "--recipe",
        "sac_large",
        "--quick",
        "--cpu-time",
        "--critic-widths",
        "16",
        "32",
        "--learners",
        *learners[1:],
    ]
    out = run_main("learner_throughput", argv)
    rows = json_rows(out)
    assert [r["critic_width"] for r in rows] == [16, 32]  # the recipe's own actor, the critic widths asked for
    assert all(list(r["updates_per_s"]) == learners and r["vs_sb3"]["sb3"] == 1.0 for r in rows)
    assert all(r["fastest_rl_zoo_path"] in learners[:2] and r["fastest_learner"] in learners[2:] for r in rows)
    assert out.startswith("CPU: ") and "bf16 units: " in out.splitlines()[0]


def test_recipe_learners_get_the_recipe_and_their_options(benchmarks_on_path):
    import stable_baselines3 as sb3

    import sb3_large

    throughput = importlib.import_module("learner_throughput")
    args = SimpleNamespace(recipe="sac_large", env="Hopper-v4", learners=["sb3", "sb3+ensemble+compile", "ours+bf16"])
    specs = throughput.recipe_specs(args, 512)
    entry = yaml.safe_load((ROOT / "hyperparams" / "sac_large.yml").read_text())["Hopper-v4"]
    for name, (algo, policy, policy_kwargs, algo_kwargs) in specs.items():
        assert algo is (sb3.SAC if name.startswith("sb3") else sb3_large.SAC)
        assert policy is sb3_large.policies.LargeSACPolicy
        assert (
            policy_kwargs["critic_net"]["width"] == 512
            and policy_kwargs["actor_net"] == entry["policy_kwargs"]["actor_net"]
        )
        assert algo_kwargs["target_entropy"] == entry["target_entropy"] and algo_kwargs["ent_coef"] == "auto_0.01"
    assert specs["sb3"][2].get("ensemble_critics") is None and specs["sb3"][2].get("compile") is None
    assert specs["sb3+ensemble+compile"][2]["ensemble_critics"] and specs["sb3+ensemble+compile"][2]["compile"]
    assert specs["ours+bf16"][3]["precision"] == "bf16"


# One set of settings for every returns.py run below but the compiled one: a job of the uninterrupted run is the
# reference of the same job stopped and resumed. 4 evaluation periods: a checkpoint after the 2nd, a kill after
# the 3rd. Small networks, one eval episode (200 Pendulum steps), a short OFENet pretraining and one Ape-X actor:
# the runs only have to show that rows come out, and which.
BUDGET, EVERY, STARTS = 300, 75, 25
SMALL = ["--env", "Pendulum-v1", "--budget", BUDGET, "--seeds", "1", "--eval-every", EVERY, "--eval-episodes", "1"]
SMALL += ["--checkpoint-every", "2", "--learning-starts", STARTS, "--width", "32", "--sac-width", "32"]
SMALL += ["--crossq-width", "32", "--pretrain", "50", "--actors", "1", "--workers", "2"]
EVALUATIONS = list(range(EVERY, BUDGET + 1, EVERY))
# Gradient steps at each evaluation with one per env step after the random steps: SB3 updates after an env step's
# callbacks (an evaluation at a step comes before that step's update), and the last evaluation after learn().
UPDATES = [step - STARTS - 1 for step in EVALUATIONS[:-1]] + [BUDGET - STARTS]
SMOKE = ["sac", "crossq", "ota2021", "ota2021_apex", "sac_large", "densenet", "crossq_large", "sac_simba_hl"]
SMOKE += ["crossq_ofenet", "sac_ln", "sac_cat"]
# sac_ln: under VecNormalize; sac_cat: sb3_large.SAC with a return scale and an actor stepped every 2nd update
RESUMED = ["ota2021", "crossq", "sac_ln", "sac_cat"]


@pytest.fixture(scope="module")
def uninterrupted(benchmarks_on_path, tmp_path_factory) -> SimpleNamespace:
    """One run of every configuration of the smoke test, never stopped; its folder and stdout."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    return SimpleNamespace(folder=folder, stdout=run_main("returns", [*SMALL, "--configs", *SMOKE, "--out", folder]))


@pytest.fixture(scope="module")
def stopped_and_resumed(benchmarks_on_path, tmp_path_factory) -> SimpleNamespace:
    """The ``RESUMED`` jobs stopped after their 3rd evaluation, then run again by the same command, as a script in
    a fresh interpreter as after a kill: a copy of the folder as the stop left it, the folder after the second run,
    and that run's stdout."""
    folder = tmp_path_factory.mktemp("resumed")
    run_main("returns", [*SMALL, "--configs", *RESUMED, "--out", folder, "--stop-after-evals", "3"])
    stopped = tmp_path_factory.mktemp("stopped") / "out"
    shutil.copytree(folder, stopped)
    again = run_python([str(RETURNS), *map(str, SMALL), "--configs", *RESUMED, "--out", str(folder)], cwd=folder.parent)
    return SimpleNamespace(stopped=stopped, folder=folder, stdout=again.stdout)


def test_returns_smoke(uninterrupted):
    out_dir, out = uninterrupted.folder, uninterrupted.stdout
    rows = list(csv.DictReader((out_dir / "returns.csv").open()))
    assert set(rows[0]) == {
        *("config", "seed", "step", "mean_return", "std_return"),
        *("wall_seconds", "cpu_seconds", "gradient_steps"),
    }
    # Costs: nothing trained in the random steps, then one gradient step per env step (Ape-X aside).
    sac = [r for r in rows if r["config"] == "sac"]
    assert [int(r["gradient_steps"]) for r in sac] == UPDATES and float(sac[-1]["cpu_seconds"]) > 0
    assert {r["config"] for r in rows} == set(SMOKE)
    for config in SMOKE:
        steps = [int(r["step"]) for r in rows if r["config"] == config]
        assert max(steps) >= BUDGET, (config, steps)  # the final evaluation
        # Ape-X actors can bring the whole Pendulum budget between two learner steps: one evaluation then.
        assert config == "ota2021_apex" or len(steps) >= 2, (config, steps)
    assert (out_dir / "returns.png").read_bytes()[:4] == b"\x89PNG"
    diagnostics = list(csv.DictReader((out_dir / "diagnostics.csv").open()))
    metrics = {(r["config"], r["metric"]) for r in diagnostics}
    assert {("sac", "actor_srank"), ("crossq", "critic_dormant"), ("ota2021", "ofenet_zsa_srank")} <= metrics
    assert ("crossq_ofenet", "ofenet_zsa_srank") in metrics  # OFENet under CrossQ is probed too
    # Training-episode returns (Pendulum: 200-step episodes, so finished ones exist at the evaluations after 200).
    train = [r for r in diagnostics if r["config"] == "sac" and r["metric"] == "train_return_last10"]
    assert len(train) >= 2 and all(-2000 < float(r["value"]) < 0 for r in train)
    # ... except with Ape-X, whose learner env only ran the warm-up's random episodes
    assert ("ota2021_apex", "train_return_last10") not in metrics
    summary = (out_dir / "summary.md").read_text()
    assert summary in out and all(f"| {c} |" in summary for c in SMOKE)
    finished = {p.name for p in (out_dir / "checkpoints").iterdir()}
    assert finished == {f"{c}_seed0.done.json" for c in SMOKE}


def load_benchmark_module(monkeypatch, name: str):
    """A module of ``benchmarks/`` imported as its scripts import it (their folder first on the path)."""
    monkeypatch.syspath_prepend(str(RETURNS.parent))
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", RETURNS.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "Hopper-v4"])
def test_env_state_restores_the_episode_exactly(env_id, monkeypatch):
    checkpoints = load_benchmark_module(monkeypatch, "checkpoints")
    env = gym.make(env_id)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        env.step(env.action_space.sample())
    state = checkpoints.env_state(env)
    actions = [rng.uniform(env.action_space.low, env.action_space.high) for _ in range(1200)]

    def rollout(env) -> list:
        # Long enough for the time limit: episode ends and resets draw from the env's own generator.
        trace = []
        for action in actions:
            obs, reward, terminated, truncated, _ = env.step(action)
            trace.append((obs, reward, terminated, truncated))
            if terminated or truncated:
                trace.append(env.reset()[0])
        return trace

    expected = rollout(env)
    restored = gym.make(env_id)
    restored.reset(seed=99)  # another seed, another episode: the state must overwrite all of it
    checkpoints.set_env_state(restored, state)
    got = rollout(restored)
    assert len(got) == len(expected) and any(isinstance(item, np.ndarray) for item in expected)  # a reset happened
    for a, b in zip(got, expected, strict=True):
        a, b = (a, b) if isinstance(a, tuple) else ((a,), (b,))
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


COSTS = ("wall_seconds", "cpu_seconds")  # timings: they differ between two runs of the same job


def sorted_rows(path, drop=COSTS, configs=None) -> list[dict]:
    """A CSV's rows (of ``configs`` only, if given) without the ``drop`` columns, in a fixed order."""
    rows = [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(path.open())]
    rows = [row for row in rows if configs is None or row["config"] in configs]
    return sorted(rows, key=lambda r: (r["config"], int(r["step"]), r.get("metric", "")))


def test_returns_resumes_a_killed_run_exactly(uninterrupted, stopped_and_resumed):
    """Jobs stopped after their 3rd evaluation (checkpoint after the 2nd) and run again give the evaluations and
    diagnostics (weight norms, ranks of the networks' features) of a run never stopped, to the last digit."""
    stopped, cut = stopped_and_resumed.stopped, stopped_and_resumed.folder
    partial = sorted_rows(stopped / "returns.csv")
    assert {int(r["step"]) for r in partial} == set(EVALUATIONS[:3])  # the 3rd is measured again after the resume
    assert sorted(p.name for p in (stopped / "checkpoints").iterdir()) == [f"{c}_seed0.ckpt" for c in sorted(RESUMED)]
    assert f"ota2021 seed 0: resumed at step {EVALUATIONS[1]}" in stopped_and_resumed.stdout  # tqdm.write prints there
    for name in ("returns.csv", "diagnostics.csv"):
        assert sorted_rows(cut / name) == sorted_rows(uninterrupted.folder / name, configs=RESUMED), name
    assert {int(r["step"]) for r in sorted_rows(cut / "returns.csv")} == set(EVALUATIONS)
    final = [r for r in sorted_rows(cut / "returns.csv", drop=()) if int(r["step"]) == BUDGET]
    assert len(final) == len(RESUMED) and all(float(r["wall_seconds"]) > 0 for r in final)

    # A finished job is not run again: nothing is trained, the files stay as they are.
    done = {p.name: p.read_bytes() for p in (cut / "checkpoints").iterdir()}
    finished_rows = sorted_rows(cut / "returns.csv", drop=())
    assert sorted(done) == [f"{c}_seed0.done.json" for c in sorted(RESUMED)]
    again = run_main("returns", [*SMALL, "--configs", *RESUMED, "--out", cut])
    assert "resumed" not in again and f"step {BUDGET}:" not in again
    assert {p.name: p.read_bytes() for p in (cut / "checkpoints").iterdir()} == done
    assert sorted_rows(cut / "returns.csv", drop=()) == finished_rows  # rebuilt from the finished records


def test_configs_run_one_after_another_share_the_folder(uninterrupted, tmp_path):
    """A second run with another configuration into the same --out keeps the first run's rows in the CSVs, and
    its summary lists both runs' configurations."""
    first, folder = uninterrupted.folder, tmp_path / "out"
    shutil.copytree(first, folder)  # other tests read the first run's folder as that run left it
    second = run_main("returns", [*SMALL, "--configs", "sac_hl_sb3", "--out", folder])
    for name in ("returns.csv", "diagnostics.csv"):
        assert sorted_rows(folder / name, drop=(), configs=SMOKE) == sorted_rows(first / name, drop=()), name
        assert {r["config"] for r in csv.DictReader((folder / name).open())} == {*SMOKE, "sac_hl_sb3"}, name
    steps = [int(r["step"]) for r in sorted_rows(folder / "returns.csv", configs=["sac_hl_sb3"])]
    assert steps == EVALUATIONS
    assert all(f"| {c} |" in second for c in (*SMOKE, "sac_hl_sb3"))


def test_summary_lists_finished_seeds_in_seed_order(monkeypatch):
    returns = load_benchmark_module(monkeypatch, "returns")
    reports = load_benchmark_module(monkeypatch, "reports")
    args = returns.parse_args(["--budget", "100", "--configs", "sac", "--seeds", "3"])

    def row(seed, step, value):
        return dict(config="sac", seed=seed, step=step, mean_return=value, std_return=0.0, wall_seconds=1.0)

    # Seed 2 reported first, seed 1 never reached the budget.
    rows = [row(2, 100, 30.0), row(0, 50, 5.0), row(1, 50, 7.0), row(0, 100, 10.0)]
    assert "| sac | 20.0 +/- 10.0 | 10, 30 |" in reports.summary(rows, args)


def test_records_of_runs_before_eval_episodes_resume_with_10(monkeypatch, tmp_path):
    """A job recorded before ``--eval-episodes`` existed ran 10 episodes per evaluation: the default takes it up,
    another count is refused."""
    returns = load_benchmark_module(monkeypatch, "returns")

    def args(*argv):
        return returns.parse_args(["--env", "Pendulum-v1", "--configs", "sac", "--out", str(tmp_path), *argv])

    settings = returns.job_settings("sac", args())
    del settings["eval_episodes"]
    returns.JobFiles(tmp_path, "sac", 0).finish(dict(settings=settings, returns=[], diagnostics=[]))
    assert returns.known_jobs([("sac", 0)], args())["sac", 0]["finished"]
    with pytest.raises(SystemExit, match="sac seed 0 was started with eval_episodes=10, this run has 5"):
        returns.known_jobs([("sac", 0)], args("--eval-episodes", "5"))


@pytest.mark.compile
def test_returns_compile_update(benchmarks_on_path, tmp_path, monkeypatch, capsys):
    """``--compile-update``: ``sac`` is trained by sb3_large.SAC with compiled steps, as ``sac_hl`` is, and
    resumes as such; configs trained by stock classes are refused with the allowed ones named."""
    # Compiling is most of the cost: only sac, the smallest update, is trained; sac_hl (a YAML config) is checked
    # on the model it builds.
    args = ["--env", "Pendulum-v1", "--budget", "300", "--seeds", "1", "--eval-every", "100", "--eval-episodes", "1"]
    args += ["--learning-starts", "50", "--sac-width", "16", "--checkpoint-every", "1"]
    args += ["--configs", "sac", "--compile-update", "--out", tmp_path]
    run_main("returns", [*args, "--stop-after-evals", "2"])  # stopped at step 200, after the step-100 checkpoint
    assert "sac seed 0: resumed at step 100" in run_main("returns", args)
    rows = list(csv.DictReader((tmp_path / "returns.csv").open()))
    assert sorted((r["config"], int(r["step"])) for r in rows) == [("sac", 100), ("sac", 200), ("sac", 300)]
    record = json.loads((tmp_path / "checkpoints" / "sac_seed0.done.json").read_text())
    assert record["settings"]["compile_update"] is True
    returns = load_benchmark_module(monkeypatch, "returns")
    configs = load_benchmark_module(monkeypatch, "configs")
    compiled = returns.parse_args(["--env", "Pendulum-v1", "--compile-update", "--configs", "sac", "sac_hl"])
    for config in ("sac", "sac_hl"):
        model = configs.make_model(config, compiled, 0, configs.make_env(config, compiled.env))
        assert type(model).__module__ == "sb3_large.learners.sac" and model._update_step != model._update
    with pytest.raises(SystemExit):
        returns.parse_args(["--compile-update", "--configs", "sac", "crossq"])
    allowed = "--compile-update: crossq trains with a stock class; allowed: sac, sac_hl, sac_simba_hl"
    assert allowed in capsys.readouterr().err


def test_critic_fit_reads_a_checkpoints_buffer(benchmarks_on_path, tmp_path):
    # A checkpoint as returns.py writes it (a header, then a payload with SB3's pickled replay buffer): 30 episodes
    # of 20 steps, each ending in a termination, with a reward that a critic can fit.
    buffer = ReplayBuffer(1000, spaces.Box(-1, 1, (3,)), spaces.Box(-1, 1, (1,)))
    rng = np.random.default_rng(0)
    for t in range(600):
        obs, action = rng.uniform(-1, 1, (1, 3)), rng.uniform(-1, 1, (1, 1))
        done = np.array([t % 20 == 19])
        buffer.add(obs, obs, action, np.array([obs[0, 0] + action[0, 0]]), done, [{}])
    checkpoint = tmp_path / "job.ckpt"
    with open(checkpoint, "wb") as handle:
        pickle.dump({"returns": []}, handle)
        pickle.dump({"replay_buffer": pickle.dumps(buffer)}, handle)
    args = ["--checkpoint", checkpoint, "--widths", "8", "16", "--updates", "20", "--every", "10"]
    out = run_main("critic_fit", [*args, "--held-out", "0.3", "--out", tmp_path])
    assert "600 transitions, 30 episodes" in out
    rows = list(csv.DictReader((tmp_path / "critic_fit.csv").open()))
    assert [(r["width"], r["update"]) for r in rows] == [("8", "10"), ("8", "20"), ("16", "10"), ("16", "20")]
    for row in rows:
        assert float(row["nmse"]) >= 0 and 1 <= int(row["srank"]) <= int(row["width"])
        assert 0 <= float(row["dormant"]) <= 1
    assert {r["lr"] for r in rows} == {"0.0003"}
    # With the learning rate inverse to the width, the first width keeps --lr and the one twice as wide gets half.
    run_main("critic_fit", [*args, "--held-out", "0.3", "--lr-scaling", "inverse", "--out", tmp_path])
    rows = list(csv.DictReader((tmp_path / "critic_fit.csv").open()))
    assert {(r["width"], float(r["lr"])) for r in rows} == {("8", 3e-4), ("16", 1.5e-4)}


def test_returns_refuses_checkpoints_of_other_settings(stopped_and_resumed):
    stopped = stopped_and_resumed.stopped
    files = {p.name: p.read_bytes() for p in (stopped / "checkpoints").iterdir()}
    assert "crossq_seed0.ckpt" in files
    with pytest.raises(SystemExit) as refused:
        run_main("returns", [*SMALL, "--budget", BUDGET + 300, "--configs", "crossq", "--out", stopped])
    assert f"crossq seed 0 was started with budget={BUDGET}, this run has {BUDGET + 300}" in str(refused.value)
    assert {p.name: p.read_bytes() for p in (stopped / "checkpoints").iterdir()} == files


def test_a_yamls_own_settings_reach_the_model(monkeypatch):
    """Without overrides a job trains what its YAML entry says (warm-up, VecNormalize, per-network widths,
    gradient steps, entropy settings); each command-line size overrides only what it names."""
    returns = load_benchmark_module(monkeypatch, "returns")
    configs = load_benchmark_module(monkeypatch, "configs")

    def build(*argv):
        args = returns.parse_args(["--env", "Pendulum-v1", "--configs", "sac_ln", "--budget", "1000", *argv])
        return configs.make_model("sac_ln", args, 0, configs.make_env("sac_ln", args.env))

    def widths(model):
        actor = [m.out_features for m in model.actor.latent_pi.modules() if isinstance(m, th.nn.Linear)]
        critic = [m.out_features for m in model.critic.qf0.modules() if isinstance(m, th.nn.Linear)]
        return actor[0], critic[0]

    entry = yaml.safe_load((ROOT / "benchmarks" / "recipes" / "sac_ln.yml").read_text())["Pendulum-v1"]
    model = build()
    assert model.learning_starts == entry["learning_starts"] == 300
    assert isinstance(model.get_env(), VecNormalize) and model.get_env().norm_reward and model.get_env().norm_obs
    assert widths(model) == (
        entry["policy_kwargs"]["actor_net"]["width"],
        entry["policy_kwargs"]["critic_net"]["width"],
    )
    assert model.gradient_steps == 2 and model.target_entropy == -0.5
    assert th.exp(model.log_ent_coef).item() == pytest.approx(0.01)
    assert widths(build("--critic-width", "24")) == (16, 24)
    assert widths(build("--actor-width", "8")) == (8, 32)
    assert widths(build("--width", "12")) == (12, 12)
    assert build("--learning-starts", "100").learning_starts == 100
    # Built-in configurations take RL Zoo's warm-up of their algorithm, and no normalization.
    for config, warm_up in (("sac", 10_000), ("crossq", 5_000)):
        args = returns.parse_args(["--env", "Pendulum-v1", "--configs", config, "--crossq-width", "16"])
        model = configs.make_model(config, args, 0, configs.make_env(config, args.env))
        assert model.learning_starts == warm_up and not isinstance(model.get_env(), VecNormalize)


def test_every_yaml_configuration_builds_its_hopper_entry(monkeypatch):
    """Each YAML configuration's Hopper-v4 entry (bodies shrunk by --width) builds what its file says."""
    returns = load_benchmark_module(monkeypatch, "returns")
    configs = load_benchmark_module(monkeypatch, "configs")
    import sb3_large

    for config, (path, algo) in configs.YAML_CONFIGS.items():
        entry = yaml.safe_load(path.read_text()).get("Hopper-v4")
        if entry is None:
            continue
        args = returns.parse_args(["--env", "Hopper-v4", "--configs", config, "--width", "16", "--pretrain", "1"])
        env = configs.make_env(config, args.env)
        model = configs.make_model(config, args, 0, env)
        normalize = configs.normalize_kwargs(entry)
        assert isinstance(env, VecNormalize) == (normalize is not None), config
        if normalize is not None:
            assert env.norm_reward == normalize.get("norm_reward", True), config
        assert model.learning_starts == entry.get("learning_starts", 100), config
        assert model.gradient_steps == entry.get("gradient_steps", 1), config
        policy_kwargs = entry.get("policy_kwargs", {})
        expected = policy_kwargs.get("weight_norm", False)
        assert getattr(model.policy, "weight_norm", False) is expected, config
        assert model.policy.precision == policy_kwargs.get("precision", "fp32"), config
        if "actor_net" in policy_kwargs:  # a per-network option the command line's sizes leave alone
            actor_norm = policy_kwargs["actor_net"].get("norm", policy_kwargs.get("norm"))
            assert model.policy.actor_spec.norm == actor_norm, config
        assert (type(model) is sb3_large.SAC) == (algo == "sb3_large.sac"), config


@pytest.mark.parametrize(
    "normalize, message",
    [
        ("dict(norm_obs=True, clip=3)", "unknown VecNormalize option 'clip'; allowed: clip_obs, clip_reward"),
        ("__import__('os')", "is not a dict(...) of literals"),
        (3, "expected true, false, a mapping or a dict(...) string, got 3"),
    ],
)
def test_a_malformed_normalize_is_named(monkeypatch, normalize, message):
    configs = load_benchmark_module(monkeypatch, "configs")
    with pytest.raises(ValueError, match="x.yml: Hopper-v4.normalize: ") as error:
        configs.normalize_kwargs({"normalize": normalize}, "x.yml: Hopper-v4.normalize")
    assert message in str(error.value)
    got = configs.normalize_kwargs({"normalize": "dict(norm_obs=False, norm_reward=True)", "gamma": 0.9})
    assert got == {"norm_obs": False, "norm_reward": True, "gamma": 0.9}


def test_returns_resumes_a_vecnormalize_job_exactly(uninterrupted, stopped_and_resumed):
    """A job under VecNormalize (observation and reward statistics, the discounted-return accumulator) stopped
    and resumed gives the evaluations, diagnostics and gradient-step counts of a run never stopped."""
    assert (stopped_and_resumed.stopped / "checkpoints" / "sac_ln_seed0.ckpt").exists()
    for name in ("returns.csv", "diagnostics.csv"):
        got = sorted_rows(stopped_and_resumed.folder / name, configs=["sac_ln"])
        assert got == sorted_rows(uninterrupted.folder / name, configs=["sac_ln"]), name
    rows = sorted_rows(uninterrupted.folder / "returns.csv", drop=(), configs=["sac_ln"])
    # After the random steps, 2 gradient steps per env step (the YAML's gradient_steps).
    assert [int(r["gradient_steps"]) for r in rows] == [2 * n for n in UPDATES]
    assert float(rows[-1]["cpu_seconds"]) > float(rows[0]["cpu_seconds"])


def test_returns_resumes_a_job_with_a_return_scale_and_a_slower_actor_exactly(uninterrupted, stopped_and_resumed):
    """``return_bound``'s running statistics and per-env sums, and the actor's cycle (``actor_update_interval``),
    continue after a stop as in a run never stopped."""
    assert (stopped_and_resumed.stopped / "checkpoints" / "sac_cat_seed0.ckpt").exists()
    for name in ("returns.csv", "diagnostics.csv"):
        got = sorted_rows(stopped_and_resumed.folder / name, configs=["sac_cat"])
        assert got == sorted_rows(uninterrupted.folder / name, configs=["sac_cat"]), name
    rows = sorted_rows(uninterrupted.folder / "returns.csv", drop=(), configs=["sac_cat"])
    assert [int(r["gradient_steps"]) for r in rows] == UPDATES


@pytest.mark.parametrize("name", ["sac_ota2021.yml", "sac_ota2021_apex.yml"])
def test_ota2021_yamls_are_the_papers_recipe(name):
    config = yaml.safe_load((ROOT / "hyperparams" / name).read_text())
    sizes = {"Hopper": (6, 40), "Walker2d": (6, 40), "Ant": (6, 40), "HalfCheetah": (8, 30), "Humanoid": (8, 30)}
    for env_id in MUJOCO:
        entry = config[env_id]
        kwargs = entry["policy_kwargs"]
        assert entry["policy"] == "sb3_large.policies.OFENetSACPolicy", env_id
        assert {k: kwargs[k] for k in ("arch", "width", "depth")} == {"arch": "densenet", "width": 2048, "depth": 2}
        layers, growth = sizes[env_id.split("-")[0]]
        assert (kwargs["ofenet_kwargs"]["layers"], kwargs["ofenet_kwargs"]["growth"]) == (layers, growth), env_id
        assert entry["learning_starts"] == 10_000 and entry["batch_size"] == 256 and entry["learning_rate"] == 3e-4
        assert entry["callback"][0] == "sb3_large.ofenet.OFENetTrainer", env_id
        if name == "sac_ota2021_apex.yml":
            (collector,) = [c for c in entry["callback"] if isinstance(c, dict)]
            assert collector == {"sb3_large.apex.ApeXCollector": {"n_actors": 4, "replay_ratio": 1.0}}, env_id
        else:
            assert entry["callback"] == ["sb3_large.ofenet.OFENetTrainer"], env_id
    assert config["Ant-v4"]["policy_kwargs"]["ofenet_kwargs"]["predict_dims"] == 27
    assert config["Humanoid-v5"]["policy_kwargs"]["ofenet_kwargs"]["predict_dims"] == 270


def test_pilot_reports_training_returns(benchmarks_on_path):
    args = ["hl", "--algo", "sb3_large.sac", "--env", "Pendulum-v1", "--steps", "600", "--every", "200"]
    args += ["--kwargs", '{"width": 16, "normalize_obs": true, "q_distribution": {"bins": 11}}']
    args += ["--algo-kwargs", '{"learning_starts": 300}', "--callbacks", "sb3_large.normalization.ObsNormUpdater"]
    rows = json_rows(run_main("pilot", args))
    assert [r["step"] for r in rows] == [200, 400, 600]
    assert rows[0]["train_return"] is None and rows[-1]["train_return"] < 0  # Pendulum: one episode at 200 steps


def write_run(folder, finals, unfinished=(), cpu_scale=1):
    """A ``returns.py --out`` folder: per (config, seed) evaluations at steps 50 and 100 (the final return given;
    cpu_seconds (10 x seed + 5) x cpu_scale at 100), ``train_return_last10`` at both (half the final return at
    100); the unfinished (config, seed) pairs stop at step 50."""
    folder.mkdir()
    with (folder / "returns.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["config", "seed", "step", "mean_return", "std_return", "wall_seconds", "cpu_seconds"])
        for (config, seed), value in finals.items():
            writer.writerow([config, seed, 50, 0.0, 0.0, 1.0, 1.0])
            writer.writerow([config, seed, 100, value, 0.0, 2.0, (10 * seed + 5) * cpu_scale])
        for config, seed in unfinished:
            writer.writerow([config, seed, 50, 999.0, 0.0, 1.0, 1.0])
    with (folder / "diagnostics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["config", "seed", "step", "metric", "value"])
        for (config, seed), value in finals.items():
            writer.writerows([[config, seed, 50, "train_return_last10", 777], [config, seed, 100, "srank", 3]])
            writer.writerow([config, seed, 100, "train_return_last10", value / 2])


def test_width_reads_finished_runs_per_width(benchmarks_on_path, tmp_path, capsys):
    """width.py: per config and width, the final returns of the seeds that reached the budget and the training
    returns and CPU seconds of that same evaluation, seeds pooled over the folders of a width; an unfinished seed
    and an unlisted config are left out; a seed given twice, a config with no finished run and a malformed --run
    are refused."""

    write_run(tmp_path / "w16", {("sac", 0): 12.0, ("hl", 0): 80.0}, unfinished=[("sac", 1)])
    write_run(tmp_path / "w8", {("sac", 0): 10.0, ("hl", 0): 40.0, ("crossq", 0): 1.0})
    write_run(tmp_path / "w8b", {("sac", 1): 30.0})
    args = ["--budget", "100", "--configs", "sac", "hl", "--out", str(tmp_path / "out")]
    runs = ["--run", f"16={tmp_path / 'w16'}", "--run", f"8={tmp_path / 'w8'}", "--run", f"8={tmp_path / 'w8b'}"]
    out = run_main("width", [*args, *runs])
    rows = [line for line in out.splitlines() if line.startswith(("| sac |", "| hl |"))]
    assert rows == [
        "| sac | 8 | 2 | 20.0 +/- 10.0 | 0: 10, 1: 30 | 10 (n=2) | 10 |",
        "| sac | 16 | 1 | 12.0 | 0: 12 | 6 (n=1) | 5 |",
        "| hl | 8 | 1 | 40.0 | 0: 40 | 20 (n=1) | 5 |",
        "| hl | 16 | 1 | 80.0 | 0: 80 | 40 (n=1) | 5 |",
    ]
    assert "crossq" not in out and "999" not in out and "777" not in out
    assert (tmp_path / "out" / "width.png").stat().st_size > 0
    assert (tmp_path / "out" / "width.md").read_text().count("| hl |") == 2

    def refused(*extra):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit:
            run_main("width", [*args, *extra])
        assert exit.value.code == 2  # argparse's usage error
        return capsys.readouterr().err

    twice = refused(*runs, "--run", f"8={tmp_path / 'w8b'}")
    assert f"sac seed 1 at width 8 is in both {tmp_path / 'w8b'} and {tmp_path / 'w8b'}" in twice
    assert "--configs: no run of hl reached --budget 100" in refused("--run", f"8={tmp_path / 'w8b'}")
    assert "argument --run: expected WIDTH=FOLDER with a positive WIDTH, got 'w8'" in refused("--run", "w8")


def test_goal_compares_a_recipe_with_its_baseline_per_env(benchmarks_on_path, tmp_path, capsys):
    """goal.py: per env, both sides' finished seeds (from any folder) with their means, training returns and CPU
    seconds, the ratios (recipe over baseline), then the mean and smallest return ratio, naming an env without one;
    a missing config or folder and a malformed side are refused naming the case."""
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_run(a, {("ln", 0): 300.0, ("ln", 1): 100.0, ("sac", 0): 100.0}, unfinished=[("ln", 2)])
    write_run(b, {("sac", 0): 50.0, ("sac", 1): 150.0, ("ln", 0): 40.0}, cpu_scale=2)
    write_run(c, {("ln", 0): 50.0, ("neg", 0): -10.0})
    (c / "diagnostics.csv").unlink()  # an older run without training returns
    args = ["--budget", "100", "--case", "Hopper", f"{a}:ln", f"{b}:sac", "--case", "Ant", f"{b}:ln", f"{a}:sac"]
    out = run_main("goal", [*args, "--case", "Walker", f"{c}:ln", f"{c}:neg"])
    rows = [line for line in out.splitlines() if line.startswith(("| Hopper |", "| Ant |", "| Walker |"))]
    assert rows == [
        "| Hopper | ln | 2 | 200.0 +/- 100.0 | 0: 300, 1: 100 | 100 | 10 "
        "| sac | 2 | 100.0 +/- 50.0 | 0: 50, 1: 150 | 50 | 20 | 2.00x | 0.50x |",
        "| Ant | ln | 1 | 40.0 | 0: 40 | 20 | 10 | sac | 1 | 100.0 | 0: 100 | 50 | 5 | 0.40x | 2.00x |",
        "| Walker | ln | 1 | 50.0 | 0: 50 | - | 5 | neg | 1 | -10.0 | 0: -10 | - | 5 | - | 1.00x |",
    ]
    assert "return ratio over 2 of 3 envs: mean 1.20x, smallest 0.40x" in out
    assert "no return ratio (baseline mean not positive): Walker" in out
    assert "999" not in out and "777" not in out

    def refused(*case):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit:
            run_main("goal", ["--budget", "100", "--case", *case])
        assert exit.value.code == 2  # argparse's usage error
        return capsys.readouterr().err

    missing = tmp_path / "missing"
    assert f"--case Ant: no run of td3 reached --budget 100 in {a}" in refused("Ant", f"{a}:ln", f"{a}:td3")
    assert f"--case Ant: no returns.csv in {missing}" in refused("Ant", f"{missing}:ln", f"{a}:ln")
    assert "--case Ant: expected FOLDER:CONFIG, got 'sac'" in refused("Ant", "sac", f"{a}:ln")


def test_overview_pools_seeds_per_row_beside_the_published_references(benchmarks_on_path, tmp_path, capsys):
    """overview.py: a row pools one configuration's finished seeds over folders, with the same seeds' eval at the
    midpoint, the training return and CPU seconds; an unfinished seed is left out; a seed in two folders, a row
    without folders and a midpoint outside the budget are refused. v4 envs at 50k and 100k get the published
    references, other envs and budgets '-'."""
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, {("ln", 0): 300.0, ("sac", 0): 100.0}, unfinished=[("ln", 2)])
    write_run(b, {("ln", 1): 100.0})
    args = ["--budget", "100", "--midpoint", "50"]
    out = run_main(
        "overview", [*args, "--row", "Hopper", "large", f"{a}:ln", f"{b}:ln", "--row", "Ant", "s", f"{a}:sac"]
    )
    assert "| env | configuration | seeds | eval at 50 | eval at 100 | per seed |" in out
    rows = [line for line in out.splitlines() if line.startswith(("| Hopper |", "| Ant |"))]
    assert rows == [
        "| Hopper | large | 2 | 0.0 +/- 0.0 | 200.0 +/- 100.0 | 0: 300, 1: 100 | 100 | 10 | - | - |",
        "| Ant | s | 1 | 0.0 | 100.0 | 0: 100 | 50 | 5 | - | - |",
    ]
    assert "999" not in out and "777" not in out
    overview = importlib.import_module("overview")
    assert overview.references("Hopper-v4", 100_000) == ["2821", "3386 (SimbaV2, 4)"]
    assert overview.references("Humanoid-v4", 50_000) == ["-", "968 (CrossQ)"]
    assert overview.references("Hopper-v5", 100_000) == ["-", "-"]

    def refused(*extra):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit:
            run_main("overview", extra)
        assert exit.value.code == 2  # argparse's usage error
        return capsys.readouterr().err

    assert f"--row Hopper large: seed 0 of large is in both {a} and {a}" in refused(
        *args, "--row", "Hopper", "large", f"{a}:ln", f"{a}:ln"
    )
    assert "--row Hopper large: expected ENV LABEL FOLDER:CONFIG" in refused(*args, "--row", "Hopper", "large")
    assert "--midpoint must be between 0 and --budget 100, got 100" in refused(
        "--budget", "100", "--midpoint", "100", "--row", "Hopper", "large", f"{a}:ln"
    )
