"""Returns of several configurations side by side in one run: same env, seeds, step budget and evaluation.

    python benchmarks/returns.py --env Hopper-v4 --budget 50000 --seeds 3 --out results/hopper

Configurations (``--configs``, any subset; the first four by default):

- ``sac``: stock SB3 SAC, ``MlpPolicy`` 256x2 (``--sac-width``), RL Zoo's MuJoCo hyperparameters (SB3 defaults,
  10k random steps)
- ``crossq``: sb3-contrib CrossQ with RL Zoo's MuJoCo hyperparameters (critic width ``--crossq-width``)
- ``ota2021``: the paper's recipe (OFENet features, DenseNet actor and critics), the ``--env`` entry of
  ``hyperparams/sac_ota2021.yml``
- ``ota2021_apex``: the same plus Ape-X actors, the entry of ``hyperparams/sac_ota2021_apex.yml``; the budget
  counts the actors' steps too
- ``sac_large``: the package's default recipe, the entry of ``hyperparams/sac_large.yml``
- ``densenet``: SAC with the large DenseNet actor and critics only (an ablation)
- ``crossq_large``: sb3-contrib CrossQ with our bodies, the entry of ``hyperparams/crossq_large.yml``
- ``sac_hl``, ``sac_simba_hl``: candidates for the default recipe, ``benchmarks/recipes/<name>.yml``: SAC with
  LayerNorm DenseNet bodies and categorical (HL-Gauss) critics, the second with running observation
  normalization, trained by ``sb3_large.SAC`` as ``python -m sb3_large.zoo train`` does; ``sac_hl_sb3``: the
  ``sac_hl`` entry trained by stock SB3 SAC (stock ``rl_zoo3.train``), which regresses the critics' expected Q
  values by squared error instead of the cross-entropy
- ``crossq_ofenet``: ``benchmarks/recipes/crossq_ofenet.yml``, CrossQ's networks and hyperparameters on the paper's
  OFENet features on every MuJoCo task (``crossq_large.yml`` uses them on HalfCheetah only)

The YAML configurations are built as stock RL Zoo builds them (policy, hyperparameters, callbacks), with the
overrides given here: ``--width``/``--depth`` of every large body (actor and critics alike, replacing the YAML's
per-network sizes), ``--learning-starts`` (every config),
``--pretrain`` (OFENet pretraining updates), ``--actors`` and ``--replay-ratio`` (Ape-X collector), the seed
and a replay buffer the size of the budget. ``--compile-update`` (for GPU runs, where an uncompiled update of
these small networks is launch-bound) compiles the gradient steps of ``sac``, ``sac_hl`` and ``sac_simba_hl``;
``sac`` is then trained by ``sb3_large.SAC``, whose updates are SB3's SAC updates (``tests/test_learners.py``).

Every (config, seed) job trains in its own process (``--workers`` at a time, ``--threads`` torch threads
each) and is evaluated every ``--eval-every`` steps on 10 deterministic episodes of a separate eval env
(seeded ``10000 + seed``, never a training seed). Writes to ``--out``: ``returns.csv`` (config, seed, step,
mean_return, std_return, wall_seconds: training time, evaluation and checkpoints excluded), ``diagnostics.csv``
(``sb3_large.diagnostics`` at every evaluation, and ``train_return_last10``, the mean of the last 10 training
episodes, for choices that must not read the eval episodes; long format: config, seed, step, metric, value),
``returns.png`` (mean over seeds, min-max band) and ``summary.md``; ``--replot`` rebuilds the plot and summary
from ``returns.csv``.

Resuming: every ``--checkpoint-every`` evaluation periods a job writes ``checkpoints/<config>_seed<seed>.ckpt``
in ``--out`` (model with its optimizers, replay buffer, python/numpy/torch RNG states, the state of the training
and eval envs, the evaluations so far and the training time so far; written to a temporary file, then renamed).
Running the same command again continues every job from its checkpoint and skips finished jobs
(``checkpoints/<config>_seed<seed>.done.json``); the CSVs are rebuilt first from the files of every job in
``--out`` (other configurations run into the same folder keep their rows), so rows written after a job's last
checkpoint are measured again. A resumed job gives the same evaluations as an uninterrupted
one with the same ``--checkpoint-every``, except ``ota2021_apex``, whose actor processes restart and run
asynchronously. Settings that would change a job (env, budget, widths, YAML entry, ...) must match the ones
its checkpoint was written with. Checkpoints are pickles, as SB3's replay buffer files are: resume only from
folders this script wrote.
"""

import argparse
import copy
import csv
import io
import json
import multiprocessing as mp
import os
import pickle
import queue
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import BinaryIO

import gymnasium as gym
import numpy as np
import torch as th
import yaml
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from tables import figure_axes, markdown_table
from tqdm import tqdm

try:
    import mujoco
except ImportError:  # only MuJoCo envs need it
    mujoco = None

CONFIGS = (
    "sac",
    "crossq",
    "ota2021",
    "ota2021_apex",
    "sac_large",
    "densenet",
    "crossq_large",
    "sac_hl",
    "sac_simba_hl",
    "sac_hl_sb3",
    "crossq_ofenet",
)
DEFAULT_CONFIGS = CONFIGS[:4]
HYPERPARAMS = Path(__file__).resolve().parent.parent / "hyperparams"
RECIPES = Path(__file__).resolve().parent / "recipes"  # candidates for a new default, not shipped YAMLs
# Configuration -> (RL Zoo YAML, algorithm it is run with: stock RL Zoo's ``sac`` / ``crossq``, or
# ``sb3_large.sac``, what ``python -m sb3_large.zoo train --algo sac`` binds).
YAML_CONFIGS = {
    "ota2021": (HYPERPARAMS / "sac_ota2021.yml", "sac"),
    "ota2021_apex": (HYPERPARAMS / "sac_ota2021_apex.yml", "sac"),
    "sac_large": (HYPERPARAMS / "sac_large.yml", "sac"),
    "crossq_large": (HYPERPARAMS / "crossq_large.yml", "crossq"),
    "sac_hl": (RECIPES / "sac_hl.yml", "sb3_large.sac"),
    "sac_simba_hl": (RECIPES / "sac_simba_hl.yml", "sb3_large.sac"),
    "sac_hl_sb3": (RECIPES / "sac_hl.yml", "sac"),
    "crossq_ofenet": (RECIPES / "crossq_ofenet.yml", "crossq"),
}
# RL Zoo keys that wrap or build the env: this script builds one plain env per job.
ENV_KEYS = ("normalize", "n_envs", "env_wrapper", "vec_env_wrapper", "frame_stack", "env_kwargs")
RETURN_FIELDS = ("config", "seed", "step", "mean_return", "std_return", "wall_seconds")
DIAGNOSTIC_FIELDS = ("config", "seed", "step", "metric", "value")
# Arguments that change what a job computes: a checkpoint resumes only under the same values.
JOB_SETTINGS = (
    "env",
    "budget",
    "eval_every",
    "learning_starts",
    "width",
    "depth",
    "pretrain",
    "actors",
    "replay_ratio",
    "crossq_width",
    "sac_width",
    "compile_update",
)
# Settings added since checkpoints were first written, with the value those checkpoints ran with.
SETTINGS_BEFORE = {"sac_width": 256, "compile_update": False}
# Configurations --compile-update can compile: those sb3_large.SAC trains (``sac`` then trains with it too).
COMPILABLE = ("sac", "sac_hl", "sac_simba_hl")


def zoo_entry(config: str, env_id: str) -> dict:
    """The ``env_id`` entry of a configuration's RL Zoo YAML (anchors resolved)."""
    path = YAML_CONFIGS[config][0]
    entries = yaml.safe_load(path.read_text())
    if env_id not in entries:
        envs = sorted(k for k, v in entries.items() if isinstance(v, dict) and "policy" in v)  # not the anchors
        raise ValueError(f"--env: {path.name} has no entry {env_id!r}; it has {', '.join(envs)}")
    entry = entries[env_id]
    unsupported = sorted(set(entry) & set(ENV_KEYS))
    if unsupported:
        raise ValueError(f"{path.name}: {env_id}.{unsupported[0]} is not supported by returns.py")
    return entry


def job_settings(config: str, args) -> dict:
    """What defines a job's computation besides its seed: the arguments and, for a YAML config, its entry."""
    settings = {name: getattr(args, name) for name in JOB_SETTINGS}
    if config in YAML_CONFIGS:
        settings["entry"] = zoo_entry(config, args.env)
    return settings


def zoo_callbacks(config: str, args) -> list[BaseCallback]:
    """The callbacks of a YAML configuration's entry (Ape-X options overridden), as RL Zoo builds them."""
    from rl_zoo3.utils import get_callback_list

    specs = []
    for item in zoo_entry(config, args.env).get("callback") or []:
        name, kwargs = next(iter(item.items())) if isinstance(item, dict) else (item, {})
        if name.endswith(".ApeXCollector"):
            overrides = dict(n_actors=args.actors, replay_ratio=args.replay_ratio)
            kwargs = {**kwargs, **{k: v for k, v in overrides.items() if v is not None}}
        specs.append({name: kwargs})
    return get_callback_list({"callback": specs})


def zoo_model(config: str, args, common: dict):
    """A YAML configuration's model as stock RL Zoo builds it, with this script's overrides."""
    from rl_zoo3.utils import get_class_by_name

    entry = dict(zoo_entry(config, args.env))
    policy = entry.pop("policy")
    # --width / --depth size every body: they replace the YAML's shared and per-network values.
    policy_kwargs = dict(entry.pop("policy_kwargs", {}), width=args.width, depth=args.depth)
    for network in ("actor_net", "critic_net"):
        if policy_kwargs.get(network):
            policy_kwargs[network] = {k: v for k, v in policy_kwargs[network].items() if k not in ("width", "depth")}
    if "ofenet_kwargs" in policy_kwargs and args.pretrain is not None:
        policy_kwargs["ofenet_kwargs"] = {**policy_kwargs["ofenet_kwargs"], "pretrain_steps": args.pretrain}
    for key in ("n_timesteps", "callback"):
        entry.pop(key, None)
    policy_class = get_class_by_name(policy) if "." in policy else policy
    return model_class(config, args)(policy_class, args.env, policy_kwargs=policy_kwargs, **{**entry, **common})


def make_model(config: str, args, seed: int):
    """A new model for one configuration."""
    from sb3_contrib import CrossQ
    from stable_baselines3 import SAC

    import sb3_large  # noqa: F401  (policy aliases; imported in the worker process)

    common = dict(learning_starts=args.learning_starts, seed=seed, buffer_size=max(args.budget, 1000))
    if args.compile_update:
        common["compile"] = "update"
    if config == "sac":
        net_arch = [args.sac_width] * 2
        return model_class(config, args)("MlpPolicy", args.env, policy_kwargs=dict(net_arch=net_arch), **common)
    if config in YAML_CONFIGS:
        return zoo_model(config, args, common)
    if config == "densenet":
        large = dict(arch="densenet", width=args.width, depth=args.depth)
        return SAC("LargeMlpPolicy", args.env, policy_kwargs=large, **common)
    if config == "crossq":
        net_arch = dict(pi=[256, 256], qf=[args.crossq_width] * 2)
        return CrossQ(
            "MlpPolicy", args.env, learning_rate=1e-3, policy_delay=3, policy_kwargs=dict(net_arch=net_arch), **common
        )
    raise ValueError(f"configs: unknown configuration {config!r}; allowed: {', '.join(CONFIGS)}")


def make_callbacks(config: str, args) -> list[BaseCallback]:
    """A configuration's extra callbacks, new for every process (they derive their state from the model)."""
    return zoo_callbacks(config, args) if config in YAML_CONFIGS else []


def model_class(config: str, args):
    """The algorithm class a configuration trains with: stock RL Zoo's for the YAML configurations; with
    ``--compile-update``, ``sb3_large.SAC`` for ``sac`` (SB3's SAC updates, compiled)."""
    from sb3_contrib import CrossQ
    from stable_baselines3 import SAC

    import sb3_large

    algo = YAML_CONFIGS[config][1] if config in YAML_CONFIGS else config
    if args.compile_update and config == "sac":
        algo = "sb3_large.sac"
    return {"crossq": CrossQ, "sb3_large.sac": sb3_large.SAC}.get(algo, SAC)


# -- the state a checkpoint carries besides SB3's own save ---------------------------------------------------
def rng_state() -> dict:
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=th.get_rng_state())
    if th.cuda.is_available():
        state["cuda"] = th.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    th.set_rng_state(state["torch"])
    if "cuda" in state:
        th.cuda.set_rng_state_all(state["cuda"])


def env_layers(env: gym.Env) -> list[gym.Env]:
    layers = [env]
    while isinstance(layers[-1], gym.Wrapper):
        layers.append(layers[-1].env)
    return layers


# Not state: the wrapped env, and MuJoCo's model, data and renderer (the data's state is saved with mj_getState).
NOT_ENV_STATE = ("env", "model", "data", "mujoco_renderer")


def env_state(env: gym.Env) -> list[dict]:
    """What an env and each of its wrappers carry from one step to the next (RNG, counters, simulator state).

    Gymnasium's MuJoCo envs pickle as their constructor arguments (``EzPickle``), so a pickled env would start
    afresh: each layer's attributes are saved instead, and MuJoCo's full integration state through
    ``mj_getState``, which restores the simulation bit for bit.
    """
    states = []
    for layer in env_layers(env):
        state = copy.deepcopy({k: v for k, v in vars(layer).items() if k not in NOT_ENV_STATE})  # a snapshot
        if mujoco is not None and isinstance(getattr(layer, "data", None), mujoco.MjData):
            physics = np.empty(mujoco.mj_stateSize(layer.model, mujoco.mjtState.mjSTATE_INTEGRATION))
            mujoco.mj_getState(layer.model, layer.data, physics, mujoco.mjtState.mjSTATE_INTEGRATION)
            state["mujoco_state"] = physics
        states.append(state)
    return states


def set_env_state(env: gym.Env, states: list[dict]) -> None:
    layers = env_layers(env)
    if len(layers) != len(states):
        raise ValueError(f"checkpoint: the env has {len(layers)} layers, the saved state {len(states)}")
    for layer, state in zip(layers, states, strict=True):
        state = dict(state)
        physics = state.pop("mujoco_state", None)
        vars(layer).update(state)
        if physics is not None:
            mujoco.mj_setState(layer.model, layer.data, physics, mujoco.mjtState.mjSTATE_INTEGRATION)


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file through a temporary one and a rename, so a kill leaves the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


JOB_FILE = re.compile(r"^(?P<config>.+)_seed(?P<seed>\d+)\.(ckpt|done\.json)$")


class JobFiles:
    """A job's checkpoint (a small header, then the payload, pickled one after the other) and its done marker."""

    def __init__(self, out: Path, config: str, seed: int):
        folder = out / "checkpoints"
        self.checkpoint = folder / f"{config}_seed{seed}.ckpt"
        self.done = folder / f"{config}_seed{seed}.done.json"

    def header(self) -> dict | None:
        """The finished job's record, else the checkpoint's header (without its payload), else None."""
        if self.done.exists():
            return dict(json.loads(self.done.read_text()), finished=True)
        if self.checkpoint.exists():
            with self.checkpoint.open("rb") as handle:
                return dict(pickle.load(handle), finished=False)
        return None

    def payload(self) -> dict:
        with self.checkpoint.open("rb") as handle:
            pickle.load(handle)
            return pickle.load(handle)

    def save(self, header: dict, payload: dict) -> None:
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)

        def write(handle: BinaryIO) -> None:
            pickle.dump(header, handle, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)

        write_atomic(self.checkpoint, write)

    def finish(self, record: dict) -> None:
        self.done.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.done, lambda handle: handle.write(json.dumps(record).encode()))
        self.checkpoint.unlink(missing_ok=True)


class Evaluator(BaseCallback):
    """Evaluates (return and representation diagnostics) every ``every`` env steps before ``budget``; the job
    evaluates at the budget itself once ``learn()`` has returned, after the last gradient steps (an Ape-X learner
    can owe many when the actors' transitions reach the budget).

    Rows and progress go to the parent process through ``messages`` and are kept for the job's checkpoint.
    ``stop_after`` evaluations in this process end training at once, as a kill would.
    """

    def __init__(
        self,
        config: str,
        seed: int,
        env_id: str,
        every: int,
        budget: int,
        messages,
        stop_after: int | None = None,
        training_returns: bool = True,
    ):
        super().__init__()
        self.config, self.seed, self.every, self.budget = config, seed, every, budget
        self.messages, self.stop_after, self.training_returns = messages, stop_after, training_returns
        self.eval_env = Monitor(gym.make(env_id))
        self.eval_env.reset(seed=10_000 + seed)
        self.next_eval, self.last_eval, self.reported, self.evaluations = every, -1, 0, 0
        self.returns: list[dict] = []
        self.diagnostics: list[dict] = []
        self.stopped = False
        self.start, self.excluded_seconds = time.perf_counter(), 0.0

    def train_seconds(self) -> float:
        return time.perf_counter() - self.start - self.excluded_seconds

    def state(self) -> dict:
        return dict(
            next_eval=self.next_eval,
            last_eval=self.last_eval,
            train_seconds=self.train_seconds(),
            eval_env=env_state(self.eval_env),
        )

    def restore(self, state: dict, step: int, returns: list[dict], diagnostics: list[dict]) -> None:
        """Continue from a checkpoint written at env step ``step``."""
        self.next_eval, self.last_eval, self.reported = state["next_eval"], state["last_eval"], step
        self.start, self.excluded_seconds = time.perf_counter() - state["train_seconds"], 0.0
        self.returns, self.diagnostics = list(returns), list(diagnostics)
        set_env_state(self.eval_env, state["eval_env"])

    def exclude(self, seconds: float) -> None:
        """Leave bookkeeping (checkpoints) out of the training time."""
        self.excluded_seconds += seconds

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

        wall = self.train_seconds()
        begin = time.perf_counter()
        mean, std = evaluate_policy(self.model, self.eval_env, n_eval_episodes=10, deterministic=True)
        # A fresh instance per measurement: its replay-batch sampler starts from its seed each time, so the
        # measurement depends on nothing a checkpoint would have to carry.
        probe = RepresentationDiagnostics(every=self.every, batch_size=1024)
        probe.init_callback(self.model)
        diagnostics = probe.measure()
        self.excluded_seconds += time.perf_counter() - begin
        train_return = training_return(self.model) if self.training_returns else None
        if train_return is not None:  # what a choice between configurations may read: not the eval episodes
            diagnostics["train_return_last10"] = train_return
        self.evaluations += 1
        self.last_eval = step = self.model.num_timesteps
        where = dict(config=self.config, seed=self.seed, step=step)
        row = dict(where, mean_return=round(float(mean), 2), std_return=round(float(std), 2))
        row["wall_seconds"] = round(wall, 1)
        self.returns.append(row)
        self.messages.put(("return", row))
        for metric, value in diagnostics.items():  # long format: configs measure different networks
            self.diagnostics.append(dict(where, metric=metric, value=value))
            self.messages.put(("diagnostics", self.diagnostics[-1]))


def training_return(model, last: int = 10) -> float | None:
    """Mean return of the learner env's last ``last`` finished training episodes (None before the first). Its
    Monitor is part of the env state a checkpoint restores."""
    monitors = [layer for layer in env_layers(model.get_env().envs[0]) if isinstance(layer, Monitor)]
    episodes = monitors[0].get_episode_rewards()[-last:] if monitors else []
    return round(float(np.mean(episodes)), 2) if episodes else None


def save_checkpoint(files: JobFiles, settings: dict, model, evaluator: Evaluator) -> None:
    begin = time.perf_counter()
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
        train_env=env_state(model.get_env().envs[0]),
        evaluator=evaluator.state(),
    )
    files.save(header, payload)
    evaluator.exclude(time.perf_counter() - begin)


def load_checkpoint(config: str, args, files: JobFiles, header: dict, evaluator: Evaluator):
    """The model as it was when the checkpoint was written; restores the evaluator and the RNGs too."""
    payload = files.payload()
    # No env at load: SB3 would reseed it (set_random_seed in _setup_model) and drop the last observation.
    model = model_class(config, args).load(io.BytesIO(payload["model"]))
    model.load_replay_buffer(io.BytesIO(payload["replay_buffer"]))
    model.set_env(gym.make(args.env), force_reset=False)  # wrapped in Monitor + DummyVecEnv, as at creation
    set_env_state(model.get_env().envs[0], payload["train_env"])
    model.action_space.np_random.bit_generator.state = payload["action_space_rng"]
    evaluator.restore(payload["evaluator"], model.num_timesteps, header["returns"], header["diagnostics"])
    set_rng_state(payload["rng"])
    return model


def run_job(config: str, seed: int, args, messages) -> None:
    """One (config, seed) training run, in a worker process; continues from the job's checkpoint if any.

    Training runs in chunks of ``--checkpoint-every`` evaluation periods, with a checkpoint after each: SB3's
    ``learn(reset_num_timesteps=False)`` continues exactly where the previous chunk stopped.
    """
    from sb3_large.apex import ApeXCollector

    th.set_num_threads(args.threads)
    files, settings = JobFiles(args.out, config, seed), job_settings(config, args)
    header = files.header()
    callbacks = make_callbacks(config, args)
    # An Ape-X learner's own env steps only in the warm-up (random actions): its episodes are no training return.
    training_returns = not any(isinstance(c, ApeXCollector) for c in callbacks)
    evaluator = Evaluator(
        config, seed, args.env, args.eval_every, args.budget, messages, args.stop_after_evals, training_returns
    )
    if header is None:
        model = make_model(config, args, seed)
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


class CsvSink:
    """A CSV file of dict rows with the given fields: rewritten from known rows at start, then appended to."""

    def __init__(self, path: Path, fields: tuple[str, ...], rows: list[dict]):
        self.path, self.fields = path, fields

        def write(handle: BinaryIO) -> None:
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
            handle.write(text.getvalue().encode())

        write_atomic(path, write)

    def write(self, row: dict) -> None:
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.fields).writerow(row)


def by_config(rows: list[dict]) -> dict[str, dict[int, list[dict]]]:
    grouped: dict[str, dict[int, list[dict]]] = {}
    for row in rows:
        grouped.setdefault(row["config"], {}).setdefault(row["seed"], []).append(row)
    for seeds in grouped.values():
        for curve in seeds.values():
            curve.sort(key=lambda r: r["step"])
    return grouped


def complete_runs(rows: list[dict], budget: int) -> dict[str, dict[int, list[dict]]]:
    """Per config, the seeds whose run reached the budget (an interrupted run has no final return), in seed
    order (the CSV's rows are in the order the jobs reported them)."""
    runs = {}
    for config, seeds in by_config(rows).items():
        done = {seed: curve for seed, curve in sorted(seeds.items()) if curve[-1]["step"] >= budget}
        if done:
            runs[config] = done
    return runs


def plot(rows: list[dict], path: Path, title: str, budget: int) -> None:
    ylabel = "mean return (10 deterministic episodes)"
    with figure_axes(path, title, "environment steps", ylabel) as ax:
        for config, seeds in complete_runs(rows, budget).items():
            # Ape-X actors overshoot eval points by a chunk: align each seed's k-th evaluation.
            n = min(len(curve) for curve in seeds.values())
            values = [[curve[k]["mean_return"] for curve in seeds.values()] for k in range(n)]
            xs = [statistics.mean(curve[k]["step"] for curve in seeds.values()) for k in range(n)]
            ax.plot(xs, [statistics.mean(v) for v in values], label=f"{config} ({len(seeds)} seeds)")
            ax.fill_between(xs, [min(v) for v in values], [max(v) for v in values], alpha=0.2)


def summary(rows: list[dict], args) -> str:
    """Markdown table: final return over the seeds that reached the budget (mean +/- std), mean of the last 3
    evaluations, ratio to ``sac``; the configs of ``--configs`` first, then any other in the rows."""
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
    title = (
        f"{args.env}, {args.budget} steps, seeds {args.seed_offset}..{args.seed_offset + args.seeds - 1}, "
        f"large width {args.width}x{args.depth}, CrossQ critic {args.crossq_width}x2"
    )
    headers = ["config", "final return (mean +/- std over seeds)", "per seed", "last 3 evals", "vs sac", "train wall s"]
    order = [c for c in args.configs if c in finals] + sorted(set(finals) - set(args.configs))
    rows = []
    for config in order:
        f = finals[config]
        ratio = f"{f['mean'] / base:.2f}x" if base and base > 0 else "-"
        mean = f"{f['mean']:.1f} +/- {f['std']:.1f}"
        rows.append([config, mean, f["per_seed"], f"{f['tail']:.1f}", ratio, f"{f['wall']:.0f}"])
    return f"{title}\n\n{markdown_table(headers, rows)}\n"


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
    parser.add_argument("--checkpoint-every", type=int, default=2, help="evaluation periods between checkpoints")
    parser.add_argument("--learning-starts", type=int, default=10_000, help="random steps (every config)")
    parser.add_argument("--width", type=int, default=2048, help="large body width")
    parser.add_argument("--depth", type=int, default=2)
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
    positive = (
        "budget",
        "seeds",
        "eval_every",
        "checkpoint_every",
        "width",
        "depth",
        "crossq_width",
        "sac_width",
        "workers",
    )
    optional = ("actors", "stop_after_evals", "replay_ratio")
    for name in (*positive, "threads", *optional):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')}: must be positive, got {value}")
    if args.pretrain is not None and args.pretrain < 0:
        parser.error(f"--pretrain: must be >= 0, got {args.pretrain}")
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


def recorded_jobs(out: Path) -> dict[tuple[str, int], dict]:
    """Every job recorded in ``out`` (finished or checkpointed), this run's configurations or not."""
    recorded = {}
    for path in sorted((out / "checkpoints").glob("*_seed*")):
        match = JOB_FILE.match(path.name)
        if match:
            config, seed = match["config"], int(match["seed"])
            recorded[config, seed] = JobFiles(out, config, seed).header()
    return recorded


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
    recorded = recorded_jobs(args.out)  # this run's jobs among them (known_jobs read the same files)
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
                        f"{payload['mean_return']:.1f} +/- {payload['std_return']:.1f}"
                    )
                else:
                    diagnostics_csv.write(payload)
        for (config, seed), future in zip(todo, futures, strict=True):
            if future.exception() is not None:
                raise RuntimeError(f"{config} seed {seed} failed") from future.exception()
    report(rows, args)


if __name__ == "__main__":
    main()
