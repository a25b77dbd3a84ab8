r"""A recipe's final return against a baseline's on several envs, from ``returns.py`` folders (a goal table).

    python benchmarks/goal.py --budget 50000 \
        --case Hopper-v4 benchmarks/results/hopper-v4-50k-recipes:sac_ln benchmarks/results/hopper-v4-50k:sac \
        --case Ant-v4 benchmarks/results/ant-v4-50k-recipes:sac_ln_obs benchmarks/results/ant-v4-50k-recipes:sac

Each ``--case ENV RECIPE BASELINE`` gives both sides as ``FOLDER:CONFIG``: a ``returns.py --out`` folder and a
configuration run into it (the sides may come from different folders; ENV only labels the row, so the folders must
be that env's). Only seeds whose run reached ``--budget`` count, each read at its evaluation at the budget. Per env
and side: every seed's final eval return, their mean +/- std, the mean training return (last 10 episodes at that
evaluation: what choices are made on) and the mean training CPU seconds up to it (evaluations and checkpoints not
counted), each with the number of seeds that recorded it where some did not; then the ratio of the mean returns
and of the mean CPU seconds. Below the table: the mean and the smallest of the per-env return ratios, the two
figures the goal is stated in (an env whose baseline mean is not positive has no ratio and is named there). CPU
seconds depend on the machine's load while a folder's jobs ran: compare them across folders with care.
"""

import argparse
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from reports import at_budget, complete_runs, read_returns, training_returns
from tables import markdown_table, mean_std, per_seed


@dataclass
class Side:
    """One configuration's finished seeds (from one folder or pooled): final eval return, training return and CPU
    seconds, per seed."""

    config: str
    final: dict[int, float] = field(default_factory=dict)
    train: dict[int, float] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)

    def add(self, seed: int, curve: list[dict], budget: int, train: dict[tuple[str, int, int], float]) -> None:
        """``seed``'s figures at ``budget``, from its eval ``curve`` and the run's ``training_returns``."""
        final = at_budget(curve, budget)
        self.final[seed] = final["mean_return"]
        if (self.config, seed, final["step"]) in train:
            self.train[seed] = train[self.config, seed, final["step"]]
        if final["cpu_seconds"] is not None:
            self.cpu[seed] = final["cpu_seconds"]

    def mean(self) -> float:
        return statistics.mean(self.final.values())

    def mean_cpu(self) -> float | None:
        return statistics.mean(self.cpu.values()) if self.cpu else None

    def cells(self) -> list[str]:
        """config, seeds, mean +/- std, per seed, training return, CPU seconds."""
        return [
            self.config,
            str(len(self.final)),
            mean_std(self.final.values()),
            per_seed(self.final),
            self.partial_mean(self.train),
            self.partial_mean(self.cpu),
        ]

    def partial_mean(self, values: dict[int, float]) -> str:
        """The mean over the seeds that recorded the value, with their number where some did not."""
        if not values:
            return "-"
        text = f"{statistics.mean(values.values()):.0f}"
        return text if len(values) == len(self.final) else f"{text} (n={len(values)})"


def parse_side(text: str) -> tuple[Path, str]:
    """``FOLDER:CONFIG`` from the command line."""
    folder, sep, config = text.rpartition(":")
    if not sep or not folder or not config:
        raise argparse.ArgumentTypeError(f"expected FOLDER:CONFIG, got {text!r}")
    return Path(folder), config


def read_side(folder: Path, config: str, budget: int) -> Side:
    """``config``'s seeds in ``folder`` that reached ``budget``."""
    path = folder / "returns.csv"
    if not path.exists():
        raise ValueError(f"no returns.csv in {folder}")
    finished = complete_runs(read_returns(path), budget).get(config)
    if not finished:
        raise ValueError(f"no run of {config} reached --budget {budget} in {folder}")
    train = training_returns(folder)
    side = Side(config)
    for seed, curve in finished.items():
        side.add(seed, curve, budget, train)
    return side


def table(cases: list[tuple[str, Side, Side]]) -> str:
    """One row per env, then the mean and the smallest of the return ratios over the envs that have one."""
    side_headers = ["seeds", "final return", "per seed", "train return", "CPU s"]
    headers = ["env", "recipe", *side_headers, "baseline", *side_headers, "return ratio", "CPU ratio"]
    rows, ratios, no_ratio = [], [], []
    for env, recipe, baseline in cases:
        return_cell = cpu_cell = "-"
        if baseline.mean() > 0:  # a ratio to a non-positive return says nothing
            ratios.append(recipe.mean() / baseline.mean())
            return_cell = f"{ratios[-1]:.2f}x"
        else:
            no_ratio.append(env)
        recipe_cpu, baseline_cpu = recipe.mean_cpu(), baseline.mean_cpu()
        if recipe_cpu is not None and baseline_cpu is not None:
            cpu_cell = f"{recipe_cpu / baseline_cpu:.2f}x"
        rows.append([env, *recipe.cells(), *baseline.cells(), return_cell, cpu_cell])
    text = markdown_table(headers, rows)
    if ratios:
        text += f"\n\nreturn ratio over {len(ratios)} of {len(cases)} envs: mean {statistics.mean(ratios):.2f}x, "
        text += f"smallest {min(ratios):.2f}x"
    if no_ratio:
        text += f"\n\nno return ratio (baseline mean not positive): {', '.join(no_ratio)}"
    return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--case", nargs=3, action="append", required=True, metavar=("ENV", "RECIPE", "BASELINE"), help="FOLDER:CONFIG"
    )
    parser.add_argument("--budget", type=int, required=True, help="env steps a run must reach to count")
    args = parser.parse_args(argv)
    cases = []
    for env, *sides in args.case:
        try:
            recipe, baseline = [read_side(*parse_side(side), args.budget) for side in sides]
        except (argparse.ArgumentTypeError, ValueError) as exc:
            parser.error(f"--case {env}: {exc}")
        cases.append((env, recipe, baseline))
    print(f"final eval return at {args.budget} steps, recipe against baseline\n\n{table(cases)}")


if __name__ == "__main__":
    main()
