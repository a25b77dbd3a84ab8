"""Old dotted paths in saved YAML files: the search's names where earlier versions had them.

The search now lives in ``sb3_large.zoo`` (``space``, ``sampler``, ``callbacks``, ``entries``, ``manager``). YAML
entries that earlier searches wrote name ``sb3_large.zoo_search.OptionalOFENetTrainer`` and
``sb3_large.zoo_search.OptionalObsNormUpdater`` in their ``callback`` lists; they, and user code importing the
public names below from here, keep working. New entries name ``sb3_large.zoo.callbacks.*``.
"""

from sb3_large.zoo.callbacks import OptionalObsNormUpdater, OptionalOFENetTrainer
from sb3_large.zoo.entries import dump_entry, merge_entry
from sb3_large.zoo.manager import LargeExperimentManager
from sb3_large.zoo.sampler import LargeSampler
from sb3_large.zoo.space import ALGORITHMS, SearchedAlgorithm, SearchSpace

__all__ = [
    "ALGORITHMS",
    "LargeExperimentManager",
    "LargeSampler",
    "OptionalOFENetTrainer",
    "OptionalObsNormUpdater",
    "SearchSpace",
    "SearchedAlgorithm",
    "dump_entry",
    "merge_entry",
]
