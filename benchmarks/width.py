r"""Final return against network width, from ``returns.py`` runs made at different widths.

    python benchmarks/width.py --budget 50000 --configs sac sac_hl \
        --run 256=benchmarks/results/halfcheetah-v4-50k --run 512=benchmarks/results/halfcheetah-v4-50k-w512 \
        --out benchmarks/results/halfcheetah-v4-50k-width

Each ``--run WIDTH=FOLDER`` is a ``returns.py --out`` folder whose runs used that width (``--width`` for the
large bodies, ``--sac-width`` for stock SAC, ``--crossq-width`` for CrossQ's critic); several folders may give
the same width (their seeds are pooled; a seed found twice is an error). For every configuration and width this
reads the seeds whose run reached ``--budget``: their final eval return and, where ``diagnostics.csv`` has it,
the mean of the last 10 training episodes at that same evaluation (``train_return_last10``, what a choice between
recipes should read), and the CPU seconds the job had spent by then. Widths may have different numbers of seeds: the
table and legend say how many. Writes ``width.png`` (every seed's final return as a dot, their mean as a line, the
mean training return as a dashed line, width on a log2 axis) and ``width.md`` (the table) to ``--out``.
"""

import argparse
import statistics
from pathlib import Path

from goal import Side
from reports import complete_runs, read_returns, training_returns
from tables import figure_axes, markdown_table, mean_std, per_seed


def parse_run(text: str) -> tuple[int, Path]:
    """``WIDTH=FOLDER`` from the command line."""
    width, sep, folder = text.partition("=")
    if not sep or not width.isdecimal() or int(width) <= 0 or not folder:
        raise argparse.ArgumentTypeError(f"expected WIDTH=FOLDER with a positive WIDTH, got {text!r}")
    return int(width), Path(folder)


def collect(runs: list[tuple[int, Path]], configs: list[str], budget: int) -> dict[str, dict[int, Side]]:
    """config -> width -> its finished seeds, pooled over the folders given for that width."""
    points: dict[str, dict[int, Side]] = {config: {} for config in configs}
    source: dict[tuple[str, int, int], Path] = {}
    for width, folder in sorted(runs):
        finished = complete_runs(read_returns(folder / "returns.csv"), budget)
        train = training_returns(folder)
        for config in configs:
            for seed, curve in finished.get(config, {}).items():
                if (config, width, seed) in source:
                    raise ValueError(
                        f"--run: {config} seed {seed} at width {width} is in both {source[config, width, seed]} "
                        f"and {folder}"
                    )
                source[config, width, seed] = folder
                points[config].setdefault(width, Side(config)).add(seed, curve, budget, train)
    return points


def table(points: dict[str, dict[int, Side]]) -> str:
    """One row per configuration and width, seeds in order."""
    headers = [
        "config",
        "width",
        "seeds",
        "final return (mean +/- std)",
        "per seed",
        "training return (last 10)",
        "CPU s per job",
    ]
    rows = []
    for config, widths in points.items():
        for width, point in sorted(widths.items()):
            train = f"{statistics.mean(point.train.values()):.0f} (n={len(point.train)})" if point.train else "-"
            cpu = f"{statistics.mean(point.cpu.values()):.0f}" if point.cpu else "-"
            final = mean_std(point.final.values())
            rows.append([config, width, len(point.final), final, per_seed(point.final), train, cpu])
    return markdown_table(headers, rows)


def plot(points: dict[str, dict[int, Side]], path: Path, title: str, xlabel: str) -> None:
    """Every seed's final return as a dot, the mean over seeds as a line, the mean training return beside it as a
    dashed line (what a choice between widths should read), width on a log2 axis."""
    ylabel = "return at the budget"
    with figure_axes(path, title, xlabel, ylabel, size=(6, 4.5)) as ax:
        ax.set_xscale("log", base=2)
        widths_drawn = sorted({width for widths in points.values() for width in widths})
        ax.set_xticks(widths_drawn, [str(width) for width in widths_drawn])
        for config, widths in points.items():
            xs = sorted(widths)
            means = [statistics.mean(widths[width].final.values()) for width in xs]
            counts = "/".join(str(len(widths[width].final)) for width in xs)
            (line,) = ax.plot(
                xs, means, marker="o", label=f"{config}, eval (10 deterministic episodes; seeds {counts})"
            )
            for width in xs:
                seeds = list(widths[width].final.values())
                ax.scatter([width] * len(seeds), seeds, color=line.get_color(), alpha=0.4, s=14)
            trained = [width for width in xs if widths[width].train]
            if trained:
                train = [statistics.mean(widths[width].train.values()) for width in trained]
                ax.plot(
                    trained,
                    train,
                    linestyle="--",
                    color=line.get_color(),
                    label=f"{config}, training (last 10 episodes)",
                )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=parse_run, action="append", required=True, metavar="WIDTH=FOLDER")
    parser.add_argument("--configs", nargs="+", required=True)
    parser.add_argument("--budget", type=int, required=True, help="env steps a run must reach to count")
    parser.add_argument("--title", default="final return against width")
    parser.add_argument("--xlabel", default="hidden width", help="which width the runs varied")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    missing = [str(folder) for _, folder in args.run if not (folder / "returns.csv").exists()]
    if missing:
        parser.error(f"--run: no returns.csv in {missing[0]}")
    try:
        points = collect(args.run, args.configs, args.budget)
    except ValueError as exc:
        parser.error(str(exc))
    empty = [config for config, widths in points.items() if not widths]
    if empty:
        parser.error(f"--configs: no run of {empty[0]} reached --budget {args.budget} in the --run folders")
    args.out.mkdir(parents=True, exist_ok=True)
    plot(points, args.out / "width.png", args.title, args.xlabel)
    text = f"{args.title}, {args.budget} steps\n\n{table(points)}\n"
    (args.out / "width.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
