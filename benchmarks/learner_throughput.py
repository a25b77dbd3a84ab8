"""Learner throughput: stock SB3 against sb3-large on the same math, side by side in one process.

    python benchmarks/learner_throughput.py                  # SAC and TD3, widths 256 1024 2048, depth 2
    python benchmarks/learner_throughput.py --quick          # seconds, for CI smoke tests

For each algorithm and width W: stock SB3 (``stable_baselines3.SAC`` / ``TD3``, ``MlpPolicy``, ``net_arch=[W] * D``)
and ours (``sb3_large.SAC`` / ``TD3``, ``LargeMlpPolicy`` with ``arch="mlp"``, same W, D, fused Adam by default;
densenet as extra rows) train on the same filled replay buffer, batch 256, timed in alternating blocks so
that machine noise hits both alike. ``--profile`` adds, per row, where ours and SB3 spend an update (torch
profiler, grouped). The matmul peak of each device is measured in the same run; rows run on CPU, and
on CUDA when present (``--devices``). FLOPs per update are counted from the Linear layers (2 * batch * weights
per forward, 2x that per backward; SAC: actor 4 passes, critics 7 in SB3, 6 in ours, which skips the critics'
weight gradients of the actor loss; TD3 likewise). Memory: each model is built and trained once more in a
fresh process, which reports its peak resident set (CUDA: peak allocator use) over its baseline after
imports. ``--ensemble-critics`` / ``--compile`` time ours with those policy options. ``--variants`` times more
learners in the same alternating blocks as the row's SB3 and ours, so that their ratios come from one run:
``ofenet`` (ours on OFENet features, default OFENet settings, one auxiliary update per RL update included: compare
it with ours of the same arch and width), ``compile-update`` (``compile="update"``), ``bf16``
(``precision="bf16"``) and ``compile-update-bf16`` (both). ``--cpu-time`` times with this process's CPU time
instead of the wall clock: on a machine that other work keeps busy, wall time measures the neighbours too (run it
with ``OMP_NUM_THREADS=1``: with several threads, CPU time adds them up). Prints a table, then one JSON object per
row.

``--recipe`` (e.g. ``sac_large``, the default of ``hyperparams/sac_large.yml``) times that recipe's network
(its ``--env`` entry: policy kwargs, batch size, SAC settings) instead, at each ``--critic-widths`` (the actor as
the recipe has it), every way a user can train it, in the same alternating blocks: stock SB3 ``SAC`` with the
policy's speed options off (``sb3``), stock SB3 ``SAC`` with them on (``sb3+ensemble``, ``sb3+compile``,
``sb3+ensemble+compile``, ``sb3+bf16``: the RL Zoo path, ``ensemble_critics`` / ``compile`` / ``precision`` in a
YAML's ``policy_kwargs``), and
``sb3_large.SAC`` in fp32 (``ours``) and with each of its update options (``ours+compile-update``, ``ours+bf16``,
``ours+compile-update-bf16``). ``--learners`` times a subset (``sb3`` always runs: every ratio is to it). With
categorical critics (``sac_hl_sb3``) the two learners train different losses (SB3 regresses the critics'
expectation, ``sb3_large.SAC`` takes the cross-entropy), so their ratio compares two updates.
"""

import argparse
import gc
import json
import multiprocessing as mp
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import stable_baselines3 as sb3
import torch as th
from configs import YAML_CONFIGS, zoo_entry
from rl_zoo3.utils import get_class_by_name
from tables import markdown_table
from torch import nn

import sb3_large
from sb3_large.networks.ensemble import EnsembleLinear
from sb3_large.ofenet.trainer import flat_features

ALGOS = {"sac": (sb3.SAC, sb3_large.SAC), "td3": (sb3.TD3, sb3_large.TD3)}


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set (``VmRSS``) or its high-water mark (``VmHWM``), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def matmul_peak_gflops(device: str, size: int = 2048, seconds: float = 2.0, clock=time.perf_counter) -> float:
    if device == "cuda":
        size *= 4
    a, b = th.randn(size, size, device=device), th.randn(size, size, device=device)
    a @ b
    sync(device)
    n, start = 0, clock()
    while clock() - start < seconds:
        a @ b
        n += 1
    sync(device)
    return 2 * size**3 * n / (clock() - start) / 1e9


def linear_weights(module: nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Linear, EnsembleLinear)))


def flops_per_update(model, batch_size: int) -> float:
    """Matmul FLOPs of one update as the model's own train() runs it.

    The actor loss backpropagates through the critics: SB3 computes their weight gradients too (a pass of
    2x), the fast learners only the input gradients (1x).
    """
    actor, critic = linear_weights(model.policy.actor), linear_weights(model.policy.critic)
    through_critic = 2 if type(model) in (sb3.SAC, sb3.TD3) else 1
    if isinstance(model, sb3.SAC):
        passes = 4 * actor + (5 + through_critic) * critic
    else:  # target actor + delayed actor loss through the first critic only
        delay = model.policy_delay
        passes = actor * (1 + 3 / delay) + critic * (4 + (0.5 + 0.5 * through_critic) / delay)
    return 2 * batch_size * passes


# Extra learners of --variants: ours with these policy kwargs and algorithm kwargs.
VARIANTS = {
    "ofenet": (dict(ofenet_kwargs={}), {}),
    "compile-update": ({}, dict(compile="update")),
    "bf16": ({}, dict(precision="bf16")),
    "compile-update-bf16": ({}, dict(compile="update", precision="bf16")),
}


# --recipe learners: (algorithm, policy kwargs added, algorithm kwargs added); ratios are to "sb3".
RECIPE_LEARNERS = {
    "sb3": (sb3.SAC, {}, {}),
    "sb3+ensemble": (sb3.SAC, dict(ensemble_critics=True), {}),
    "sb3+compile": (sb3.SAC, dict(compile=True), {}),
    "sb3+ensemble+compile": (sb3.SAC, dict(ensemble_critics=True, compile=True), {}),
    "sb3+bf16": (sb3.SAC, dict(precision="bf16"), {}),
    "ours": (sb3_large.SAC, {}, {}),
    **{f"ours+{name}": (sb3_large.SAC, {}, kwargs) for name, (_, kwargs) in VARIANTS.items() if name != "ofenet"},
}
# Recipes stock RL Zoo trains with SAC (Ape-X's actor processes would time collection, not updates).
SAC_RECIPES = tuple(name for name, (_, algo) in YAML_CONFIGS.items() if algo == "sac" and "apex" not in name)
# Hyperparameters of a recipe entry that shape an update (the others decide what is collected, not its cost).
UPDATE_HYPERPARAMETERS = ("learning_rate", "batch_size", "gamma", "tau", "ent_coef", "target_entropy")


def cpu_description() -> str:
    """The CPU's model name and whether it has bfloat16 units (the ``bf16`` learners are slower without them)."""
    model, flags = platform.processor() or "unknown CPU", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    units = sorted(flags & {"avx512_bf16", "amx_bf16"})
    return f"{model}; bf16 units: {', '.join(units) if units else 'none (no avx512_bf16 / amx_bf16 flag)'}"


def build(
    algo,
    policy: str,
    env: str,
    policy_kwargs: dict,
    batch_size: int,
    fill: int,
    device: str = "cpu",
    algo_kwargs: dict | None = None,
):
    model = algo(
        policy,
        env,
        batch_size=batch_size,
        learning_starts=fill,
        seed=0,
        policy_kwargs=dict(policy_kwargs),
        device=device,
        **(algo_kwargs or {}),
    )
    model.learn(fill)  # random warm-up only: fills the buffer, no update
    return model


def train(model, updates: int, batch_size: int) -> None:
    """``updates`` RL updates; with an OFENet, as many auxiliary updates too (``OFENetTrainer``'s default ratio)."""
    ofenet = getattr(model.policy, "ofenet", None)
    if ofenet is not None:
        for _ in range(updates):
            batch = model.replay_buffer.sample(batch_size)
            obs, next_obs = batch.observations, batch.next_observations
            space = model.observation_space
            ofenet.update(flat_features(obs, space), batch.actions, flat_features(next_obs, space))
    model.train(gradient_steps=updates, batch_size=batch_size)


def model_specs(algo: str, arch: str, width: int, args) -> dict[str, tuple]:
    """(algorithm class, policy, policy kwargs) of stock SB3 and of ours for one row."""
    stock_algo, our_algo = ALGOS[algo]
    body = dict(arch=arch, width=width, depth=args.depth, **args.ours_kwargs)
    return {
        "sb3": (stock_algo, "MlpPolicy", dict(net_arch=[width] * args.depth)),
        "ours": (our_algo, "LargeMlpPolicy", body),
    }


def variant_specs(algo: str, arch: str, width: int, args) -> dict[str, tuple]:
    """(algorithm class, policy, policy kwargs, algorithm kwargs) of the --variants learners of one row."""
    our_algo, _, policy_kwargs = model_specs(algo, arch, width, args)["ours"]
    specs = {}
    for name in args.variants:
        extra_policy, extra_algo = VARIANTS[name]
        specs[name] = (our_algo, "LargeMlpPolicy", {**policy_kwargs, **extra_policy}, extra_algo)
    return specs


def peak_memory_mb(spec: tuple, args, device: str) -> float:
    """In this (fresh) process: peak growth of host memory (CPU) or of the CUDA allocator while the model is
    built and trained, over the baseline after imports."""
    algo, policy, kwargs = spec
    gc.collect()
    if device == "cuda":
        th.cuda.reset_peak_memory_stats()
        base = th.cuda.memory_allocated()
    else:
        base = rss_mb()
    model = build(algo, policy, args.env, kwargs, args.batch_size, args.fill, device)
    model.train(gradient_steps=max(args.updates // 2, 2), batch_size=args.batch_size)
    if device == "cuda":
        return (th.cuda.max_memory_allocated() - base) / 2**20
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec.
    return rss_mb("VmHWM") - base


def measure_memory(specs: dict[str, tuple], args, device: str) -> dict[str, float]:
    """Each model in its own fresh process: peaks of one process never hide in another model's."""
    context = mp.get_context("spawn")
    result = {}
    for name, spec in specs.items():
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            result[name] = pool.submit(peak_memory_mb, spec, args, device).result()
    return result


def sync(device: str) -> None:
    if device == "cuda":
        th.cuda.synchronize()


def recipe_specs(args, critic_width: int | None) -> dict[str, tuple]:
    """(algorithm class, policy, policy kwargs, algorithm kwargs) of each --recipe learner at one critic width
    (None: the recipe's)."""
    entry = zoo_entry(args.recipe, args.env)
    policy = get_class_by_name(entry["policy"]) if "." in entry["policy"] else entry["policy"]
    policy_kwargs = dict(entry.get("policy_kwargs") or {})
    if critic_width is not None:
        policy_kwargs["critic_net"] = {**(policy_kwargs.get("critic_net") or {}), "width": critic_width}
    hyperparameters = {k: entry[k] for k in UPDATE_HYPERPARAMETERS if k in entry}
    return {
        name: (algo, policy, {**policy_kwargs, **extra_policy}, {**hyperparameters, **extra_algo})
        for name, (algo, extra_policy, extra_algo) in RECIPE_LEARNERS.items()
        if name in args.learners
    }


def measure_recipe(args, critic_width: int | None, device: str) -> dict:
    """Updates per second of every --recipe learner at one critic width, timed in alternating blocks."""
    specs = recipe_specs(args, critic_width)
    # Compiled code is cached per function across models: the earlier rows' entries would count towards dynamo's
    # recompile limit, past which this row's compiled learners would silently run eager.
    th._dynamo.reset()
    batch_size = specs["sb3"][3].get("batch_size", args.batch_size)
    models = {}
    for name, (algo, policy, policy_kwargs, algo_kwargs) in specs.items():
        kwargs = {k: v for k, v in algo_kwargs.items() if k != "batch_size"}
        models[name] = build(algo, policy, args.env, policy_kwargs, batch_size, args.fill, device, kwargs)
    for model in models.values():  # warm-up, and compilation
        train(model, 3, batch_size)
    seconds = time_blocks(models, args, batch_size, device)
    ups = {name: args.blocks * args.updates / s for name, s in seconds.items()}
    stock_path = max((n for n in ups if n.startswith("sb3")), key=ups.get)  # options off or on
    learner = max((n for n in ups if n.startswith("ours")), key=ups.get, default=None)
    critic_width = models["sb3"].policy.critic_spec.width
    row = dict(recipe=args.recipe, env=args.env, critic_width=critic_width, device=device, batch_size=batch_size)
    row["updates_per_s"] = {name: round(u, 2) for name, u in ups.items()}
    row["vs_sb3"] = {name: round(u / ups["sb3"], 3) for name, u in ups.items()}
    row["fastest_rl_zoo_path"] = stock_path
    row["fastest_learner"] = learner
    return row


def time_blocks(models: dict, args, batch_size: int, device: str) -> dict[str, float]:
    """Seconds each model spent in ``args.blocks`` blocks of ``args.updates`` updates, the models taking turns
    block by block, so that machine noise hits all alike."""
    seconds = dict.fromkeys(models, 0.0)
    clock = time.process_time if args.cpu_time else time.perf_counter
    for _ in range(args.blocks):
        for name, model in models.items():
            sync(device)
            start = clock()
            train(model, args.updates, batch_size)
            sync(device)
            seconds[name] += clock() - start
    return seconds


def measure(args, algo: str, arch: str, width: int, device: str) -> dict:
    specs = model_specs(algo, arch, width, args)
    memory = measure_memory(specs, args, device)
    models = {name: build(a, p, args.env, k, args.batch_size, args.fill, device) for name, (a, p, k) in specs.items()}
    for name, (a, p, k, algo_kwargs) in variant_specs(algo, arch, width, args).items():
        models[name] = build(a, p, args.env, k, args.batch_size, args.fill, device, algo_kwargs)
    for model in models.values():  # warm-up (and compilation, with --compile or compile="update")
        train(model, 3, args.batch_size)
    seconds = time_blocks(models, args, args.batch_size, device)
    n = args.blocks * args.updates
    sb3_ups, ours_ups = n / seconds["sb3"], n / seconds["ours"]
    ours_gflops = flops_per_update(models["ours"], args.batch_size) * ours_ups / 1e9
    row = dict(
        algo=algo,
        arch=arch,
        width=width,
        depth=args.depth,
        device=device,
        sb3_updates_per_s=round(sb3_ups, 2),
        ours_updates_per_s=round(ours_ups, 2),
        speedup=round(ours_ups / sb3_ups, 3),
        ours_gflops=round(ours_gflops, 1),
        peak_gflops=round(args.peak[device], 1),
        peak_fraction=round(ours_gflops / args.peak[device], 3),
        sb3_peak_rss_mb=round(memory["sb3"], 1),
        ours_peak_rss_mb=round(memory["ours"], 1),
    )
    for name in args.variants:
        ups = n / seconds[name]
        row[name] = dict(updates_per_s=round(ups, 2), speedup=round(ups / sb3_ups, 3), vs_ours=round(ups / ours_ups, 3))
    if args.profile:
        row["profile"] = {name: profile(model, args) for name, model in models.items()}
    del models
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


def main(argv=None) -> None:
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
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when present")
    parser.add_argument("--ensemble-critics", action="store_true", help="ours with stacked twin critics")
    parser.add_argument("--compile", action="store_true", help="ours with compile=True")
    parser.add_argument("--cpu-time", action="store_true", help="time with CPU time (a busy machine)")
    parser.add_argument("--variants", nargs="*", default=[], choices=list(VARIANTS), help="more learners per row")
    parser.add_argument("--recipe", choices=SAC_RECIPES, help="time this recipe's network every way instead")
    parser.add_argument("--critic-widths", nargs="+", type=int, help="--recipe: critic widths (default: the recipe's)")
    parser.add_argument("--learners", nargs="+", choices=list(RECIPE_LEARNERS), help="--recipe: default all")
    args = parser.parse_args(argv)
    if args.recipe is None and (args.critic_widths or args.learners):
        parser.error("--critic-widths and --learners time a recipe's learners: give --recipe too")
    print(f"CPU: {cpu_description()}", flush=True)
    if args.recipe is not None:
        recipe_main(args)
        return
    if args.quick:
        args.env, args.widths, args.fill, args.updates, args.blocks = "Pendulum-v1", [64], 300, 5, 2
    args.devices = args.devices or ["cpu", *(["cuda"] if th.cuda.is_available() else [])]
    args.ours_kwargs = dict(ensemble_critics=args.ensemble_critics, compile=args.compile)
    clock = time.process_time if args.cpu_time else time.perf_counter
    args.peak = {d: matmul_peak_gflops(d, seconds=0.5 if args.quick else 2.0, clock=clock) for d in args.devices}
    for device, peak in args.peak.items():
        print(f"float32 matmul peak on {device}: {peak:.1f} GFLOP/s ({th.get_num_threads()} CPU threads)", flush=True)

    rows = []
    for device in args.devices:
        for algo in args.algos:
            for arch in ["mlp", *args.extra_archs]:
                for width in args.widths:
                    rows.append(measure(args, algo, arch, width, device))
                    print(f"{device} {algo} {arch} {width}x{args.depth}: speedup {rows[-1]['speedup']}", flush=True)
    headers = ["device", "algo", "arch", "width", "SB3 upd/s", "ours upd/s", "speedup", "ours GFLOP/s"]
    headers += ["peak fraction", "peak memory MB SB3 / ours"]
    cells = [
        [r["device"], r["algo"], r["arch"], f"{r['width']}x{r['depth']}", r["sb3_updates_per_s"]]
        + [r["ours_updates_per_s"], r["speedup"], r["ours_gflops"], r["peak_fraction"]]
        + [f"{r['sb3_peak_rss_mb']} / {r['ours_peak_rss_mb']}"]
        for r in rows
    ]
    print("\n" + markdown_table(headers, cells))
    if args.variants:
        headers = ["device", "algo", "arch", "width", "learner", "upd/s", "vs SB3", "vs ours (same arch, width)"]
        cells = [
            [r["device"], r["algo"], r["arch"], f"{r['width']}x{r['depth']}", name]
            + [r[name]["updates_per_s"], r[name]["speedup"], r[name]["vs_ours"]]
            for r in rows
            for name in args.variants
        ]
        print("\n" + markdown_table(headers, cells))
    if args.profile:
        headers = ["algo", "arch", "width", "learner", "ms/update (profiled)", *PROFILE_GROUPS, "other"]
        cells = [
            [r["algo"], r["arch"], f"{r['width']}x{r['depth']}", name, p["ms_per_update"]]
            + [f"{p[g]:.0%}" for g in [*PROFILE_GROUPS, "other"]]
            for r in rows
            for name, p in r["profile"].items()
        ]
        print("\n" + markdown_table(headers, cells))
    for r in rows:
        print(json.dumps(r))


def recipe_main(args) -> None:
    """--recipe: one row per critic width, every learner's updates per second and ratio to stock SB3."""
    args.learners = ["sb3", *(name for name in args.learners or RECIPE_LEARNERS if name != "sb3")]
    if args.quick:
        args.env, args.fill, args.updates, args.blocks = "Pendulum-v1", 300, 5, 2
    device = (args.devices or ["cpu"])[0]
    rows = []
    for width in args.critic_widths or [None]:
        rows.append(measure_recipe(args, width, device))
        print(f"{device} {args.recipe} critic {rows[-1]['critic_width']}: {rows[-1]['vs_sb3']}", flush=True)
    headers = ["critic width", "learner", "updates/s", "vs stock SB3 (options off)"]
    cells = [
        [r["critic_width"], name, r["updates_per_s"][name], r["vs_sb3"][name]] for r in rows for name in args.learners
    ]
    print(f"\n{args.recipe} on {args.env} ({device}, {th.get_num_threads()} torch threads)\n")
    print(markdown_table(headers, cells))
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
