"""Learner throughput: stock SB3 against sb3-large on the same math, side by side in one process.

    python benchmarks/learner_throughput.py                  # SAC and TD3, widths 256 1024 2048, depth 2
    python benchmarks/learner_throughput.py --quick          # seconds, for CI smoke tests

For each algorithm and width W: stock SB3 (``stable_baselines3.SAC`` / ``TD3``, ``MlpPolicy``, ``net_arch=[W] * D``)
and ours (``sb3_large.SAC`` / ``TD3``, ``LargeMlpPolicy`` with ``arch="mlp"``, same W, D, fused Adam by default;
densenet as extra rows) train on the same filled replay buffer, batch 256, timed in alternating blocks so
that machine noise hits both alike. ``--profile`` adds, per row, where ours and SB3 spend an update (torch
profiler, grouped). The machine's float32 matmul peak is measured in the same run. FLOPs per
update are counted from the Linear layers (2 * batch * weights per forward, 2x that per backward; SAC: actor
4 passes, critics 7; TD3: actor 1 + 3 / policy_delay, critics 4 + 1.5 / policy_delay). Memory: growth of the
process's resident set while the model is built, over the baseline before it; freed memory is reused, so
this undercounts later rows (a per-model subprocess would measure it properly). Prints a table, then one JSON
object per row.
"""

import argparse
import gc
import json
import time

import stable_baselines3 as sb3
import torch as th
from torch import nn

import sb3_large

ALGOS = {"sac": (sb3.SAC, sb3_large.SAC), "td3": (sb3.TD3, sb3_large.TD3)}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def matmul_peak_gflops(size: int = 2048, seconds: float = 2.0) -> float:
    a, b = th.randn(size, size), th.randn(size, size)
    a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return 2 * size**3 * n / (time.perf_counter() - start) / 1e9


def linear_weights(module: nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Linear))


def flops_per_update(model, batch_size: int) -> float:
    actor, critic = linear_weights(model.policy.actor), linear_weights(model.policy.critic)
    if isinstance(model, sb3.SAC):
        passes = 4 * actor + 7 * critic
    else:  # target actor + delayed actor loss through the first critic only
        delay = model.policy_delay
        passes = actor * (1 + 3 / delay) + critic * (4 + 1.5 / delay)
    return 2 * batch_size * passes


def build(algo, policy: str, env: str, policy_kwargs: dict, batch_size: int, fill: int):
    model = algo(policy, env, batch_size=batch_size, learning_starts=fill, seed=0, policy_kwargs=policy_kwargs)
    model.learn(fill)  # random warm-up only: fills the buffer, no update
    return model


def measure(args, algo: str, arch: str, width: int) -> dict:
    gc.collect()
    base = rss_mb()
    stock_algo, our_algo = ALGOS[algo]
    stock = build(stock_algo, "MlpPolicy", args.env, dict(net_arch=[width] * args.depth), args.batch_size, args.fill)
    sb3_rss = rss_mb() - base
    body = dict(arch=arch, width=width, depth=args.depth)
    ours = build(our_algo, "LargeMlpPolicy", args.env, body, args.batch_size, args.fill)
    models = {"sb3": stock, "ours": ours}
    ours_rss = rss_mb() - base - sb3_rss
    for model in models.values():  # warm-up
        model.train(gradient_steps=2, batch_size=args.batch_size)
    seconds = {"sb3": 0.0, "ours": 0.0}
    for _ in range(args.blocks):
        for name, model in models.items():
            start = time.perf_counter()
            model.train(gradient_steps=args.updates, batch_size=args.batch_size)
            seconds[name] += time.perf_counter() - start
    sb3_rss = max(sb3_rss, 0.0)
    n = args.blocks * args.updates
    sb3_ups, ours_ups = n / seconds["sb3"], n / seconds["ours"]
    ours_gflops = flops_per_update(ours, args.batch_size) * ours_ups / 1e9
    row = dict(
        algo=algo,
        arch=arch,
        width=width,
        depth=args.depth,
        device="cpu",
        sb3_updates_per_s=round(sb3_ups, 2),
        ours_updates_per_s=round(ours_ups, 2),
        speedup=round(ours_ups / sb3_ups, 3),
        ours_gflops=round(ours_gflops, 1),
        peak_gflops=round(args.peak, 1),
        peak_fraction=round(ours_gflops / args.peak, 3),
        sb3_peak_rss_mb=round(sb3_rss, 1),
        ours_peak_rss_mb=round(max(ours_rss, 0.0), 1),
    )
    if args.profile:
        row["profile"] = {name: profile(model, args) for name, model in models.items()}
    del stock, ours, models
    gc.collect()
    return row


PROFILE_GROUPS = {
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"),
    "optimizer": (
        "Optimizer.step",
        "aten::_fused_adam",
        "aten::_foreach_",
        "aten::lerp",
        "aten::addcdiv",
        "aten::sqrt",
    ),
    "elementwise": ("aten::relu", "aten::clamp", "aten::threshold", "aten::mul", "aten::add", "aten::sub", "aten::div"),
    "copies": ("aten::copy_", "aten::cat", "aten::to", "aten::_to_copy", "aten::empty", "aten::zeros"),
}


def profile(model, args) -> dict[str, float]:
    """Share of an update's self CPU time per op group (torch profiler), plus the profiled ms per update."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        model.train(gradient_steps=args.updates, batch_size=args.batch_size)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    shares = dict.fromkeys([*PROFILE_GROUPS, "other"], 0.0)
    for event in events:
        group = next((g for g, names in PROFILE_GROUPS.items() if event.key.startswith(names)), "other")
        shares[group] += event.self_cpu_time_total / total
    return {"ms_per_update": round(total / 1e3 / args.updates, 2), **{k: round(v, 3) for k, v in shares.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["sac", "td3"], choices=list(ALGOS))
    parser.add_argument("--widths", nargs="+", type=int, default=[256, 1024, 2048])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--extra-archs", nargs="*", default=["densenet"], help="extra rows besides mlp")
    parser.add_argument("--env", default="HalfCheetah-v4")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--fill", type=int, default=2000, help="random transitions in the buffer")
    parser.add_argument("--updates", type=int, default=20, help="updates per timed block")
    parser.add_argument("--blocks", type=int, default=3, help="alternating timed blocks per model")
    parser.add_argument("--quick", action="store_true", help="Pendulum-v1, width 64, a few updates")
    parser.add_argument("--profile", action="store_true", help="add a per-row breakdown of where time goes")
    args = parser.parse_args()
    if args.quick:
        args.env, args.widths, args.fill, args.updates, args.blocks = "Pendulum-v1", [64], 300, 5, 2
    args.peak = matmul_peak_gflops(seconds=0.5 if args.quick else 2.0)
    print(f"float32 matmul peak: {args.peak:.1f} GFLOP/s ({th.get_num_threads()} threads)", flush=True)

    # The first model built and trained in a process pays one-time allocations (torch, env, allocator pools);
    # pay them here so that the RSS growth of the measured models is theirs.
    build(ALGOS[args.algos[0]][0], "MlpPolicy", args.env, dict(net_arch=[8]), args.batch_size, 100).train(
        2, args.batch_size
    )
    gc.collect()
    rows = []
    for algo in args.algos:
        for arch in ["mlp", *args.extra_archs]:
            for width in args.widths:
                rows.append(measure(args, algo, arch, width))
                print(f"measured {algo} {arch} {width}x{args.depth}: speedup {rows[-1]['speedup']}", flush=True)
    print(
        "\n| algo | arch | width | SB3 upd/s | ours upd/s | speedup | ours GFLOP/s | peak fraction "
        "| RSS MB SB3 / ours |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['algo']} | {r['arch']} | {r['width']}x{r['depth']} | {r['sb3_updates_per_s']} | "
            f"{r['ours_updates_per_s']} | {r['speedup']} | {r['ours_gflops']} | {r['peak_fraction']} | "
            f"{r['sb3_peak_rss_mb']} / {r['ours_peak_rss_mb']} |"
        )
    if args.profile:
        print("\n| algo | arch | width | learner | ms/update (profiled) | " + " | ".join(PROFILE_GROUPS) + " | other |")
        print("|---" * (6 + len(PROFILE_GROUPS)) + "|")
        for r in rows:
            for name, p in r["profile"].items():
                shares = " | ".join(f"{p[g]:.0%}" for g in [*PROFILE_GROUPS, "other"])
                print(
                    f"| {r['algo']} | {r['arch']} | {r['width']}x{r['depth']} | {name} | {p['ms_per_update']} "
                    f"| {shares} |"
                )
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
