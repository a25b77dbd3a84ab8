r"""The results table BENCHMARKS.md opens with: per env and configuration, the seeds that reached the budget, beside
the best published agents at that budget.

    python benchmarks/overview.py --budget 100000 --midpoint 50000 \
        --row Hopper-v4 sac_large.yml benchmarks/results/hopper-v4-100k-sac-large:sac_large \
        --row Ant-v4 crossq_large.yml benchmarks/results/ant-v4-100k-crossq-large:crossq_large \
            benchmarks/results/ant-v4-100k-seeds12:crossq_large

Each ``--row ENV LABEL FOLDER:CONFIG [FOLDER:CONFIG ...]`` pools one configuration's seeds from one or more
``returns.py --out`` folders (a seed found twice is refused). Only seeds whose run reached ``--budget`` count. Per
row: their final eval return (mean +/- std and per seed), the eval return at ``--midpoint`` of those same seeds, the
mean training return (last 10 episodes at the budget's evaluation: what recipes are chosen on) and the mean training
CPU seconds. The last columns are the published references for v4 envs at 50k and 100k steps (means of the
authors' public result files, from SimbaV2's and FlashSAC's repositories): SimbaV2 at 2 updates per env step,
and the best published agent with its updates per env step.
"""

import argparse

from goal import Side, parse_side, read_side
from tables import markdown_table, mean_std, per_seed

# steps -> env -> (SimbaV2 at 2 updates per step, best published, which agent at how many updates per step);
# SimbaV2 published no Humanoid-v4 file at 50k
PUBLISHED: dict[int, dict[str, tuple[float | None, float, str]]] = {
    50_000: {
        "Hopper-v4": (1050, 3231, "SimbaV2, 8"),
        "Walker2d-v4": (601, 2584, "SimbaV2, 8"),
        "HalfCheetah-v4": (5887, 6754, "XQC"),
        "Ant-v4": (1495, 3601, "SimBa, 8"),
        "Humanoid-v4": (None, 968, "CrossQ"),
    },
    100_000: {
        "Hopper-v4": (2821, 3386, "SimbaV2, 4"),
        "Walker2d-v4": (3023, 4488, "SimbaV2, 8"),
        "HalfCheetah-v4": (7328, 9815, "FlashSAC, 1"),
        "Ant-v4": (3881, 5219, "SimBa, 8"),
        "Humanoid-v4": (1329, 6138, "FlashSAC, 1"),
    },
}


def pooled(sides: list[tuple[str, Side]], label: str) -> Side:
    """One configuration's seeds from several folders; a seed in two of them is an error."""
    merged, origin = Side(label), {}
    for folder, side in sides:
        for seed in side.final:
            if seed in origin:
                raise ValueError(f"seed {seed} of {label} is in both {origin[seed]} and {folder}")
            origin[seed] = folder
        merged.final.update(side.final)
        merged.train.update(side.train)
        merged.cpu.update(side.cpu)
    return merged


def references(env: str, budget: int) -> list[str]:
    """The published cells of an env: SimbaV2 at 2 updates per step, the best agent; '-' where none is known."""
    known = PUBLISHED.get(budget, {}).get(env)
    if known is None:
        return ["-", "-"]
    simbav2, best, agent = known
    return ["-" if simbav2 is None else f"{simbav2:.0f}", f"{best:.0f} ({agent})"]


def row(env: str, final: Side, midpoint: Side | None, budget: int) -> list[str]:
    middle = "-"
    if midpoint is not None:
        middle = mean_std(midpoint.final[seed] for seed in final.final)
    return [
        env,
        final.config,
        str(len(final.final)),
        middle,
        mean_std(final.final.values()),
        per_seed(final.final),
        final.partial_mean(final.train),
        final.partial_mean(final.cpu),
        *references(env, budget),
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--row", nargs="+", action="append", required=True, metavar="ENV LABEL FOLDER:CONFIG", help="see above"
    )
    parser.add_argument("--budget", type=int, required=True, help="env steps a run must reach to count")
    parser.add_argument("--midpoint", type=int, help="env steps of the earlier evaluation shown beside the final one")
    args = parser.parse_args(argv)
    if args.midpoint is not None and not 0 < args.midpoint < args.budget:
        parser.error(f"--midpoint must be between 0 and --budget {args.budget}, got {args.midpoint}")
    rows = []
    for entry in args.row:
        if len(entry) < 3:
            parser.error(f"--row {' '.join(entry)}: expected ENV LABEL FOLDER:CONFIG [FOLDER:CONFIG ...]")
        env, label, *sides = entry
        try:
            located = [parse_side(side) for side in sides]
            final = pooled([(str(f), read_side(f, config, args.budget)) for f, config in located], label)
            midpoint = None
            if args.midpoint is not None:
                midpoint = pooled([(str(f), read_side(f, c, args.midpoint)) for f, c in located], label)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            parser.error(f"--row {env} {label}: {exc}")
        rows.append(row(env, final, midpoint, args.budget))
    middle = f"eval at {args.midpoint}" if args.midpoint is not None else "eval earlier"
    headers = ["env", "configuration", "seeds", middle, f"eval at {args.budget}", "per seed", "training return"]
    headers += ["CPU s", "SimbaV2 (2 updates/step)", "best published"]
    print(f"final eval return at {args.budget} steps\n\n{markdown_table(headers, rows)}")


if __name__ == "__main__":
    main()
