"""The class path that models saved by sb3-large 0.1 name.

``sb3_large.policies.td3.LargeTD3Policy`` is the same policy with 0.1's defaults
(the paper's DenseNet 2048 x 2), so that such models, saved with only the options their user gave, load and
act as before. New code uses ``sb3_large.policies.LargeTD3Policy``, whose defaults are the recommended body.
"""

from sb3_large.policies.options import PAPER
from sb3_large.policies.td3_policy import LargeTD3Policy as _LargeTD3Policy


class LargeTD3Policy(_LargeTD3Policy):
    """``sb3_large.policies.LargeTD3Policy`` with sb3-large 0.1's defaults."""

    option_defaults = PAPER
