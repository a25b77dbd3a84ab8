"""The pip extras that messages name when an optional module is missing (kept light: no imports)."""

# RL Zoo's report, plots and videos, tensorboard, matplotlib: what the zoo and plot commands name.
ZOO = "pip install 'sb3-large[zoo]'"

__all__ = ["ZOO"]
