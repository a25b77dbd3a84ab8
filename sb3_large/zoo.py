"""RL Zoo with the fast learners: ``python -m sb3_large.zoo train|enjoy <rl_zoo3 arguments>``.

Stock ``rl_zoo3`` with its ``sac`` and ``td3`` entries bound to ``sb3_large.SAC`` / ``sb3_large.TD3``, so YAMLs,
flags and log folders stay the same; models it saves also load with stock ``rl_zoo3.enjoy`` and SB3.
"""

import sys

COMMANDS = ("train", "enjoy")


def use_fast_learners() -> None:
    """Bind RL Zoo's ``sac`` and ``td3`` to the fast learners (the dict every rl_zoo3 module reads)."""
    from rl_zoo3.utils import ALGOS

    import sb3_large

    ALGOS["sac"], ALGOS["td3"] = sb3_large.SAC, sb3_large.TD3


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        raise SystemExit(f"usage: python -m sb3_large.zoo {{{','.join(COMMANDS)}}} [rl_zoo3 arguments]")
    use_fast_learners()
    command, sys.argv = argv[0], [f"rl_zoo3.{argv[0]}", *argv[1:]]
    if command == "train":
        from rl_zoo3.train import train

        train()
    else:
        from rl_zoo3.enjoy import enjoy

        enjoy()


if __name__ == "__main__":
    main()
