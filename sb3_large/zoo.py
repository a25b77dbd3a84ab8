"""RL Zoo with the fast learners: ``python -m sb3_large.zoo train|enjoy <rl_zoo3 arguments>``.

Stock ``rl_zoo3`` with its ``sac`` and ``td3`` entries bound to ``sb3_large.SAC`` / ``sb3_large.TD3``, so YAMLs,
flags and log folders stay the same; models it saves also load with stock ``rl_zoo3.enjoy`` and SB3.
``train -optimize`` searches the large-network space too (``sb3_large.zoo_search``); ``--search-space key:value``
narrows it.
"""

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import yaml

COMMANDS = ("train", "enjoy")


def use_fast_learners() -> None:
    """Bind RL Zoo's ``sac`` and ``td3`` to the fast learners (the dict every rl_zoo3 module reads)."""
    from rl_zoo3.utils import ALGOS

    import sb3_large

    ALGOS["sac"], ALGOS["td3"] = sb3_large.SAC, sb3_large.TD3


@contextmanager
def large_zoo(search_space=None) -> Iterator[None]:
    """Inside the block, rl_zoo3's ``sac``/``td3`` are the fast learners and ``rl_zoo3.train`` runs
    ``LargeExperimentManager`` with ``search_space``; everything is put back on exit."""
    import functools

    import rl_zoo3.train
    from rl_zoo3.utils import ALGOS

    from sb3_large.zoo_search import LargeExperimentManager

    saved = ALGOS["sac"], ALGOS["td3"], rl_zoo3.train.ExperimentManager
    use_fast_learners()
    rl_zoo3.train.ExperimentManager = functools.partial(LargeExperimentManager, search_space=search_space)
    try:
        yield
    finally:
        ALGOS["sac"], ALGOS["td3"], rl_zoo3.train.ExperimentManager = saved


def parse_search_space(pairs: list[str] | None):
    """``["widths:[64,512]", "ofenet:[true]"]`` (values in YAML) -> ``SearchSpace``."""
    from sb3_large.zoo_search import SearchSpace

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
        return SearchSpace.from_kwargs(values)
    except ValueError as exc:
        raise SystemExit(f"--search-space: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        raise SystemExit(
            f"usage: python -m sb3_large.zoo {{{','.join(COMMANDS)}}} [--search-space key:value ...] "
            "[rl_zoo3 arguments]"
        )
    command = argv[0]
    if command == "enjoy":
        use_fast_learners()
        sys.argv = ["rl_zoo3.enjoy", *argv[1:]]
        from rl_zoo3.enjoy import enjoy

        enjoy()
        return
    parser = argparse.ArgumentParser(prog="python -m sb3_large.zoo train", add_help=False, allow_abbrev=False)
    parser.add_argument("--search-space", nargs="+", metavar="KEY:VALUE")
    ours, rest = parser.parse_known_args(argv[1:])
    search_space = parse_search_space(ours.search_space)
    sys.argv = ["rl_zoo3.train", *rest]
    from rl_zoo3.train import train

    with large_zoo(search_space):
        train()


if __name__ == "__main__":
    main()
