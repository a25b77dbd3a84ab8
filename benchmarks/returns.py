"""Returns of several configurations side by side in one run: same env, seeds, step budget and evaluation.

    python benchmarks/returns.py --env Hopper-v4 --budget 100000 --seeds 3 --out results/hopper

Configurations (``--configs``, any subset, in this order by default):

- ``sac``: stock SB3 SAC, ``MlpPolicy`` 256x2, RL Zoo's MuJoCo hyperparameters (SB3 defaults, 10k random steps)
- ``densenet``: SAC with the large DenseNet actor and critics (``--width`` x ``--depth``)
- ``ofenet``: ``densenet`` on OFENet features (per-env OFENet settings of ``hyperparams/sac_large.yml``)
- ``apex``: ``ofenet`` plus ``--actors`` Ape-X actors (the full recipe), learner at ``--replay-ratio`` gradient
  steps per stored transition; the budget counts the actors' steps too
- ``crossq``: sb3-contrib CrossQ with RL Zoo's MuJoCo hyperparameters (critic width ``--crossq-width``)

Every (config, seed) job trains in its own process (``--workers`` at a time, ``--threads`` torch threads
each) and is evaluated every ``--eval-every`` steps on 10 deterministic episodes of a separate eval env
(seeded ``10000 + seed``, never a training seed). Writes to ``--out``: ``returns.csv`` (config, seed, step,
mean_return, std_return, wall_seconds: training time, evaluation excluded), ``diagnostics.csv``
(``sb3_large.diagnostics`` at every evaluation; long format: config, seed, step, metric, value),
``returns.png`` (mean over seeds, min-max band) and ``summary.md``. Rows are appended as they come, so an
interrupted run keeps what it measured; ``--replot`` rebuilds the plot and summary from ``returns.csv``.
"""

import argparse
import csv
import multiprocessing as mp
import queue
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import gymnasium as gym
import torch as th
import yaml
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from tqdm import tqdm

CONFIGS = ("sac", "densenet", "ofenet", "apex", "crossq")
RETURN_FIELDS = ("config", "seed", "step", "mean_return", "std_return", "wall_seconds")
OFENET_YAML = Path(__file__).resolve().parent.parent / "hyperparams" / "sac_large.yml"


def ofenet_settings(env_id: str) -> dict:
    """The env's OFENet options from our RL Zoo YAML (the original per-env sizes), else 6 layers x 40."""
    entry = yaml.safe_load(OFENET_YAML.read_text()).get(env_id, {})
    return dict(entry.get("policy_kwargs", {}).get("ofenet", {"layers": 6, "growth": 40}))


def make_model(config: str, args, seed: int):
    """The model and its extra callbacks for one configuration."""
    from sb3_contrib import CrossQ
    from stable_baselines3 import SAC

    import sb3_large  # noqa: F401  (policy aliases; imported in the worker process)
    from sb3_large.apex import ApeXCollector
    from sb3_large.ofenet import OFENetTrainer

    common = dict(learning_starts=args.learning_starts, seed=seed, buffer_size=max(args.budget, 1000))
    large = dict(arch="densenet", width=args.width, depth=args.depth)
    ofenet = dict(large, ofenet={**ofenet_settings(args.env), "pretrain_steps": args.pretrain})
    if config == "sac":
        return SAC("MlpPolicy", args.env, **common), []
    if config == "densenet":
        return SAC("LargeMlpPolicy", args.env, policy_kwargs=large, **common), []
    if config == "ofenet":
        return SAC("OFENetPolicy", args.env, policy_kwargs=ofenet, **common), [OFENetTrainer()]
    if config == "apex":
        callbacks = [OFENetTrainer(), ApeXCollector(n_actors=args.actors, replay_ratio=args.replay_ratio)]
        return SAC("OFENetPolicy", args.env, policy_kwargs=ofenet, **common), callbacks
    if config == "crossq":
        net_arch = dict(pi=[256, 256], qf=[args.crossq_width] * 2)
        model = CrossQ(
            "MlpPolicy", args.env, learning_rate=1e-3, policy_delay=3, policy_kwargs=dict(net_arch=net_arch), **common
        )
        return model, []
    raise ValueError(f"configs: unknown configuration {config!r}; allowed: {', '.join(CONFIGS)}")


class Evaluator(BaseCallback):
    """Evaluates (return and representation diagnostics) every ``every`` env steps and at the end of training.

    Rows and progress go to the parent process through ``messages``.
    """

    def __init__(self, config: str, seed: int, env_id: str, every: int, messages):
        from sb3_large.diagnostics import RepresentationDiagnostics

        super().__init__()
        self.config, self.seed, self.every, self.messages = config, seed, every, messages
        self.diagnostics = RepresentationDiagnostics(every=every, batch_size=1024)
        self.eval_env = Monitor(gym.make(env_id))
        self.eval_env.reset(seed=10_000 + seed)
        self.next_eval, self.last_eval, self.reported, self.eval_seconds = every, -1, 0, 0.0
        self.start = time.perf_counter()

    def _init_callback(self) -> None:
        self.diagnostics.init_callback(self.model)

    def _on_step(self) -> bool:
        if self.num_timesteps - self.reported >= 500:
            self.report_progress()
        if self.num_timesteps >= self.next_eval:
            self.evaluate()
            self.next_eval = (self.num_timesteps // self.every + 1) * self.every
        return True

    def _on_training_end(self) -> None:
        self.num_timesteps = self.model.num_timesteps  # SB3 refreshes it in on_step only
        self.report_progress()
        if self.last_eval != self.num_timesteps:
            self.evaluate()

    def report_progress(self) -> None:
        self.messages.put(("progress", self.num_timesteps - self.reported))
        self.reported = self.num_timesteps

    def evaluate(self) -> None:
        wall = time.perf_counter() - self.start - self.eval_seconds
        begin = time.perf_counter()
        mean, std = evaluate_policy(self.model, self.eval_env, n_eval_episodes=10, deterministic=True)
        diagnostics = self.diagnostics.measure()
        self.eval_seconds += time.perf_counter() - begin
        self.last_eval = self.num_timesteps
        where = dict(config=self.config, seed=self.seed, step=self.num_timesteps)
        row = dict(where, mean_return=round(float(mean), 2), std_return=round(float(std), 2))
        self.messages.put(("return", dict(row, wall_seconds=round(wall, 1))))
        for metric, value in diagnostics.items():  # long format: configs measure different networks
            self.messages.put(("diagnostics", dict(where, metric=metric, value=value)))


def run_job(config: str, seed: int, args, messages) -> None:
    """One (config, seed) training run, in a worker process."""
    th.set_num_threads(args.threads)
    model, callbacks = make_model(config, args, seed)
    model.learn(args.budget, callback=[*callbacks, Evaluator(config, seed, args.env, args.eval_every, messages)])


class CsvSink:
    """Appends dict rows with the given fields to a CSV file (header first)."""

    def __init__(self, path: Path, fields: tuple[str, ...]):
        self.path, self.fields = path, fields
        path.unlink(missing_ok=True)

    def write(self, row: dict) -> None:
        new = not self.path.exists()
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields)
            if new:
                writer.writeheader()
            writer.writerow(row)


def by_config(rows: list[dict]) -> dict[str, dict[int, list[dict]]]:
    grouped: dict[str, dict[int, list[dict]]] = {}
    for row in rows:
        grouped.setdefault(row["config"], {}).setdefault(row["seed"], []).append(row)
    for seeds in grouped.values():
        for curve in seeds.values():
            curve.sort(key=lambda r: r["step"])
    return grouped


def complete_runs(rows: list[dict], budget: int) -> dict[str, dict[int, list[dict]]]:
    """Per config, the seeds whose run reached the budget (an interrupted run has no final return)."""
    runs = {}
    for config, seeds in by_config(rows).items():
        done = {seed: curve for seed, curve in seeds.items() if curve[-1]["step"] >= budget}
        if done:
            runs[config] = done
    return runs


def plot(rows: list[dict], path: Path, title: str, budget: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for config, seeds in complete_runs(rows, budget).items():
        steps = sorted({r["step"] for curve in seeds.values() for r in curve})
        # Ape-X actors overshoot eval points by a chunk: align each seed's k-th evaluation.
        n = min(len(curve) for curve in seeds.values())
        values = [[curve[k]["mean_return"] for curve in seeds.values()] for k in range(n)]
        xs = [statistics.mean(curve[k]["step"] for curve in seeds.values()) for k in range(n)] if n else steps
        ax.plot(xs, [statistics.mean(v) for v in values], label=f"{config} ({len(seeds)} seeds)")
        ax.fill_between(xs, [min(v) for v in values], [max(v) for v in values], alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return (10 deterministic episodes)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(rows: list[dict], args) -> str:
    """Markdown table: final return over the seeds that reached the budget (mean +/- std), mean of the last 3
    evaluations, ratio to ``sac``."""
    finals: dict[str, dict[str, float]] = {}
    for config, seeds in complete_runs(rows, args.budget).items():
        last = [curve[-1]["mean_return"] for curve in seeds.values()]
        tail = [statistics.mean(r["mean_return"] for r in curve[-3:]) for curve in seeds.values()]
        wall = [curve[-1]["wall_seconds"] for curve in seeds.values()]
        finals[config] = dict(
            mean=statistics.mean(last),
            std=statistics.pstdev(last),
            tail=statistics.mean(tail),
            wall=statistics.mean(wall),
            seeds=len(last),
            per_seed=", ".join(f"{v:.0f}" for v in last),
        )
    base = finals.get("sac", {}).get("mean")
    lines = [
        f"{args.env}, {args.budget} steps, seeds {args.seed_offset}..{args.seed_offset + args.seeds - 1}, "
        f"large width {args.width}x{args.depth}, CrossQ critic {args.crossq_width}x2",
        "",
        "| config | final return (mean +/- std over seeds) | per seed | last 3 evals | vs sac | train wall s |",
        "|---|---|---|---|---|---|",
    ]
    for config in (c for c in args.configs if c in finals):
        f = finals[config]
        ratio = f"{f['mean'] / base:.2f}x" if base and base > 0 else "-"
        lines.append(
            f"| {config} | {f['mean']:.1f} +/- {f['std']:.1f} | {f['per_seed']} | {f['tail']:.1f} | {ratio} "
            f"| {f['wall']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Hopper-v4")
    parser.add_argument("--budget", type=int, default=100_000, help="env steps per run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-offset", type=int, default=0, help="first training seed")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), metavar="CONFIG", help=", ".join(CONFIGS))
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--learning-starts", type=int, default=10_000, help="random steps (every config)")
    parser.add_argument("--width", type=int, default=2048, help="large body width")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--pretrain", type=int, default=10_000, help="OFENet pretraining updates")
    parser.add_argument("--actors", type=int, default=2, help="Ape-X actors of the apex config")
    parser.add_argument(
        "--replay-ratio", type=float, default=1.0, help="apex learner's gradient steps per stored transition"
    )
    parser.add_argument("--crossq-width", type=int, default=2048, help="CrossQ critic width (RL Zoo: 2048)")
    parser.add_argument("--workers", type=int, default=1, help="jobs trained at the same time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job")
    parser.add_argument("--replot", action="store_true", help="only rebuild returns.png and summary.md from the CSV")
    args = parser.parse_args(argv)
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown configuration {unknown[0]!r}; allowed: {', '.join(CONFIGS)}")
    for name in ("budget", "seeds", "eval_every", "width", "depth", "actors", "crossq_width", "workers", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')}: must be positive, got {getattr(args, name)}")
    return args


def read_returns(path: Path) -> list[dict]:
    rows = list(csv.DictReader(path.open()))
    for row in rows:
        row.update(seed=int(row["seed"]), step=int(row["step"]))
        row.update({k: float(row[k]) for k in ("mean_return", "std_return", "wall_seconds")})
    return rows


def report(rows: list[dict], args) -> None:
    plot(rows, args.out / "returns.png", f"{args.env}, {args.budget} steps", args.budget)
    text = summary(rows, args)
    (args.out / "summary.md").write_text(text)
    print(text)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.replot:
        report(read_returns(args.out / "returns.csv"), args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    returns_csv = CsvSink(args.out / "returns.csv", RETURN_FIELDS)
    diagnostics_csv = CsvSink(args.out / "diagnostics.csv", ("config", "seed", "step", "metric", "value"))
    jobs = [(config, args.seed_offset + s) for s in range(args.seeds) for config in args.configs]
    rows: list[dict] = []
    context = mp.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        messages = manager.Queue()
        futures = [pool.submit(run_job, config, seed, args, messages) for config, seed in jobs]
        with tqdm(total=args.budget * len(jobs), unit="step", desc=args.env, file=sys.stderr) as bar:
            while True:
                try:
                    kind, payload = messages.get(timeout=0.5)
                except queue.Empty:
                    if all(f.done() for f in futures):
                        break
                    continue
                if kind == "progress":
                    bar.update(payload)
                elif kind == "return":
                    rows.append(payload)
                    returns_csv.write(payload)
                    bar.write(
                        f"{payload['config']} seed {payload['seed']} step {payload['step']}: "
                        f"{payload['mean_return']:.1f} +/- {payload['std_return']:.1f}"
                    )
                else:
                    diagnostics_csv.write(payload)
        for (config, seed), future in zip(jobs, futures, strict=True):
            if future.exception() is not None:
                raise RuntimeError(f"{config} seed {seed} failed") from future.exception()
    report(rows, args)


if __name__ == "__main__":
    main()
