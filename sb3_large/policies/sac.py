"""The class path that models saved by sb3-large 0.1 name.

``sb3_large.policies.sac.LargeSACPolicy`` is the same policy with 0.1's defaults
(the paper's DenseNet 2048 x 2), so that such models, saved with only the options their user gave, load and
act as before. New code uses ``sb3_large.policies.LargeSACPolicy``, whose defaults are the recommended body.
"""

from sb3_large.policies.options import PAPER
from sb3_large.policies.sac_policy import LargeSACPolicy as _LargeSACPolicy


class LargeSACPolicy(_LargeSACPolicy):
    """``sb3_large.policies.LargeSACPolicy`` with sb3-large 0.1's defaults."""

    option_defaults = PAPER
