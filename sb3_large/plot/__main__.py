"""``python -m sb3_large.plot FOLDER [FOLDER ...] [--out plot.png] [--keys ...]``: see ``sb3_large.plot``."""

import argparse
import importlib.util

from sb3_large.cli import run_command
from sb3_large.extras import ZOO as EXTRA
from sb3_large.plot import Scan, environments, panel_keys, plot_runs, save_figure, scan_runs
from sb3_large.plot.figure import image_format


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_large.plot",
        description="Return curves and representation diagnostics of RL Zoo / SB3 log folders, to an image: a "
        "column of panels per environment, evaluation and training returns apart; runs grouped by their RL Zoo "
        "configuration (mean and one standard deviation over the seeds of each).",
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
    parser.add_argument(
        "--seeds-by-name",
        action="store_true",
        help="runs without an RL Zoo configuration (SB3 / tensorboard folders) whose names differ only in a "
        "trailing _<n> are seeds of one experiment (default: each its own)",
    )
    args = parser.parse_args(argv)
    if args.window < 1:
        parser.error(f"--window: must be >= 1, got {args.window}")
    if importlib.util.find_spec("matplotlib") is None:
        parser.exit(2, f"python -m sb3_large.plot: error: it draws with matplotlib, which is not installed; {EXTRA}\n")
    out = args.out or f"{args.folders[0].rstrip('/')}/plot.png"
    try:
        image_format(out)
    except ValueError as exc:
        parser.error(f"--out: {exc}")
    try:
        scan = scan_runs(args.folders, window=args.window, seeds_by_name=args.seeds_by_name)
        skipped = "".join(f"\n  {path}: {reason}" for path, reason in scan.skipped)
        if not scan.runs:
            raise ValueError(
                f"no runs to plot under {', '.join(args.folders)}: a run folder holds evaluations.npz, "
                f"*.monitor.csv, progress.csv or tensorboard event files{'; left out:' + skipped if skipped else ''}"
            )
        keys = panel_keys(scan.runs, args.keys)
        figure = plot_runs(scan.runs, args.keys)
    except (FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"python -m sb3_large.plot: error: {exc}\n")
    out = save_figure(figure, out)
    _report(out, scan, keys)


def _report(out, scan: Scan, keys: list[str]) -> None:
    """What was drawn (rows, columns, each experiment's runs), what was left out and why, and the runs' notes."""
    drawn = [run for run in scan.runs if any(key in run.series for key in keys)]
    envs = [env or "environment not recorded" for env in environments(drawn)]
    print(f"{out}: rows {', '.join(keys)}; columns {', '.join(envs)}; experiments (runs):")
    for name in sorted({run.experiment for run in drawn}):
        members = [run for run in drawn if run.experiment == name]
        print(f"  {name} ({len(members)}): {', '.join(str(run.path) for run in members)}")
    left_out = [(run.path, f"none of the drawn keys ({', '.join(keys)})") for run in scan.runs if run not in drawn]
    if scan.skipped or left_out:
        print("left out:")
        for path, reason in [*scan.skipped, *left_out]:
            print(f"  {path}: {reason}")
    for run in scan.runs:
        for note in run.notes:
            print(f"note: {run.path}: {note}")


if __name__ == "__main__":
    run_command(main)
