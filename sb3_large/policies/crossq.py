"""The class path that models saved by sb3-large 0.1 name.

``sb3_large.policies.crossq.LargeCrossQPolicy`` is the same policy with 0.1's defaults
(the paper's DenseNet 2048 x 2), so that such models, saved with only the options their user gave, load and
act as before. New code uses ``sb3_large.policies.LargeCrossQPolicy``, whose defaults are the recommended body.
"""

import dataclasses

from sb3_large.policies.crossq_policy import LargeCrossQPolicy as _LargeCrossQPolicy
from sb3_large.policies.options import PAPER

# CrossQ's networks were the paper's bodies, batch renormalized.
V0_1_CROSSQ = dataclasses.replace(PAPER, norm="batch_renorm")


class LargeCrossQPolicy(_LargeCrossQPolicy):
    """``sb3_large.policies.LargeCrossQPolicy`` with sb3-large 0.1's defaults."""

    option_defaults = V0_1_CROSSQ
