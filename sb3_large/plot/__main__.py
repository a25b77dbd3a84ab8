"""``python -m sb3_large.plot FOLDER [FOLDER ...] [--out plot.png] [--keys ...]``: see ``sb3_large.plot``."""

import argparse

from sb3_large.plot import find_runs, panel_keys, plot_runs, save_figure


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_large.plot",
        description="Return curves and representation diagnostics of RL Zoo / SB3 log folders: mean and one "
        "standard deviation over the runs (seeds) of each experiment, to an image.",
    )
    parser.add_argument("folders", nargs="+", help="log folders to search for runs (e.g. RL Zoo's logs/)")
    parser.add_argument("--out", help="image to write (.png, .pdf, .svg); default: <first folder>/plot.png")
    parser.add_argument(
        "--keys",
        nargs="+",
        help="diagnostics keys to draw (e.g. actor_srank critic_dormant) or 'all'; "
        "default: every *_srank and *_dormant key found",
    )
    parser.add_argument("--window", type=int, default=10, help="episodes averaged for monitor-file returns")
    args = parser.parse_args(argv)
    if args.window < 1:
        parser.error(f"--window: must be >= 1, got {args.window}")
    try:
        runs = find_runs(args.folders, window=args.window)
        if not runs:
            raise ValueError(
                f"no runs under {', '.join(args.folders)}: a run folder holds evaluations.npz, *.monitor.csv, "
                "progress.csv or tensorboard event files"
            )
        keys = panel_keys(runs, args.keys)
        figure = plot_runs(runs, args.keys)
    except (FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"python -m sb3_large.plot: error: {exc}\n")
    out = save_figure(figure, args.out or f"{args.folders[0].rstrip('/')}/plot.png")
    experiments = sorted({run.experiment for run in runs})
    print(f"{out}: panels {', '.join(keys)}; experiments (runs):")
    for name in experiments:
        print(f"  {name} ({sum(run.experiment == name for run in runs)})")


if __name__ == "__main__":
    main()
