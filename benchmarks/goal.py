"""A recipe's final return against a baseline's on several envs, from ``returns.py`` folders (issue 25's goal).

    python benchmarks/goal.py --budget 50000 \
        --case Hopper-v4 benchmarks/results/hopper-v4-50k-issue25:sac_ln benchmarks/results/hopper-v4-50k:sac \
        --case Ant-v4 benchmarks/results/ant-v4-50k-issue25:sac_ln_obs benchmarks/results/ant-v4-50k-issue25:sac

Each ``--case ENV RECIPE BASELINE`` gives both sides as ``FOLDER:CONFIG``: a ``returns.py --out`` folder and a
configuration run into it (the sides may come from different folders). Only seeds whose run reached ``--budget``
count. Per env and side: the final eval return of every seed, their mean +/- std, the mean training return (last 10
episodes, at that same evaluation: what choices are made on) and the mean CPU seconds of a job; then the ratio of
the mean returns and of the mean CPU seconds. Below the table: the mean of the per-env return ratios and the
smallest one, the two figures the goal is stated in. CPU seconds depend on the machine's load while a folder's jobs
ran: a CPU ratio across folders run in different sessions is only indicative.
"""

import argparse
import statistics
from dataclasses import dataclass
from pathlib import Path

from reports import complete_runs, read_returns, training_returns
from tables import markdown_table


@dataclass
class Side:
    """One configuration's finished seeds in one folder: final eval return, training return and CPU seconds."""

    config: str
    final: dict[int, float]
    train: dict[int, float]
    cpu: dict[int, float]

    def mean(self) -> float:
        return statistics.mean(self.final.values())

    def cells(self) -> list[str]:
        """config, seeds, mean +/- std, per seed, training return, CPU seconds."""
        final = list(self.final.values())
        mean = f"{self.mean():.0f}" + (f" +/- {statistics.pstdev(final):.0f}" if len(final) > 1 else "")
        per_seed = ", ".join(f"{seed}: {value:.0f}" for seed, value in sorted(self.final.items()))
        train = f"{statistics.mean(self.train.values()):.0f}" if self.train else "-"
        cpu = f"{statistics.mean(self.cpu.values()):.0f}" if self.cpu else "-"
        return [self.config, str(len(final)), mean, per_seed, train, cpu]


def parse_side(text: str) -> tuple[Path, str]:
    """``FOLDER:CONFIG`` from the command line."""
    folder, sep, config = text.rpartition(":")
    if not sep or not folder or not config:
        raise argparse.ArgumentTypeError(f"expected FOLDER:CONFIG, got {text!r}")
    return Path(folder), config


def read_side(folder: Path, config: str, budget: int) -> Side:
    """``config``'s seeds in ``folder`` that reached ``budget``, read at the evaluation at the budget."""
    path = folder / "returns.csv"
    if not path.exists():
        raise ValueError(f"no returns.csv in {folder}")
    finished = complete_runs(read_returns(path), budget).get(config)
    if not finished:
        raise ValueError(f"no run of {config} reached --budget {budget} in {folder}")
    train = training_returns(folder)
    side = Side(config, {}, {}, {})
    for seed, curve in finished.items():
        at_budget = next(row for row in curve if row["step"] >= budget)
        side.final[seed] = at_budget["mean_return"]
        if (config, seed, at_budget["step"]) in train:
            side.train[seed] = train[config, seed, at_budget["step"]]
        if at_budget["cpu_seconds"] is not None:
            side.cpu[seed] = at_budget["cpu_seconds"]
    return side


def ratio(recipe: float, baseline: float) -> str:
    return f"{recipe / baseline:.2f}x" if baseline > 0 else "-"  # a non-positive baseline return has no ratio


def table(cases: list[tuple[str, Side, Side]]) -> str:
    """One row per env, then the mean and the smallest of the return ratios over the envs that have one."""
    side_headers = ["seeds", "final return", "per seed", "train return", "CPU s"]
    headers = ["env", "recipe", *side_headers, "baseline", *side_headers, "return ratio", "CPU ratio"]
    rows, ratios = [], []
    for env, recipe, baseline in cases:
        cpu_ratio = "-"
        if recipe.cpu and baseline.cpu:
            cpu_ratio = ratio(statistics.mean(recipe.cpu.values()), statistics.mean(baseline.cpu.values()))
        if baseline.mean() > 0:
            ratios.append(recipe.mean() / baseline.mean())
        rows.append([env, *recipe.cells(), *baseline.cells(), ratio(recipe.mean(), baseline.mean()), cpu_ratio])
    text = markdown_table(headers, rows)
    if ratios:
        text += (
            f"\n\nreturn ratio over {len(ratios)} envs: mean {statistics.mean(ratios):.2f}x, "
            f"smallest {min(ratios):.2f}x"
        )
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
