"""What ``returns.py`` writes from its rows: the CSV files, the learning-curve plot and the summary table."""

import csv
import io
import statistics
from pathlib import Path
from typing import BinaryIO

from checkpoints import write_atomic
from tables import figure_axes, markdown_table

RETURN_FIELDS = ("config", "seed", "step", "mean_return", "std_return", "wall_seconds", "cpu_seconds", "gradient_steps")
DIAGNOSTIC_FIELDS = ("config", "seed", "step", "metric", "value")


class CsvSink:
    """A CSV file of dict rows with the given fields: rewritten from known rows at start, then appended to. Rows
    of older runs without a field leave its cell empty."""

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


def read_returns(path: Path) -> list[dict]:
    """``returns.csv``'s rows with numbers as numbers; costs that older runs did not record are None."""
    rows = list(csv.DictReader(path.open()))
    for row in rows:
        row.update(seed=int(row["seed"]), step=int(row["step"]))
        row.update({k: float(row[k]) for k in ("mean_return", "std_return", "wall_seconds")})
        for key, kind in (("cpu_seconds", float), ("gradient_steps", int)):
            row[key] = kind(row[key]) if row.get(key) else None
    return rows


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


def at_budget(curve: list[dict], budget: int) -> dict:
    """A finished run's evaluation at the budget (in a folder whose runs went further too)."""
    return next(row for row in curve if row["step"] >= budget)


def training_returns(folder: Path) -> dict[tuple[str, int, int], float]:
    """(config, seed, step) -> ``train_return_last10``, where ``diagnostics.csv`` recorded it."""
    path = folder / "diagnostics.csv"
    if not path.exists():
        return {}
    rows = csv.DictReader(path.open())
    return {
        (row["config"], int(row["seed"]), int(row["step"])): float(row["value"])
        for row in rows
        if row["metric"] == "train_return_last10"
    }


def plot(rows: list[dict], path: Path, title: str, budget: int, episodes: int = 10) -> None:
    ylabel = f"mean return ({episodes} deterministic episodes)"
    with figure_axes(path, title, "environment steps", ylabel) as ax:
        for config, seeds in complete_runs(rows, budget).items():
            # Ape-X actors overshoot eval points by a chunk: align each seed's k-th evaluation.
            n = min(len(curve) for curve in seeds.values())
            values = [[curve[k]["mean_return"] for curve in seeds.values()] for k in range(n)]
            xs = [statistics.mean(curve[k]["step"] for curve in seeds.values()) for k in range(n)]
            ax.plot(xs, [statistics.mean(v) for v in values], label=f"{config} ({len(seeds)} seeds)")
            ax.fill_between(xs, [min(v) for v in values], [max(v) for v in values], alpha=0.2)


def mean_of(values: list) -> float | None:
    """The mean, or None where a run did not record the value."""
    return None if not values or None in values else statistics.mean(values)


def sizes(args) -> str:
    """The network sizes the command line set (the YAMLs' own where it set none)."""
    given = [("width", args.width), ("depth", args.depth), ("actor width", args.actor_width)]
    given += [("critic width", args.critic_width)]
    overrides = [f"{name} {value}" for name, value in given if value is not None]
    large = "large bodies: " + (", ".join(overrides) if overrides else "as their YAML entries")
    return f"{large}; stock SAC {args.sac_width}x2, CrossQ critic {args.crossq_width}x2"


def summary(rows: list[dict], args) -> str:
    """Markdown table: final return over the seeds that reached the budget (mean +/- std), mean of the last 3
    evaluations, ratio to ``sac``, and each job's cost (wall and CPU seconds of training, gradient steps) with
    the CPU-time ratio to ``sac``; the configs of ``--configs`` first, then any other in the rows."""
    finals: dict[str, dict] = {}
    for config, seeds in complete_runs(rows, args.budget).items():
        last = [curve[-1]["mean_return"] for curve in seeds.values()]
        tail = [statistics.mean(r["mean_return"] for r in curve[-3:]) for curve in seeds.values()]
        finals[config] = dict(
            mean=statistics.mean(last),
            std=statistics.pstdev(last),
            tail=statistics.mean(tail),
            wall=mean_of([curve[-1]["wall_seconds"] for curve in seeds.values()]),
            cpu=mean_of([curve[-1].get("cpu_seconds") for curve in seeds.values()]),
            updates=mean_of([curve[-1].get("gradient_steps") for curve in seeds.values()]),
            per_seed=", ".join(f"{v:.0f}" for v in last),
        )
    base = finals.get("sac", {})
    title = f"{args.env}, {args.budget} steps, seeds {args.seed_offset}..{args.seed_offset + args.seeds - 1}, "
    title += sizes(args)
    headers = ["config", "final return (mean +/- std over seeds)", "per seed", "last 3 evals", "vs sac"]
    headers += ["train wall s", "train CPU s", "CPU vs sac", "gradient steps"]
    order = [c for c in args.configs if c in finals] + sorted(set(finals) - set(args.configs))
    table = []
    for config in order:
        f = finals[config]
        ratio = f"{f['mean'] / base['mean']:.2f}x" if base.get("mean", 0) > 0 else "-"
        cpu_ratio = f"{f['cpu'] / base['cpu']:.2f}x" if f["cpu"] and base.get("cpu") else "-"
        mean = f"{f['mean']:.1f} +/- {f['std']:.1f}"
        cpu = "-" if f["cpu"] is None else f"{f['cpu']:.0f}"
        updates = "-" if f["updates"] is None else f"{f['updates']:.0f}"
        table.append([config, mean, f["per_seed"], f"{f['tail']:.1f}", ratio, f"{f['wall']:.0f}", cpu, cpu_ratio])
        table[-1].append(updates)
    return f"{title}\n\n{markdown_table(headers, table)}\n"


def report(rows: list[dict], args) -> None:
    plot(rows, args.out / "returns.png", f"{args.env}, {args.budget} steps", args.budget, args.eval_episodes)
    text = summary(rows, args)
    (args.out / "summary.md").write_text(text)
    print(text)
