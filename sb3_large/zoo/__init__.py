"""RL Zoo with the fast learners: ``python -m sb3_large.zoo train|enjoy <rl_zoo3 arguments>``.

Stock ``rl_zoo3`` with its ``sac`` and ``td3`` entries bound to ``sb3_large.SAC`` / ``sb3_large.TD3``, so YAMLs,
flags and log folders stay the same; models it saves also load with stock ``rl_zoo3.enjoy`` and SB3. It prints
one line naming the learner class it runs. ``train -optimize`` searches the large-network space for SAC, TD3,
TQC and CrossQ; ``--search-space key:value`` narrows it.

- ``cli``: the command line (our options, the checks made before RL Zoo starts)
- ``launcher``: ``large_zoo`` (RL Zoo bound to the fast learners) and the YAML guard ``RequiresLauncher``
- ``space``: what a search samples (``SearchSpace``, per-algorithm settings in ``ALGORITHMS``)
- ``sampler``: ``LargeSampler``, the trials' draws and their hyperparameters
- ``callbacks``: the callbacks a trial's policy needs, and the ``Optional*`` ones a search shares
- ``entries``: the best trial as a YAML entry
- ``manager``: ``LargeExperimentManager``, RL Zoo's experiment manager with all of that

Importing this package loads no RL Zoo or Optuna (YAML entries name ``sb3_large.zoo.RequiresLauncher``); the
commands import them when they run.
"""

from sb3_large.zoo.cli import main, parse_search_space
from sb3_large.zoo.launcher import RequiresLauncher, large_zoo, use_fast_learners

__all__ = ["RequiresLauncher", "large_zoo", "main", "parse_search_space", "use_fast_learners"]
