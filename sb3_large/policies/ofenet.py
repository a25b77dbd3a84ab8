"""SAC/TD3 policies on OFENet features: the actor reads ``z_s``, the critics read ``z_sa``.

They are the large policies with the paper's defaults: DenseNet 2048 x 2 bodies over an OFENet
(``ofenet_kwargs={}``: the original settings). The OFENet is ``policy.ofenet``, trained by
``sb3_large.ofenet.OFENetTrainer``.
"""

from typing import Any

from sb3_large.policies.options import PAPER
from sb3_large.policies.sac_policy import LargeSACPolicy
from sb3_large.policies.td3_policy import LargeTD3Policy


def _with_ofenet(kwargs: dict[str, Any]) -> dict[str, Any]:
    if kwargs.get("ofenet_kwargs") is None and kwargs.get("ofenet") is None:
        kwargs.pop("ofenet", None)
        kwargs["ofenet_kwargs"] = {}
    return kwargs


class OFENetSACPolicy(LargeSACPolicy):
    """SAC policy: large actor on ``z_s``, large twin critics on ``z_sa`` (see ``LargePolicyMixin``)."""

    option_defaults = PAPER

    def __init__(self, observation_space, action_space, lr_schedule, **kwargs: Any):
        super().__init__(observation_space, action_space, lr_schedule, **_with_ofenet(kwargs))


class OFENetTD3Policy(LargeTD3Policy):
    """TD3 policy: large actor on ``z_s``, large twin critics on ``z_sa`` (see ``LargePolicyMixin``)."""

    option_defaults = PAPER

    def __init__(self, observation_space, action_space, lr_schedule, **kwargs: Any):
        super().__init__(observation_space, action_space, lr_schedule, **_with_ofenet(kwargs))
