"""The command line ``python -m sb3_large.zoo train|enjoy <rl_zoo3 arguments>``: our options, the checks made
before RL Zoo starts, the line naming the learner, then rl_zoo3's own ``train`` / ``enjoy`` inside ``large_zoo``."""

import argparse
import importlib.util
import sys
import textwrap

import yaml

from sb3_large.extras import ZOO as EXTRA
from sb3_large.zoo.launcher import large_zoo

COMMANDS = ("train", "enjoy")
USAGE = f"usage: python -m sb3_large.zoo {{{','.join(COMMANDS)}}} [--search-space key:value ...] [rl_zoo3 arguments]"
ABOUT = {
    "train": "RL Zoo's train (python -m rl_zoo3.train) with sb3_large.SAC / TD3 bound to --algo sac / td3; "
    "-optimize searches the large-network knobs for sac, td3, tqc and crossq.",
    "enjoy": "RL Zoo's enjoy (python -m rl_zoo3.enjoy) with sb3_large.SAC / TD3 bound to --algo sac / td3.",
}


def parse_search_space(pairs: list[str] | None, algo: str):
    """``["widths:[64,512]", "ofenet:[true]"]`` (values in YAML) -> ``SearchSpace`` (``algo``'s defaults for the
    rest), checked for ``algo``; every problem is a ``SystemExit`` naming the field."""
    from sb3_large.zoo.sampler import LargeSampler
    from sb3_large.zoo.space import SearchSpace

    values = {}
    for pair in pairs or []:
        key, sep, text = pair.partition(":")
        if not sep or not key:
            raise SystemExit(f"--search-space: expected key:value, got {pair!r}")
        try:
            values[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SystemExit(f"--search-space: {key}: not valid YAML: {text!r} ({exc})") from None
    try:
        space = SearchSpace.from_kwargs(values, algo)
        LargeSampler(algo, space)
    except (ValueError, TypeError) as exc:
        raise SystemExit(f"--search-space: {exc}") from None
    return space


def _parser(command: str) -> argparse.ArgumentParser:
    """Our options, and the rl_zoo3 ones we read (left in place for rl_zoo3; its help lists them)."""
    from sb3_large.zoo.space import ALGORITHMS, SearchSpace

    parser = argparse.ArgumentParser(
        prog=f"python -m sb3_large.zoo {command}", description=ABOUT[command], add_help=False, allow_abbrev=False
    )
    parser.add_argument("-h", "--help", action="store_true", help="this help, then rl_zoo3's")
    parser.add_argument("--algo", default="ppo", help=argparse.SUPPRESS)  # rl_zoo3's, read here too
    if command == "train":
        parser.add_argument(
            "--search-space",
            nargs="+",
            metavar="KEY:VALUE",
            help=f"with -optimize ({', '.join(ALGORITHMS)}): narrow the search, values in YAML, e.g. "
            f"'widths:[64,512]' 'ofenet:[true]'; keys: {', '.join(SearchSpace.__dataclass_fields__)}. With "
            "--trial-id: give the search's own, whose fixed settings (ofenet_kwargs, obs_norm_kwargs, "
            "q_distribution_kwargs, policy_kwargs) the study does not store "
            "(docs/search.md)",
        )
        parser.add_argument("-optimize", "--optimize-hyperparameters", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("--trial-id", type=int, help=argparse.SUPPRESS)
        parser.add_argument("-tb", "--tensorboard-log", default="", help=argparse.SUPPRESS)
    return parser


def _learner_line(command: str, algo: str) -> str | None:
    """The line that says which learner class ``--algo`` runs (``None`` for a name RL Zoo does not know)."""
    from rl_zoo3.utils import ALGOS

    import sb3_large

    learner = ALGOS.get(algo)
    if learner is None:
        return None
    verb = "trains" if command == "train" else "loads"
    if learner in (sb3_large.SAC, sb3_large.TD3):
        return (
            f"sb3_large.zoo: --algo {algo} {verb} with sb3_large.{learner.__name__} (SB3's {learner.__name__} with "
            "a leaner train(): same hyperparameters and updates; saved models load with stock SB3)"
        )
    return (
        f"sb3_large.zoo: --algo {algo} {verb} with {learner.__module__.split('.')[0]}.{learner.__name__} (RL Zoo's own)"
    )


def _check_train_args(ours: argparse.Namespace) -> None:
    """Refuse, before RL Zoo starts, what would otherwise fail late or be ignored."""
    from sb3_large.zoo.space import searched_algorithm

    if ours.search_space and not ours.optimize_hyperparameters and ours.trial_id is None:
        raise SystemExit(
            "--search-space: only with -optimize (it narrows the hyperparameter search) or --trial-id (the "
            "search's fixed settings for the trial it trains)"
        )
    if ours.optimize_hyperparameters:
        try:
            searched_algorithm(ours.algo)
        except ValueError as exc:
            raise SystemExit(f"-optimize: {exc}") from None
    if ours.optimize_hyperparameters and importlib.util.find_spec("pandas") is None:
        raise SystemExit(f"-optimize: RL Zoo writes its report with pandas, which is not installed; {EXTRA}")
    if ours.tensorboard_log and importlib.util.find_spec("tensorboard") is None:
        raise SystemExit(f"-tb {ours.tensorboard_log}: tensorboard is not installed; {EXTRA}")


def _run_rl_zoo3(command: str, args: list[str]) -> None:
    """Run ``rl_zoo3.train`` or ``rl_zoo3.enjoy``, which read their arguments from ``sys.argv`` (put back after)."""
    from rl_zoo3.enjoy import enjoy
    from rl_zoo3.train import train

    saved, sys.argv = sys.argv, [f"rl_zoo3.{command}", *args]
    try:
        if command == "train":
            train()
        else:
            enjoy()
    finally:
        sys.argv = saved


def _help() -> str:
    """The launcher's own help: its commands, what each does, where each one's options are listed."""
    commands = "".join(
        textwrap.fill(ABOUT[command], 100, initial_indent=f"  {command:<7}", subsequent_indent=" " * 9) + "\n"
        for command in COMMANDS
    )
    return (
        f"{USAGE}\n\nRL Zoo with sb3_large's fast learners: rl_zoo3's commands, with the same arguments, YAMLs and "
        f"log folders.\n\ncommands:\n{commands}\n"
        "python -m sb3_large.zoo <command> -h lists that command's options, then rl_zoo3's (all taken here)."
    )


def _train(ours: argparse.Namespace, args: list[str]) -> None:
    """``train``: our checks, the search space, then rl_zoo3's train without ``--search-space`` (ours alone)."""
    _check_train_args(ours)
    searches = ours.optimize_hyperparameters or ours.search_space
    search_space = parse_search_space(ours.search_space, ours.algo) if searches else None
    search_space_only = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    search_space_only.add_argument("--search-space", nargs="+")
    _, rest = search_space_only.parse_known_args(args)
    _run_large("train", ours.algo, rest, search_space)


def _run_large(command: str, algo: str, args: list[str], search_space=None) -> None:
    """rl_zoo3's ``command`` inside ``large_zoo``, after the line that names the learner it runs."""
    with large_zoo(search_space):
        if line := _learner_line(command, algo):
            print(line)
        _run_rl_zoo3(command, args)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(_help())
        return
    if not argv or argv[0] not in COMMANDS:
        given = f"unknown command {argv[0]!r}" if argv else "no command given"
        raise SystemExit(
            f"{USAGE}\npython -m sb3_large.zoo: error: {given}; allowed: {', '.join(COMMANDS)} "
            "(python -m sb3_large.zoo -h for help)"
        )
    command = argv[0]
    parser = _parser(command)
    ours, _ = parser.parse_known_args(argv[1:])
    if ours.help:
        parser.print_help()
        print(f"\nrl_zoo3 {command}'s options (all taken here):\n")
        _run_rl_zoo3(command, ["-h"])
    elif command == "enjoy":
        _run_large(command, ours.algo, argv[1:])
    else:
        _train(ours, argv[1:])


__all__ = ["COMMANDS", "USAGE", "main", "parse_search_space"]
