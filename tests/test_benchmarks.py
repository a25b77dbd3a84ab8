"""The benchmark scripts run (smoke tests: figures are never asserted, only that rows come out)."""

import csv
import importlib.util
import json
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch as th
import yaml

from .conftest import ROOT, run_python

RETURNS = ROOT / "benchmarks" / "returns.py"
MUJOCO = [f"{env}-{v}" for env in ("Hopper", "Walker2d", "HalfCheetah", "Ant", "Humanoid") for v in ("v4", "v5")]


def json_rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_apex_scaling_quick(tmp_path):
    out = run_python([str(ROOT / "benchmarks" / "apex_scaling.py"), "--quick", "--actors", "1"], cwd=tmp_path).stdout
    (row,) = json_rows(out)
    assert row["backend"] == "local" and row["n_actors"] == 1 and row["env_steps_per_s"] > 0


def test_param_counts(tmp_path):
    args = [str(ROOT / "benchmarks" / "param_counts.py"), "--widths", "8", "16", "--obs-dim", "5", "--act-dim", "2"]
    out = run_python(args, cwd=tmp_path).stdout
    assert "| densenet |" in out and "| residual |" in out


def test_learner_throughput_quick(tmp_path):
    script = str(ROOT / "benchmarks" / "learner_throughput.py")
    out = run_python([script, "--quick", "--algos", "sac", "--variants", "ofenet", "bf16", "--cpu-time"], cwd=tmp_path)
    rows = json_rows(out.stdout)
    assert {(r["algo"], r["arch"]) for r in rows} == {("sac", "mlp"), ("sac", "densenet")}
    keys = {"sb3_updates_per_s", "ours_updates_per_s", "speedup", "peak_gflops", "sb3_peak_rss_mb", "ours_peak_rss_mb"}
    assert all(keys <= set(r) and r["ours_updates_per_s"] > 0 for r in rows)
    assert all(r[v]["updates_per_s"] > 0 and r[v]["vs_ours"] > 0 for r in rows for v in ("ofenet", "bf16"))
    assert "| learner | upd/s | vs SB3 | vs ours (same arch, width) |" in out.stdout


def test_returns_smoke(tmp_path):
    out_dir = tmp_path / "out"
    configs = ["sac", "crossq", "ota2021", "ota2021_apex", "sac_large", "densenet", "crossq_large", "sac_simba_hl"]
    configs += ["crossq_ofenet"]
    args = [str(RETURNS), "--env", "Pendulum-v1", "--budget", "2000", "--seeds", "1", "--configs", *configs]
    args += ["--out", str(out_dir), "--eval-every", "1000", "--learning-starts", "500", "--width", "32"]
    args += ["--crossq-width", "64", "--pretrain", "100", "--workers", "2"]
    out = run_python(args, cwd=tmp_path).stdout
    rows = list(csv.DictReader((out_dir / "returns.csv").open()))
    assert set(rows[0]) == {
        *("config", "seed", "step", "mean_return", "std_return"),
        *("wall_seconds", "cpu_seconds", "gradient_steps"),
    }
    # Costs: nothing trained before the 500 random steps, then one gradient step per env step (Ape-X aside).
    sac = [r for r in rows if r["config"] == "sac"]
    assert [int(r["gradient_steps"]) for r in sac] == [499, 1500] and float(sac[-1]["cpu_seconds"]) > 0
    assert {r["config"] for r in rows} == set(configs)
    for config in configs:
        steps = [int(r["step"]) for r in rows if r["config"] == config]
        assert max(steps) >= 2000, (config, steps)  # the final evaluation
        # Ape-X actors can bring the whole Pendulum budget between two learner steps: one evaluation then.
        assert config == "ota2021_apex" or len(steps) >= 2, (config, steps)
    assert (out_dir / "returns.png").read_bytes()[:4] == b"\x89PNG"
    diagnostics = list(csv.DictReader((out_dir / "diagnostics.csv").open()))
    metrics = {(r["config"], r["metric"]) for r in diagnostics}
    assert {("sac", "actor_srank"), ("crossq", "critic_dormant"), ("ota2021", "ofenet_zsa_srank")} <= metrics
    assert ("crossq_ofenet", "ofenet_zsa_srank") in metrics  # OFENet under CrossQ is probed too
    # Training-episode returns (Pendulum: 200-step episodes, so finished ones exist at every evaluation).
    train = [r for r in diagnostics if r["config"] == "sac" and r["metric"] == "train_return_last10"]
    assert len(train) >= 2 and all(-2000 < float(r["value"]) < 0 for r in train)
    # ... except with Ape-X, whose learner env only ran the warm-up's random episodes
    assert ("ota2021_apex", "train_return_last10") not in metrics
    summary = (out_dir / "summary.md").read_text()
    assert summary in out and all(f"| {c} |" in summary for c in configs)
    finished = {p.name for p in (out_dir / "checkpoints").iterdir()}
    assert finished == {f"{c}_seed0.done.json" for c in configs}


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


RESUME_ARGS = ["--env", "Pendulum-v1", "--budget", "600", "--seeds", "1", "--configs", "ota2021", "crossq"]
RESUME_ARGS += ["--eval-every", "150", "--checkpoint-every", "2", "--learning-starts", "150", "--width", "32"]
RESUME_ARGS += ["--crossq-width", "32", "--pretrain", "50", "--workers", "2"]


COSTS = ("wall_seconds", "cpu_seconds")  # timings: they differ between two runs of the same job


def sorted_rows(path, drop=COSTS) -> list[dict]:
    rows = [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(path.open())]
    return sorted(rows, key=lambda r: (r["config"], int(r["step"]), r.get("metric", "")))


def test_returns_resumes_a_killed_run_exactly(tmp_path):
    """A run stopped after its 3rd evaluation (checkpoint after the 2nd) and run again gives the evaluations and
    diagnostics (weight norms, ranks of the networks' features) of a run never stopped, to the last digit."""
    full, cut = tmp_path / "full", tmp_path / "cut"
    run_python([str(RETURNS), *RESUME_ARGS, "--out", str(full)], cwd=tmp_path)
    run_python([str(RETURNS), *RESUME_ARGS, "--out", str(cut), "--stop-after-evals", "3"], cwd=tmp_path)
    partial = sorted_rows(cut / "returns.csv")
    assert {int(r["step"]) for r in partial} == {150, 300, 450}  # the 3rd is measured again after the resume
    assert sorted(p.name for p in (cut / "checkpoints").iterdir()) == ["crossq_seed0.ckpt", "ota2021_seed0.ckpt"]
    resumed = run_python([str(RETURNS), *RESUME_ARGS, "--out", str(cut)], cwd=tmp_path)
    assert "ota2021 seed 0: resumed at step 300" in resumed.stdout  # tqdm.write prints there
    for name in ("returns.csv", "diagnostics.csv"):
        assert sorted_rows(cut / name) == sorted_rows(full / name), name
    assert {int(r["step"]) for r in sorted_rows(cut / "returns.csv")} == {150, 300, 450, 600}
    wall = {
        r["config"]: float(r["wall_seconds"]) for r in sorted_rows(cut / "returns.csv", drop=()) if r["step"] == "600"
    }
    assert len(wall) == 2 and all(w > 0 for w in wall.values())

    # A finished job is not run again: nothing is trained, the files stay as they are.
    done = {p.name: p.read_bytes() for p in (cut / "checkpoints").iterdir()}
    finished_rows = sorted_rows(cut / "returns.csv", drop=())
    assert sorted(done) == ["crossq_seed0.done.json", "ota2021_seed0.done.json"]
    again = run_python([str(RETURNS), *RESUME_ARGS, "--out", str(cut)], cwd=tmp_path)
    assert "resumed" not in again.stdout and "step 600:" not in again.stdout
    assert {p.name: p.read_bytes() for p in (cut / "checkpoints").iterdir()} == done
    assert sorted_rows(cut / "returns.csv", drop=()) == finished_rows  # rebuilt from the finished records


def test_configs_run_one_after_another_share_the_folder(tmp_path):
    """A second run with other configurations into the same --out keeps the first run's rows in the CSVs, and
    its summary lists both."""
    args = [str(RETURNS), "--env", "Pendulum-v1", "--budget", "300", "--seeds", "1", "--eval-every", "150"]
    args += ["--learning-starts", "150", "--sac-width", "16", "--crossq-width", "16", "--out", str(tmp_path)]
    run_python([*args, "--configs", "sac"], cwd=tmp_path)
    second = run_python([*args, "--configs", "crossq"], cwd=tmp_path).stdout
    rows = list(csv.DictReader((tmp_path / "returns.csv").open()))
    steps = sorted((r["config"], int(r["step"])) for r in rows)
    assert steps == [("crossq", 150), ("crossq", 300), ("sac", 150), ("sac", 300)]
    assert {r["config"] for r in csv.DictReader((tmp_path / "diagnostics.csv").open())} == {"crossq", "sac"}
    assert "| crossq |" in second and "| sac |" in second


def test_summary_lists_finished_seeds_in_seed_order(monkeypatch):
    returns = load_benchmark_module(monkeypatch, "returns")
    reports = load_benchmark_module(monkeypatch, "reports")
    args = returns.parse_args(["--budget", "100", "--configs", "sac", "--seeds", "3"])

    def row(seed, step, value):
        return dict(config="sac", seed=seed, step=step, mean_return=value, std_return=0.0, wall_seconds=1.0)

    # Seed 2 reported first, seed 1 never reached the budget.
    rows = [row(2, 100, 30.0), row(0, 50, 5.0), row(1, 50, 7.0), row(0, 100, 10.0)]
    assert "| sac | 20.0 +/- 10.0 | 10, 30 |" in reports.summary(rows, args)


def test_returns_compile_update(tmp_path, monkeypatch, capsys):
    """``--compile-update``: ``sac`` is trained by sb3_large.SAC with compiled steps, as ``sac_hl`` is, and
    resumes as such; configs trained by stock classes are refused with the allowed ones named."""
    args = [str(RETURNS), "--env", "Pendulum-v1", "--budget", "400", "--seeds", "1", "--eval-every", "200"]
    args += ["--learning-starts", "200", "--width", "16", "--sac-width", "16", "--checkpoint-every", "1"]
    args += ["--configs", "sac", "sac_hl", "--compile-update", "--workers", "2", "--out", str(tmp_path)]
    run_python([*args, "--stop-after-evals", "1"], cwd=tmp_path)
    run_python(args, cwd=tmp_path)  # resumes both jobs from their step-200 checkpoints
    rows = list(csv.DictReader((tmp_path / "returns.csv").open()))
    steps = sorted((r["config"], int(r["step"])) for r in rows)
    assert steps == [("sac", 200), ("sac", 400), ("sac_hl", 200), ("sac_hl", 400)]
    record = json.loads((tmp_path / "checkpoints" / "sac_seed0.done.json").read_text())
    assert record["settings"]["compile_update"] is True
    returns = load_benchmark_module(monkeypatch, "returns")
    configs = load_benchmark_module(monkeypatch, "configs")
    assert configs.model_class("sac", returns.parse_args(["--compile-update", "--configs", "sac"])).__module__ == (
        "sb3_large.learners.sac"
    )
    with pytest.raises(SystemExit):
        returns.parse_args(["--compile-update", "--configs", "sac", "crossq"])
    allowed = "--compile-update: crossq trains with a stock class; allowed: sac, sac_hl, sac_simba_hl"
    assert allowed in capsys.readouterr().err


def test_returns_refuses_checkpoints_of_other_settings(tmp_path):
    args = [str(RETURNS), "--env", "Pendulum-v1", "--seeds", "1", "--configs", "crossq", "--eval-every", "150"]
    args += ["--checkpoint-every", "1", "--learning-starts", "150", "--crossq-width", "32", "--out", str(tmp_path)]
    run_python([*args, "--budget", "600", "--stop-after-evals", "2"], cwd=tmp_path)
    assert (tmp_path / "checkpoints" / "crossq_seed0.ckpt").exists()
    proc = subprocess.run(
        [sys.executable, *args, "--budget", "900"],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "crossq seed 0 was started with budget=600, this run has 900" in proc.stderr


def test_a_yamls_own_settings_reach_the_model(monkeypatch):
    """Without overrides a job trains what its YAML entry says (warm-up, VecNormalize, per-network widths,
    gradient steps, entropy settings); each command-line size overrides only what it names."""
    from stable_baselines3.common.vec_env import VecNormalize

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


def test_returns_resumes_a_vecnormalize_job_exactly(tmp_path):
    """A job under VecNormalize (observation and reward statistics, the discounted-return accumulator) stopped
    and resumed gives the evaluations, diagnostics and gradient-step counts of a run never stopped."""
    args = [str(RETURNS), "--env", "Pendulum-v1", "--budget", "800", "--seeds", "1", "--configs", "sac_ln"]
    args += ["--eval-every", "200", "--checkpoint-every", "2"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    run_python([*args, "--out", str(full)], cwd=tmp_path)
    run_python([*args, "--out", str(cut), "--stop-after-evals", "3"], cwd=tmp_path)
    assert (cut / "checkpoints" / "sac_ln_seed0.ckpt").exists()
    run_python([*args, "--out", str(cut)], cwd=tmp_path)
    for name in ("returns.csv", "diagnostics.csv"):
        assert sorted_rows(cut / name) == sorted_rows(full / name), name
    rows = sorted_rows(full / "returns.csv", drop=())
    # The YAML's 300 random steps, then 2 gradient steps per env step.
    assert [int(r["gradient_steps"]) for r in rows] == [0, 198, 598, 1000]
    assert float(rows[-1]["cpu_seconds"]) > float(rows[0]["cpu_seconds"])


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


def test_pilot_reports_training_returns(tmp_path):
    script = str(ROOT / "benchmarks" / "pilot.py")
    args = [script, "hl", "--algo", "sb3_large.sac", "--env", "Pendulum-v1", "--steps", "600", "--every", "200"]
    args += ["--kwargs", '{"width": 16, "normalize_obs": true, "q_distribution": {"bins": 11}}']
    args += ["--algo-kwargs", '{"learning_starts": 300}', "--callbacks", "sb3_large.normalization.ObsNormUpdater"]
    rows = json_rows(run_python(args, cwd=tmp_path).stdout)
    assert [r["step"] for r in rows] == [200, 400, 600]
    assert rows[0]["train_return"] is None and rows[-1]["train_return"] < 0  # Pendulum: one episode at 200 steps


def test_width_reads_finished_runs_per_width(tmp_path):
    """width.py: per config and width, the final returns of the seeds that reached the budget and the training
    returns of that same evaluation, seeds pooled over the folders of a width; an unfinished seed and an unlisted
    config are left out; a seed given twice, a config with no finished run and a malformed --run are refused."""

    def write_run(folder, finals, unfinished=()):
        folder.mkdir()
        with (folder / "returns.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["config", "seed", "step", "mean_return", "std_return", "wall_seconds"])
            for (config, seed), value in finals.items():
                writer.writerows([[config, seed, 50, 0.0, 0.0, 1.0], [config, seed, 100, value, 0.0, 2.0]])
            for config, seed in unfinished:
                writer.writerow([config, seed, 50, 999.0, 0.0, 1.0])
        with (folder / "diagnostics.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["config", "seed", "step", "metric", "value"])
            for (config, seed), value in finals.items():
                writer.writerows([[config, seed, 50, "train_return_last10", 777], [config, seed, 100, "srank", 3]])
                writer.writerow([config, seed, 100, "train_return_last10", value / 2])

    write_run(tmp_path / "w16", {("sac", 0): 12.0, ("hl", 0): 80.0}, unfinished=[("sac", 1)])
    write_run(tmp_path / "w8", {("sac", 0): 10.0, ("hl", 0): 40.0, ("crossq", 0): 1.0})
    write_run(tmp_path / "w8b", {("sac", 1): 30.0})
    script = str(ROOT / "benchmarks" / "width.py")
    args = [script, "--budget", "100", "--configs", "sac", "hl", "--out", str(tmp_path / "out")]
    runs = ["--run", f"16={tmp_path / 'w16'}", "--run", f"8={tmp_path / 'w8'}", "--run", f"8={tmp_path / 'w8b'}"]
    out = run_python([*args, *runs], cwd=tmp_path).stdout
    rows = [line for line in out.splitlines() if line.startswith(("| sac |", "| hl |"))]
    assert rows == [
        "| sac | 8 | 2 | 20.0 +/- 10.0 | 0: 10, 1: 30 | 10 (n=2) |",
        "| sac | 16 | 1 | 12.0 | 0: 12 | 6 (n=1) |",
        "| hl | 8 | 1 | 40.0 | 0: 40 | 20 (n=1) |",
        "| hl | 16 | 1 | 80.0 | 0: 80 | 40 (n=1) |",
    ]
    assert "crossq" not in out and "999" not in out and "777" not in out
    assert (tmp_path / "out" / "width.png").stat().st_size > 0
    assert (tmp_path / "out" / "width.md").read_text().count("| hl |") == 2

    def refused(*extra):
        result = subprocess.run([sys.executable, *args, *extra], capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        return result.stderr

    twice = refused(*runs, "--run", f"8={tmp_path / 'w8b'}")
    assert f"sac seed 1 at width 8 is in both {tmp_path / 'w8b'} and {tmp_path / 'w8b'}" in twice
    assert "--configs: no run of hl reached --budget 100" in refused("--run", f"8={tmp_path / 'w8b'}")
    assert "argument --run: expected WIDTH=FOLDER with a positive WIDTH, got 'w8'" in refused("--run", "w8")
