"""Returns of several configurations side by side in one run: same env, seeds, step budget and evaluation.

    python benchmarks/returns.py --env Hopper-v4 --budget 50000 --seeds 3 --out results/hopper

Configurations (``--configs``, any subset; the first four by default):

- ``sac``: stock SB3 SAC, ``MlpPolicy`` 256x2 (``--sac-width``), RL Zoo's MuJoCo hyperparameters (SB3 defaults,
  10k random steps)
- ``crossq``: sb3-contrib CrossQ with RL Zoo's MuJoCo hyperparameters (5k random steps, critic width
  ``--crossq-width``, RL Zoo's 2048 by default)
- ``ota2021``: the paper's recipe (OFENet features, DenseNet actor and critics), the ``--env`` entry of
  ``hyperparams/sac_ota2021.yml``
- ``ota2021_apex``: the same plus Ape-X actors, the entry of ``hyperparams/sac_ota2021_apex.yml``; the budget
  counts the actors' steps too
- ``sac_large``: the package's default recipe, the entry of ``hyperparams/sac_large.yml``
- ``densenet``: SAC with the large DenseNet actor and critics only (an ablation; 2048x2 unless ``--width`` /
  ``--depth``)
- ``crossq_large``: sb3-contrib CrossQ with our bodies, the entry of ``hyperparams/crossq_large.yml``
- ``sac_hl``, ``sac_simba_hl``: candidates for the default recipe, ``benchmarks/recipes/<name>.yml``: SAC with
  LayerNorm DenseNet bodies and categorical (HL-Gauss) critics, the second with running observation
  normalization, trained by ``sb3_large.SAC`` as ``python -m sb3_large.zoo train`` does; ``sac_hl_sb3``: the
  ``sac_hl`` entry trained by stock SB3 SAC (stock ``rl_zoo3.train``), which regresses the critics' expected Q
  values by squared error instead of the cross-entropy
- ``crossq_ofenet``: ``benchmarks/recipes/crossq_ofenet.yml``, CrossQ's networks and hyperparameters on the paper's
  OFENet features on every MuJoCo task (``crossq_large.yml`` uses them on HalfCheetah only)
- ``sac_ln``: ``benchmarks/recipes/sac_ln.yml``, stock SAC at 2 gradient steps per env step on LayerNorm
  bodies (critic wider than the actor) with RL Zoo's ``normalize`` (observations and rewards); ``sac_ln_h1``:
  the same with SB3's target entropy -|A| instead of -|A|/2; ``sac_ln_obs``: observations normalized, rewards
  raw; ``sac_ln_utd1``: one gradient step per env step; ``sac_ln_obs_ent1``: ``sac_ln_obs`` with SB3's initial
  entropy coefficient 1.0 instead of 0.01; ``sac_ln_obs_utd1``: ``sac_ln_obs`` at one gradient step per env step;
  ``sac_ln_obs_ls10k``: ``sac_ln_obs`` after 10k random steps instead of 5k; ``sac_ln_obs_utd1_pa``:
  ``sac_ln_obs_utd1`` with a plain actor (no LayerNorm); ``sac_ln_obs_utd1_h``: ``sac_ln_obs_utd1`` with
  SB3's target entropy -|A|; ``sac_ln_obs_pa``: ``sac_ln_obs`` with a plain actor; ``sac_ln_bf16``: ``sac_ln``
  with the policy's ``precision: bf16`` (bfloat16 forward passes)
- ``crossq_wn``: ``benchmarks/recipes/crossq_wn.yml``, RL Zoo's CrossQ with weight normalization (every hidden
  row at unit norm) at 2 gradient steps per env step
- ``sac_ln_hl``: ``benchmarks/recipes/sac_ln_hl.yml``, ``sac_ln`` with categorical (HL-Gauss) critics, trained by
  ``sb3_large.SAC`` (cross-entropy), as ``python -m sb3_large.zoo train`` does
- ``sac_cat``: ``benchmarks/recipes/sac_cat.yml``, FlashSAC's training settings on ``sac_large``'s LayerNorm
  networks: categorical critics on [-5, 5], rewards scaled to a bounded return (``return_bound``), one gradient step
  per env step at batch 512, the actor on every 2nd (``actor_update_interval``), target entropy from a std of 0.15,
  10k random steps, trained by ``sb3_large.SAC``; ``sac_cat_utd2``: the same at two gradient steps per env step

The YAML configurations are built as stock RL Zoo builds them (policy, hyperparameters, callbacks, and
``normalize``: a ``VecNormalize`` around the training env, whose observation statistics the eval env reads,
without updating them or scaling rewards, as RL Zoo's eval env does). Only what the command line gives
overrides them: ``--width``/``--depth`` (every large body, replacing the YAML's shared and per-network sizes),
``--actor-width``/``--critic-width`` (one network each), ``--learning-starts`` (every config; by default each
YAML's own and RL Zoo's for the built-in ones), ``--pretrain`` (OFENet pretraining updates), ``--actors`` and
``--replay-ratio`` (Ape-X collector); the seed and a replay buffer the size of the budget are always set.
``--compile-update`` (for GPU runs, where an uncompiled update of these small networks is launch-bound)
compiles the gradient steps of ``sac``, ``sac_hl``, ``sac_simba_hl`` and ``sac_ln_hl``; ``sac`` is then trained by
``sb3_large.SAC``, whose updates are SB3's SAC updates (``tests/test_learners.py``).

Every (config, seed) job trains in its own process (``--workers`` at a time, ``--threads`` torch threads
each) and is evaluated every ``--eval-every`` steps on ``--eval-episodes`` (10) deterministic episodes of a separate
eval env (seeded ``10000 + seed``, never a training seed). Writes to ``--out``: ``returns.csv`` (config, seed, step,
mean_return, std_return, and the job's cost so far: wall_seconds and cpu_seconds of training, evaluations and
checkpoints excluded, CPU time of the job's process (all its threads; Ape-X actor processes are not counted),
and gradient_steps), ``diagnostics.csv`` (``sb3_large.diagnostics`` at every evaluation, and
``train_return_last10``, the mean of the last 10 training episodes, for choices that must not read the eval
episodes; long format: config, seed, step, metric, value), ``returns.png`` (mean over seeds, min-max band) and
``summary.md``; ``--replot`` rebuilds the plot and summary from ``returns.csv``.

Resuming: every ``--checkpoint-every`` evaluation periods a job writes ``checkpoints/<config>_seed<seed>.ckpt``
in ``--out`` (model with its optimizers, replay buffer, python/numpy/torch RNG states, the state of the training
and eval envs with ``VecNormalize``'s statistics, the evaluations so far and the training time so far; written to
a temporary file, then renamed). Running the same command again continues every job from its checkpoint and
skips finished jobs (``checkpoints/<config>_seed<seed>.done.json``); the CSVs are rebuilt first from the files of
every job in ``--out`` (other configurations run into the same folder keep their rows), so rows written after a
job's last checkpoint are measured again. A resumed job gives the same evaluations as an uninterrupted one with
the same ``--checkpoint-every``, except ``ota2021_apex``, whose actor processes restart and run asynchronously.
Settings that would change a job (env, budget, widths, YAML entry, ...) must match the ones its checkpoint was
written with. Checkpoints are pickles, as SB3's replay buffer files are: resume only from folders this script
wrote.
"""

import argparse
import io
import multiprocessing as mp
import queue
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import gymnasium as gym
import numpy as np
from checkpoints import (
    JobFiles,
    base_env,
    env_layers,
    recorded_jobs,
    rng_state,
    set_rng_state,
    set_vec_env_state,
    vec_env_state,
)
from configs import (
    COMPILABLE,
    CONFIGS,
    DEFAULT_CONFIGS,
    YAML_CONFIGS,
    env_normalization,
    make_callbacks,
    make_env,
    make_model,
    model_class,
    zoo_entry,
)
from reports import DIAGNOSTIC_FIELDS, RETURN_FIELDS, CsvSink, read_returns, report
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize, sync_envs_normalization
from tqdm import tqdm

# Arguments that change what a job computes: a checkpoint resumes only under the same values.
JOB_SETTINGS = (
    "env",
    "budget",
    "eval_every",
    "learning_starts",
    "width",
    "depth",
    "actor_width",
    "critic_width",
    "pretrain",
    "actors",
    "replay_ratio",
    "crossq_width",
    "sac_width",
    "compile_update",
    "eval_episodes",
)
# Settings added since, with the value the checkpoints and records written before them ran with.
SETTINGS_BEFORE = {"eval_episodes": 10}


def job_settings(config: str, args) -> dict:
    """What defines a job's computation besides its seed: the arguments and, for a YAML config, its entry."""
    settings = {name: getattr(args, name) for name in JOB_SETTINGS}
    if config in YAML_CONFIGS:
        settings["entry"] = zoo_entry(config, args.env)
    return settings


class TrainClock:
    """Wall and CPU seconds spent training, bookkeeping (evaluations, checkpoints) left out; a resumed job's clock
    continues from the checkpoint's readings. CPU time is the process's, all its threads together."""

    def __init__(self, wall: float = 0.0, cpu: float = 0.0):
        self.wall_start, self.cpu_start = time.perf_counter() - wall, time.process_time() - cpu

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall_start, time.process_time() - self.cpu_start

    @contextmanager
    def excluded(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall_start += time.perf_counter() - wall
            self.cpu_start += time.process_time() - cpu


def make_eval_env(env_id: str, seed: int, normalized: bool) -> VecEnv:
    """The separate eval env of a job, seeded ``10000 + seed``; for a normalizing configuration it reads the
    training env's observation statistics (synced before each evaluation) and neither updates them nor scales
    rewards, as RL Zoo's eval env."""
    env = Monitor(gym.make(env_id))
    env.reset(seed=10_000 + seed)
    vec_env: VecEnv = DummyVecEnv([lambda: env])
    return VecNormalize(vec_env, training=False, norm_reward=False) if normalized else vec_env


class Evaluator(BaseCallback):
    """Evaluates (return over ``episodes`` deterministic episodes, representation diagnostics) every ``every`` env
    steps before ``budget``; the job evaluates at the budget itself once ``learn()`` has returned, after the last
    gradient steps (an Ape-X learner can owe many when the actors' transitions reach the budget).

    Rows and progress go to the parent process through ``messages`` and are kept for the job's checkpoint.
    ``stop_after`` evaluations in this process end training at once, as a kill would.
    """

    def __init__(
        self,
        config: str,
        seed: int,
        eval_env: VecEnv,
        every: int,
        episodes: int,
        budget: int,
        messages,
        stop_after: int | None = None,
        training_returns: bool = True,
    ):
        super().__init__()
        self.config, self.seed, self.every, self.episodes, self.budget = config, seed, every, episodes, budget
        self.messages, self.stop_after, self.training_returns = messages, stop_after, training_returns
        self.eval_env = eval_env
        self.next_eval, self.last_eval, self.reported, self.evaluations = every, -1, 0, 0
        self.returns: list[dict] = []
        self.diagnostics: list[dict] = []
        self.stopped = False
        self.clock = TrainClock()

    def state(self) -> dict:
        wall, cpu = self.clock.read()
        return dict(
            next_eval=self.next_eval,
            last_eval=self.last_eval,
            train_seconds=wall,
            cpu_seconds=cpu,
            eval_env=vec_env_state(self.eval_env),
        )

    def restore(self, state: dict, step: int, returns: list[dict], diagnostics: list[dict]) -> None:
        """Continue from a checkpoint written at env step ``step``."""
        self.next_eval, self.last_eval, self.reported = state["next_eval"], state["last_eval"], step
        self.clock = TrainClock(state["train_seconds"], state["cpu_seconds"])
        self.returns, self.diagnostics = list(returns), list(diagnostics)
        set_vec_env_state(self.eval_env, state["eval_env"])

    def _on_step(self) -> bool:
        if self.num_timesteps - self.reported >= 500:
            self.report_progress()
        if self.next_eval <= self.num_timesteps < self.budget:
            self.evaluate()
            self.next_eval = (self.num_timesteps // self.every + 1) * self.every
            if self.stop_after is not None and self.evaluations >= self.stop_after:
                self.stopped = True
                return False
        return True

    def _on_training_end(self) -> None:
        self.report_progress()

    def report_progress(self) -> None:
        step = self.model.num_timesteps  # SB3 refreshes the callback's copy in on_step only
        self.messages.put(("progress", step - self.reported))
        self.reported = step

    def evaluate(self) -> None:
        from sb3_large.diagnostics import RepresentationDiagnostics

        wall, cpu = self.clock.read()
        with self.clock.excluded():
            train_env = self.model.get_env()
            if isinstance(self.eval_env, VecNormalize):
                sync_envs_normalization(train_env, self.eval_env)
            mean, std = evaluate_policy(self.model, self.eval_env, n_eval_episodes=self.episodes, deterministic=True)
            # A fresh instance per measurement: its replay-batch sampler starts from its seed each time, so the
            # measurement depends on nothing a checkpoint would have to carry.
            probe = RepresentationDiagnostics(every=self.every, batch_size=1024)
            probe.init_callback(self.model)
            diagnostics = probe.measure()
        train_return = training_return(train_env) if self.training_returns else None
        if train_return is not None:  # what a choice between configurations may read: not the eval episodes
            diagnostics["train_return_last10"] = train_return
        self.evaluations += 1
        self.last_eval = step = self.model.num_timesteps
        where = dict(config=self.config, seed=self.seed, step=step)
        row = dict(where, mean_return=round(float(mean), 2), std_return=round(float(std), 2))
        row.update(wall_seconds=round(wall, 1), cpu_seconds=round(cpu, 1), gradient_steps=self.model._n_updates)
        self.returns.append(row)
        self.messages.put(("return", row))
        for metric, value in diagnostics.items():  # long format: configs measure different networks
            self.diagnostics.append(dict(where, metric=metric, value=value))
            self.messages.put(("diagnostics", self.diagnostics[-1]))


def training_return(env: VecEnv, last: int = 10) -> float | None:
    """Mean return of the training env's last ``last`` finished episodes (None before the first), as its Monitor
    recorded them: raw rewards, also under ``VecNormalize``. The Monitor is part of the env state a checkpoint
    restores."""
    monitors = [layer for layer in env_layers(base_env(env)) if isinstance(layer, Monitor)]
    episodes = monitors[0].get_episode_rewards()[-last:] if monitors else []
    return round(float(np.mean(episodes)), 2) if episodes else None


def save_checkpoint(files: JobFiles, settings: dict, model, evaluator: Evaluator) -> None:
    with evaluator.clock.excluded():
        model_bytes, buffer_bytes = io.BytesIO(), io.BytesIO()
        model.save(model_bytes)
        model.save_replay_buffer(buffer_bytes)
        header = dict(
            settings=settings, step=model.num_timesteps, returns=evaluator.returns, diagnostics=evaluator.diagnostics
        )
        payload = dict(
            model=model_bytes.getvalue(),
            replay_buffer=buffer_bytes.getvalue(),
            rng=rng_state(),
            action_space_rng=model.action_space.np_random.bit_generator.state,
            train_env=vec_env_state(model.get_env()),
            evaluator=evaluator.state(),
        )
        files.save(header, payload)


def load_checkpoint(config: str, args, files: JobFiles, header: dict, evaluator: Evaluator):
    """The model as it was when the checkpoint was written; restores the evaluator and the RNGs too."""
    payload = files.payload()
    # No env at load: SB3 would reseed it (set_random_seed in _setup_model) and drop the last observation.
    model = model_class(config, args).load(io.BytesIO(payload["model"]))
    model.load_replay_buffer(io.BytesIO(payload["replay_buffer"]))
    model.set_env(make_env(config, args.env), force_reset=False)
    set_vec_env_state(model.get_env(), payload["train_env"])
    model.action_space.np_random.bit_generator.state = payload["action_space_rng"]
    evaluator.restore(payload["evaluator"], model.num_timesteps, header["returns"], header["diagnostics"])
    set_rng_state(payload["rng"])
    return model


def run_job(config: str, seed: int, args, messages) -> None:
    """One (config, seed) training run, in a worker process; continues from the job's checkpoint if any.

    Training runs in chunks of ``--checkpoint-every`` evaluation periods, with a checkpoint after each: SB3's
    ``learn(reset_num_timesteps=False)`` continues exactly where the previous chunk stopped.
    """
    import torch as th

    from sb3_large.apex import ApeXCollector

    th.set_num_threads(args.threads)
    files, settings = JobFiles(args.out, config, seed), job_settings(config, args)
    header = files.header()
    callbacks = make_callbacks(config, args)
    # An Ape-X learner's own env steps only in the warm-up (random actions): its episodes are no training return.
    training_returns = not any(isinstance(c, ApeXCollector) for c in callbacks)
    eval_env = make_eval_env(args.env, seed, normalized=env_normalization(config, args.env) is not None)
    every, episodes = args.eval_every, args.eval_episodes
    evaluator = Evaluator(
        config, seed, eval_env, every, episodes, args.budget, messages, args.stop_after_evals, training_returns
    )
    if header is None:
        model = make_model(config, args, seed, make_env(config, args.env))
    else:
        model = load_checkpoint(config, args, files, header, evaluator)
        messages.put(("info", f"{config} seed {seed}: resumed at step {model.num_timesteps}"))
    period = args.eval_every * args.checkpoint_every
    while model.num_timesteps < args.budget:
        target = min(args.budget, (model.num_timesteps // period + 1) * period)
        model.learn(target - model.num_timesteps, callback=[*callbacks, evaluator], reset_num_timesteps=False)
        if evaluator.stopped:
            return
        if model.num_timesteps < args.budget:
            save_checkpoint(files, settings, model, evaluator)
    if evaluator.last_eval != model.num_timesteps:
        evaluator.evaluate()
    files.finish(dict(settings=settings, returns=evaluator.returns, diagnostics=evaluator.diagnostics))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Hopper-v4")
    parser.add_argument("--budget", type=int, default=100_000, help="env steps per run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-offset", type=int, default=0, help="first training seed")
    parser.add_argument(
        "--configs", nargs="+", default=list(DEFAULT_CONFIGS), metavar="CONFIG", help=", ".join(CONFIGS)
    )
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=10, help="deterministic episodes per evaluation")
    parser.add_argument("--checkpoint-every", type=int, default=2, help="evaluation periods between checkpoints")
    parser.add_argument(
        "--learning-starts", type=int, default=None, help="random steps of every config (default: each one's own)"
    )
    parser.add_argument("--width", type=int, default=None, help="width of every large body (default: the YAML's)")
    parser.add_argument("--depth", type=int, default=None, help="depth of every large body (default: the YAML's)")
    parser.add_argument("--actor-width", type=int, default=None, help="large actor's width (default: the YAML's)")
    parser.add_argument("--critic-width", type=int, default=None, help="large critics' width (default: the YAML's)")
    parser.add_argument("--pretrain", type=int, default=None, help="OFENet pretraining updates (default: YAML's)")
    parser.add_argument("--actors", type=int, default=None, help="Ape-X actors (default: the YAML's)")
    parser.add_argument(
        "--replay-ratio", type=float, default=None, help="Ape-X learner's gradient steps per stored transition"
    )
    parser.add_argument("--crossq-width", type=int, default=2048, help="CrossQ critic width (RL Zoo: 2048)")
    parser.add_argument("--sac-width", type=int, default=256, help="stock SAC's layer width (SB3: 256)")
    parser.add_argument(
        "--compile-update",
        action="store_true",
        help=f"compiled gradient steps (CUDA graphs on a GPU) for {', '.join(COMPILABLE)}",
    )
    parser.add_argument("--workers", type=int, default=1, help="jobs trained at the same time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job")
    parser.add_argument(
        "--stop-after-evals",
        type=int,
        default=None,
        help="stop each job after this many evaluations in this run, as a kill would (the same command resumes)",
    )
    parser.add_argument("--replot", action="store_true", help="only rebuild returns.png and summary.md from the CSV")
    args = parser.parse_args(argv)
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown and not args.replot:  # a replot may read the names of older runs
        parser.error(f"--configs: unknown configuration {unknown[0]!r}; allowed: {', '.join(CONFIGS)}")
    stock = [c for c in args.configs if c not in COMPILABLE]
    if args.compile_update and stock and not args.replot:
        parser.error(f"--compile-update: {stock[0]} trains with a stock class; allowed: {', '.join(COMPILABLE)}")
    positive = ("budget", "seeds", "eval_every", "eval_episodes", "checkpoint_every", "crossq_width", "sac_width")
    positive += ("workers", "threads")
    optional = ("width", "depth", "actor_width", "critic_width", "actors", "stop_after_evals", "replay_ratio")
    for name in (*positive, *optional):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')}: must be positive, got {value}")
    for name in ("pretrain", "learning_starts"):
        value = getattr(args, name)
        if value is not None and value < 0:
            parser.error(f"--{name.replace('_', '-')}: must be >= 0, got {value}")
    return args


def known_jobs(jobs: list[tuple[str, int]], args) -> dict[tuple[str, int], dict]:
    """Each job's finished record or checkpoint header; an error if one was made with other settings."""
    known = {}
    for config, seed in jobs:
        try:
            settings = job_settings(config, args)
        except ValueError as exc:  # a YAML without the env, or with keys this script cannot honour
            raise SystemExit(f"{config}: {exc}") from None
        header = JobFiles(args.out, config, seed).header()
        if header is None:
            continue
        saved = {**SETTINGS_BEFORE, **header["settings"]}
        changed = [k for k in settings if saved.get(k) != settings[k]]
        if changed:
            raise SystemExit(
                f"{args.out}: {config} seed {seed} was started with {changed[0]}={saved.get(changed[0])!r}"
                f", this run has {settings[changed[0]]!r}; use another --out or delete {args.out / 'checkpoints'}"
            )
        known[config, seed] = header
    return known


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.replot:
        report(read_returns(args.out / "returns.csv"), args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(config, args.seed_offset + s) for s in range(args.seeds) for config in args.configs]
    known = known_jobs(jobs, args)
    # The CSVs are rebuilt from every job recorded in the folder: runs of other configurations into the same
    # --out keep their rows.
    recorded = recorded_jobs(args.out)
    rows = [row for header in recorded.values() for row in header["returns"]]
    returns_csv = CsvSink(args.out / "returns.csv", RETURN_FIELDS, rows)
    diagnostics = [row for header in recorded.values() for row in header["diagnostics"]]
    diagnostics_csv = CsvSink(args.out / "diagnostics.csv", DIAGNOSTIC_FIELDS, diagnostics)
    todo = [job for job in jobs if not known.get(job, {}).get("finished")]
    done_steps = sum(args.budget if h["finished"] else h["step"] for h in known.values())
    context = mp.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        messages = manager.Queue()
        futures = [pool.submit(run_job, config, seed, args, messages) for config, seed in todo]
        total = args.budget * len(jobs)
        with tqdm(total=total, initial=min(done_steps, total), unit="step", desc=args.env, file=sys.stderr) as bar:
            while True:
                try:
                    kind, payload = messages.get(timeout=0.5)
                except queue.Empty:
                    if all(f.done() for f in futures):
                        break
                    continue
                if kind == "progress":
                    bar.update(payload)
                elif kind == "info":
                    bar.write(payload)
                elif kind == "return":
                    rows.append(payload)
                    returns_csv.write(payload)
                    bar.write(
                        f"{payload['config']} seed {payload['seed']} step {payload['step']}: "
                        f"{payload['mean_return']:.1f} +/- {payload['std_return']:.1f} "
                        f"({payload['cpu_seconds']:.0f} CPU s, {payload['gradient_steps']} gradient steps)"
                    )
                else:
                    diagnostics_csv.write(payload)
        for (config, seed), future in zip(todo, futures, strict=True):
            if future.exception() is not None:
                raise RuntimeError(f"{config} seed {seed} failed") from future.exception()
    report(rows, args)


if __name__ == "__main__":
    main()
