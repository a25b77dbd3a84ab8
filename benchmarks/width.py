"""Final return against network width, from ``returns.py`` runs made at different widths.

    python benchmarks/width.py --budget 50000 --configs sac sac_hl \
        --run 256=benchmarks/results/halfcheetah-v4-50k --run 512=benchmarks/results/halfcheetah-v4-50k-w512 \
        --out benchmarks/results/halfcheetah-v4-50k-width

Each ``--run WIDTH=FOLDER`` is a ``returns.py --out`` folder whose runs used that width (``--width`` for the
large bodies, ``--sac-width`` for stock SAC). For every configuration and width this reads the seeds that reached
``--budget``: their final eval return (mean +/- std, per seed) and, where ``diagnostics.csv`` has it, the mean of
the last 10 training episodes at the budget (``train_return_last10``, what a choice between recipes should read).
Writes ``width.png`` (every seed as a dot, the mean as a line, width on a log2 axis) and ``width.md`` to ``--out``.
"""

import argparse
import csv
import statistics
from pathlib import Path

from returns import complete_runs, read_returns
from tables import figure_axes, markdown_table


def parse_run(text: str) -> tuple[int, Path]:
    width, sep, folder = text.partition("=")
    if not sep or not width.isdigit() or int(width) <= 0:
        raise argparse.ArgumentTypeError(f"expected WIDTH=FOLDER with a positive WIDTH, got {text!r}")
    return int(width), Path(folder)


def training_returns(folder: Path, budget: int) -> dict[tuple[str, int], float]:
    """(config, seed) -> ``train_return_last10`` at the final evaluation, where recorded."""
    path = folder / "diagnostics.csv"
    if not path.exists():
        return {}
    last: dict[tuple[str, int], tuple[int, float]] = {}
    for row in csv.DictReader(path.open()):
        step = int(row["step"])
        if row["metric"] == "train_return_last10" and step >= budget:
            key = (row["config"], int(row["seed"]))
            if key not in last or step < last[key][0]:
                last[key] = (step, float(row["value"]))
    return {key: value for key, (_, value) in last.items()}


def collect(runs: list[tuple[int, Path]], configs: list[str], budget: int) -> dict[str, dict[int, dict]]:
    """config -> width -> {seed: final return}, {seed: training return}."""
    points: dict[str, dict[int, dict]] = {config: {} for config in configs}
    for width, folder in sorted(runs):
        finished = complete_runs(read_returns(folder / "returns.csv"), budget)
        train = training_returns(folder, budget)
        for config in configs:
            seeds = finished.get(config, {})
            if seeds:
                points[config][width] = dict(
                    final={seed: curve[-1]["mean_return"] for seed, curve in seeds.items()},
                    train={seed: train[config, seed] for seed in seeds if (config, seed) in train},
                )
    return points


def table(points: dict[str, dict[int, dict]]) -> str:
    headers = ["config", "width", "final return (mean +/- std)", "per seed", "training return (last 10)"]
    rows = []
    for config, widths in points.items():
        for width, values in sorted(widths.items()):
            final = list(values["final"].values())
            per_seed = ", ".join(f"{seed}: {v:.0f}" for seed, v in sorted(values["final"].items()))
            train = values["train"]
            train_text = f"{statistics.mean(train.values()):.0f} (n={len(train)})" if train else "-"
            mean = f"{statistics.mean(final):.1f} +/- {statistics.pstdev(final):.1f}"
            rows.append([config, width, mean, per_seed, train_text])
    return markdown_table(headers, rows)


def plot(points: dict[str, dict[int, dict]], path: Path, title: str) -> None:
    """Every seed's final return as a dot, the mean over seeds as a line, width on a log2 axis."""
    with figure_axes(path, title, "hidden width", "final return (10 deterministic episodes)", size=(6, 4.5)) as ax:
        ax.set_xscale("log", base=2)
        for config, widths in points.items():
            if not widths:
                continue
            xs = sorted(widths)
            means = [statistics.mean(widths[w]["final"].values()) for w in xs]
            (line,) = ax.plot(xs, means, marker="o", label=config)
            for width in xs:
                seeds = list(widths[width]["final"].values())
                ax.scatter([width] * len(seeds), seeds, color=line.get_color(), alpha=0.4, s=14)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=parse_run, action="append", required=True, metavar="WIDTH=FOLDER")
    parser.add_argument("--configs", nargs="+", required=True)
    parser.add_argument("--budget", type=int, required=True, help="env steps a run must reach to count")
    parser.add_argument("--title", default="final return against width")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    missing = [str(folder) for _, folder in args.run if not (folder / "returns.csv").exists()]
    if missing:
        parser.error(f"--run: no returns.csv in {missing[0]}")
    points = collect(args.run, args.configs, args.budget)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(points, args.out / "width.png", args.title)
    text = f"{args.title}, {args.budget} steps\n\n{table(points)}\n"
    (args.out / "width.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
