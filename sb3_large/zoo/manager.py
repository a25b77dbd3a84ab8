"""``LargeExperimentManager``: RL Zoo's ``ExperimentManager`` with our sampler for ``-optimize``, ``--trial-id`` for
its trials, the launcher's guard removed from an entry's callbacks, and the best trial written as a YAML entry."""

import copy
import glob
import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import optuna
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
from rl_zoo3.utils import ALGOS
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sb3_large.budget import warn_if_no_gradient_steps
from sb3_large.files import write_atomic
from sb3_large.hyperparams import without_launcher_guard
from sb3_large.policies.common import check_algorithm
from sb3_large.zoo.callbacks import (
    OPTIONAL_OBS_NORM_UPDATER,
    OPTIONAL_OFENET_TRAINER,
    callbacks_for,
    callbacks_without_ours,
    with_callbacks,
)
from sb3_large.zoo.entries import dump_entry, merge_entry
from sb3_large.zoo.sampler import LargeSampler, current_params
from sb3_large.zoo.space import ALGORITHMS, SearchSpace


@contextmanager
def bound(table: dict, key: str, value) -> Iterator[None]:
    """``table[key] = value`` for the duration of the block, then the old value (or none) again."""
    missing = object()
    old = table.get(key, missing)
    table[key] = value
    try:
        yield
    finally:
        if old is missing:
            del table[key]
        else:
            table[key] = old


class LargeExperimentManager(ExperimentManager):
    """RL Zoo's ``ExperimentManager`` whose ``-optimize`` searches the large-network space (SAC, TD3, TQC, CrossQ).

    Everything else is RL Zoo's: the trial loop, Optuna's sampler and pruner, ``--n-jobs``, the report. After the
    search the best trial is written as ``<report>.yml`` beside RL Zoo's ``<report>.csv``: the YAML entry the
    search started from, with the trial's hyperparameters (``self.best_entry_path``). ``-optimize`` for an
    algorithm without a large-network sampler is refused when the manager is made, before any trial. For a training
    run, an entry whose policy belongs to another algorithm is refused before any env is made, and a budget that
    ends before ``learning_starts`` is warned of.

    :param search_space: what to sample (default: ``SearchSpace.from_kwargs({}, algo)``)
    """

    def __init__(self, *args, search_space: SearchSpace | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.large_sampler: LargeSampler | None = None
        if self.optimize_hyperparameters or (self.trial_id is not None and self.algo in ALGORITHMS):
            # An algorithm without a sampler is refused here, naming those that have one.
            space = search_space if search_space is not None else SearchSpace.from_kwargs({}, self.algo)
            self.large_sampler = LargeSampler(self.algo, space)
        self.base_entry: dict[str, Any] = {}
        self.study: optuna.Study | None = None  # the study the trials run in, known from the first trial
        self.best_entry_path: str | None = None

    def _loads_trial(self) -> bool:
        # Optuna numbers trials from 0: trial 0 is a trial, not a missing id.
        return bool(self.large_sampler and self.storage and self.study_name) and self.trial_id is not None

    def read_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        hyperparams, saved = super().read_hyperparameters()
        if self.trial_id == 0 and self.storage and self.study_name:
            # RL Zoo tests the id for truth and so skips trial 0, Optuna's first: applied here as RL Zoo applies the
            # others, under the command line's -params.
            hyperparams.update(self.load_trial(self.storage, self.study_name, self.trial_id))
            hyperparams.update(self.custom_hyperparams or {})
            saved = OrderedDict((key, hyperparams[key]) for key in sorted(hyperparams))
        if self._loads_trial():
            # --trial-id put a trial's hyperparameters over the entry: its callbacks must now fit its policy.
            for values in (hyperparams, saved):
                callbacks = callbacks_without_ours(values.get("callback")) + callbacks_for(values["policy_kwargs"])
                with_callbacks(values, callbacks)
        self.base_entry = copy.deepcopy(dict(saved))
        return hyperparams, saved

    def load_trial(self, storage: str, study_name: str, trial_id: int | None = None, convert: bool = True):
        params = super().load_trial(storage, study_name, trial_id, convert=False)
        if not convert:
            return params
        # Only our sampler draws an ``arch``; a stock ``rl_zoo3.train -optimize`` trial is RL Zoo's to convert.
        if self.large_sampler is None or "arch" not in params:
            return HYPERPARAMS_CONVERTER[self.algo](params)
        return self.large_sampler.hyperparams(current_params(params))

    def _preprocess_hyperparams(self, hyperparams: dict[str, Any]):
        # This launcher is what an entry's guard asks for: RL Zoo would build it as a callback, and stop.
        with_callbacks(hyperparams, without_launcher_guard(hyperparams.get("callback")))
        processed = super()._preprocess_hyperparams(hyperparams)
        policy = processed[0].get("policy")
        if isinstance(policy, type) and not self.optimize_hyperparameters:  # a search samples its own policy
            try:
                check_algorithm(policy, ALGOS[self.algo])
            except TypeError as exc:  # the entry's mistake: one line, before any env is made
                raise SystemExit(str(exc)) from None
        if self.optimize_hyperparameters and self.large_sampler is not None:
            # One callback list serves every trial, with or without OFENet and observation normalization.
            callbacks = callbacks_without_ours(self.specified_callbacks)
            self.specified_callbacks = [*callbacks, OPTIONAL_OFENET_TRAINER, OPTIONAL_OBS_NORM_UPDATER]
        return processed

    def learn(self, model: BaseAlgorithm) -> None:
        if isinstance(model, OffPolicyAlgorithm):  # RL Zoo's learn() counts from 0 (reset_num_timesteps)
            warn_if_no_gradient_steps(self.n_timesteps, model.learning_starts)
        super().learn(model)

    def objective(self, trial: optuna.Trial) -> float:
        self.study = trial.study
        return super().objective(trial)

    def hyperparameters_optimization(self) -> None:
        if self.large_sampler is None:
            super().hyperparameters_optimization()
            return
        # The space against this env's spaces (OFENet's predict_dims, ...), before the study starts.
        env = self.create_envs(n_envs=1, no_log=True)
        try:
            self.large_sampler.check(env.observation_space, env.action_space)
        finally:
            env.close()
        with bound(HYPERPARAMS_SAMPLER, self.algo, self.large_sampler):
            super().hyperparameters_optimization()
        if self.study is not None:
            self.best_entry_path = self.write_best_entry(self.study, self.large_sampler)

    def _best_entry_path(self) -> str:
        """``<report>.yml`` beside the newest CSV report of this search (RL Zoo stamps its name with the time)."""
        prefix = f"report_{self.env_name}_{self.n_trials}-trials-{self.n_timesteps}-{self.sampler}-{self.pruner}_"
        reports = glob.glob(os.path.join(glob.escape(os.path.join(self.log_folder, self.algo)), prefix + "*.csv"))
        stamp = max((int(os.path.basename(r)[len(prefix) : -4]) for r in reports), default=None)
        name = f"{prefix}{stamp}.yml" if stamp is not None else f"{prefix[:-1]}.yml"
        return os.path.join(self.log_folder, self.algo, name)

    def write_best_entry(self, study: optuna.Study, sampler: LargeSampler) -> str:
        """Write the best trial's YAML entry beside the newest matching report; returns its path."""
        path = self._best_entry_path()
        best = study.best_trial
        entry = merge_entry(self.base_entry, sampler.hyperparams(current_params(best.params)))
        train = f"--algo {self.algo} --env {self.env_name.gym_id} -conf {path}"
        header = f"Best of {len(study.trials)} trials (trial {best.number}, mean eval return {best.value:.6g}).\n"
        if "q_distribution" in entry["policy_kwargs"]:
            header += (
                "Categorical critics: sb3_large.SAC / TD3 train them by cross-entropy (stock SB3 would regress their "
                f"expected value):\npython -m sb3_large.zoo train {train}"
            )
        else:
            header += f"python -m rl_zoo3.train {train}"
        write_atomic(path, dump_entry(self.env_name.gym_id, entry, header))
        print(f"Best trial's YAML entry: {path}")
        return path


__all__ = ["LargeExperimentManager", "bound"]
