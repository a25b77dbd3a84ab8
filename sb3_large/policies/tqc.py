"""The class path that models saved by sb3-large 0.1 name.

``sb3_large.policies.tqc.LargeTQCPolicy`` is the same policy with 0.1's defaults
(the paper's DenseNet 2048 x 2), so that such models, saved with only the options their user gave, load and
act as before. New code uses ``sb3_large.policies.LargeTQCPolicy``, whose defaults are the recommended body.
"""

from sb3_large.policies.options import PAPER
from sb3_large.policies.tqc_policy import LargeTQCPolicy as _LargeTQCPolicy


class LargeTQCPolicy(_LargeTQCPolicy):
    """``sb3_large.policies.LargeTQCPolicy`` with sb3-large 0.1's defaults."""

    option_defaults = PAPER
