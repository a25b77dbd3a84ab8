"""Why does (or does not) a wider critic pay? Fit critics of several widths offline on one saved replay buffer.

Every width fits the same data the same way: SARSA-style TD learning of the behaviour data's Q value (the next
action is the one the buffer took next), a target network (polyak ``tau``), Adam, observations standardized by the
buffer's own statistics. What is compared, on held-out episodes:

- **Q error against Monte-Carlo returns**: the discounted return each state-action pair actually got in its
  episode, the target TD learning approximates; reported as the mean squared error over the returns' variance
  (``nmse``: 0 is perfect, 1 is no better than predicting the mean) and the mean signed error (over- or
  under-estimation, in return units). Steps too close to a truncation, whose Monte-Carlo return is cut short, are
  left out;
- the TD loss on the training episodes (how well each width fits what it is trained on);
- the representation before the output layer: effective rank (``srank``) and the fraction of dormant units
  (``sb3_large.diagnostics``).

``--lr-scaling inverse`` gives each width the learning rate ``--lr x first width / width`` (the first of
``--widths`` keeps ``--lr``): Adam moves every weight by about the learning rate per step, so a layer twice as wide
moves its output about twice as far; this keeps that move the same at every width. Each row records its ``lr``.

Input: a ``returns.py`` checkpoint (``--checkpoint``; it holds the job's replay buffer), which is a pickle:
read only checkpoints this script's own harness wrote.

    python benchmarks/critic_fit.py --checkpoint benchmarks/results/ant-v4-100k-crossq-large/checkpoints/x.ckpt \
        --widths 256 512 1024 --updates 20000 --out benchmarks/results/ant-v4-100k-critic-fit
"""

import argparse
import csv
import pickle
import resource
import time
from pathlib import Path

import numpy as np
import torch as th
from torch import nn

from sb3_large import NetSpec, build
from sb3_large.diagnostics import dormant_fraction, srank


def read_buffer(checkpoint: Path) -> dict[str, np.ndarray]:
    """The transitions of a ``returns.py`` checkpoint's replay buffer, in the order they were stored (one env)."""
    with open(checkpoint, "rb") as handle:
        pickle.load(handle)  # the header: evaluations so far
        payload = pickle.load(handle)
    buffer = pickle.loads(payload["replay_buffer"])
    size = buffer.buffer_size if buffer.full else buffer.pos
    if buffer.full:
        raise ValueError(f"{checkpoint}: the buffer wrapped around; its oldest episodes are cut")
    data = {name: getattr(buffer, name)[:size, 0] for name in ("observations", "actions", "rewards", "dones")}
    data["next_observations"] = buffer.next_observations[:size, 0]
    data["timeouts"] = buffer.timeouts[:size, 0]
    return {name: np.asarray(values, dtype=np.float32) for name, values in data.items()}


def episodes(dones: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each episode; the last one may be unfinished."""
    ends = list(np.flatnonzero(dones) + 1)
    if not ends or ends[-1] != len(dones):
        ends.append(len(dones))
    return list(zip([0, *ends[:-1]], ends, strict=True))


def monte_carlo(data: dict[str, np.ndarray], gamma: float, cut: int) -> tuple[np.ndarray, np.ndarray]:
    """Each step's discounted return within its episode, and whether it is exact enough to score: the episode
    terminated, or the step lies at least ``cut`` steps before the episode was truncated (``gamma ** cut`` of the
    return missing at most)."""
    returns = np.zeros_like(data["rewards"])
    scored = np.zeros(len(returns), dtype=bool)
    for start, end in episodes(data["dones"]):
        running = 0.0
        for t in range(end - 1, start - 1, -1):
            running = data["rewards"][t] + gamma * running
            returns[t] = running
        terminated = data["dones"][end - 1] > 0 and data["timeouts"][end - 1] == 0
        scored[start:end] = True if terminated else np.arange(start, end) < end - cut
    return returns, scored


class Critic(nn.Module):
    """A Q network as the recipes build it: a LayerNorm MLP body on ``concat(obs, action)``, a linear output."""

    def __init__(self, in_dim: int, width: int, depth: int):
        super().__init__()
        self.body, body_dim = build(NetSpec(arch="mlp", width=width, depth=depth, norm="layer"), in_dim)
        self.head = nn.Linear(body_dim, 1)

    def forward(self, x: th.Tensor) -> th.Tensor:
        return self.head(self.body(x)).squeeze(-1)


def representation(critic: Critic, x: th.Tensor) -> tuple[int, float]:
    """Effective rank of the features before the output layer, and the fraction of dormant ReLU units."""
    activations: list[th.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: activations.append(out))
        for m in critic.body.modules()
        if isinstance(m, nn.ReLU)
    ]
    with th.no_grad():
        features = critic.body(x)
    for hook in hooks:
        hook.remove()
    return srank(features), dormant_fraction(activations)


def learning_rate(width: int, args) -> float:
    return args.lr * args.widths[0] / width if args.lr_scaling == "inverse" else args.lr


def fit(width: int, args, train: dict[str, th.Tensor], test: dict[str, th.Tensor], seed: int) -> list[dict]:
    th.manual_seed(seed)
    rng = np.random.default_rng(seed)
    in_dim = train["x"].shape[1]
    critic, target = Critic(in_dim, width, args.depth), Critic(in_dim, width, args.depth)
    target.load_state_dict(critic.state_dict())
    lr = learning_rate(width, args)
    optimizer = th.optim.Adam(critic.parameters(), lr=lr)
    rows, start = [], time.process_time()
    n = len(train["x"])
    for update in range(1, args.updates + 1):
        idx = th.as_tensor(rng.integers(0, n, args.batch))
        with th.no_grad():
            next_q = target(train["next_x"][idx])
            td_target = train["r"][idx] + args.gamma * train["bootstrap"][idx] * next_q
        loss = ((critic(train["x"][idx]) - td_target) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with th.no_grad():
            for p, tp in zip(critic.parameters(), target.parameters(), strict=True):
                tp.lerp_(p, args.tau)
        if update % args.every == 0:
            rows.append(evaluate(critic, width, lr, seed, update, loss.item(), test, start))
            print(rows[-1], flush=True)
    return rows


def evaluate(critic: Critic, width: int, lr: float, seed: int, update: int, loss: float, test, start: float) -> dict:
    with th.no_grad():
        q = critic(test["x"])
    error = q - test["g"]
    rank, dormant = representation(critic, test["x"][:2048])
    return dict(
        width=width,
        lr=lr,
        seed=seed,
        update=update,
        train_td_loss=round(loss, 5),
        nmse=round(float((error**2).mean() / test["g"].var()), 4),
        bias=round(float(error.mean()), 3),
        srank=rank,
        dormant=round(dormant, 4),
        cpu_seconds=round(time.process_time() - start, 1),
    )


def tensors(data: dict[str, np.ndarray], keep: np.ndarray, mean, std, returns, scored) -> dict:
    """The TD inputs of the transitions in ``keep`` whose next action is known (not an episode's last step)."""
    x = np.concatenate([(data["observations"] - mean) / std, data["actions"]], axis=1)
    next_x = np.roll(x, -1, axis=0)
    next_x[:, : x.shape[1] - data["actions"].shape[1]] = (data["next_observations"] - mean) / std
    last = data["dones"] > 0
    terminated = last & (data["timeouts"] == 0)
    # The next action of an episode's last step is unknown: a terminal step needs none, a truncated one is dropped.
    usable = keep & (~last | terminated)
    usable[-1] = usable[-1] and bool(terminated[-1])
    return dict(
        x=th.as_tensor(x[usable]),
        next_x=th.as_tensor(next_x[usable]),
        r=th.as_tensor(data["rewards"][usable]),
        bootstrap=th.as_tensor((1.0 - terminated[usable]).astype(np.float32)),
        test_x=th.as_tensor(x[keep & scored]),
        g=th.as_tensor(returns[keep & scored]),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--updates", type=int, default=20000)
    parser.add_argument("--every", type=int, default=2000, help="updates between measurements")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument(
        "--lr-scaling",
        choices=["none", "inverse"],
        default="none",
        help="inverse: each width's learning rate is --lr x (first width / width)",
    )
    parser.add_argument("--tau", type=float, default=0.005)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--cut", type=int, default=300, help="steps before a truncation left out of the scoring")
    parser.add_argument("--held-out", type=float, default=0.1, help="fraction of episodes held out")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    data = read_buffer(args.checkpoint)
    returns, scored = monte_carlo(data, args.gamma, args.cut)
    bounds = episodes(data["dones"])
    held = np.random.default_rng(0).random(len(bounds)) < args.held_out
    test_mask = np.zeros(len(returns), dtype=bool)
    for (start, end), is_test in zip(bounds, held, strict=True):
        test_mask[start:end] = is_test
    mean, std = data["observations"][~test_mask].mean(0), data["observations"][~test_mask].std(0) + 1e-8
    train = tensors(data, ~test_mask, mean, std, returns, scored)
    test_all = tensors(data, test_mask, mean, std, returns, scored)
    test = dict(x=test_all["test_x"], g=test_all["g"])
    if not len(test["g"]):
        raise SystemExit("no held-out step to score: lower --cut or raise --held-out")
    print(
        f"{len(returns)} transitions, {len(bounds)} episodes ({int(held.sum())} held out, {len(test['g'])} scored "
        f"steps); Monte-Carlo returns of the held-out steps: mean {test['g'].mean():.1f}, std {test['g'].std():.1f}"
    )
    rows = [row for seed in range(args.seeds) for width in args.widths for row in fit(width, args, train, test, seed)]
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "critic_fit.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"wrote {args.out / 'critic_fit.csv'} (peak memory {peak} MiB)")


if __name__ == "__main__":
    main()
