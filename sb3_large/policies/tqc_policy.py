"""Large-network policy for TQC (sb3-contrib): SAC's actor structure, quantile critics."""

import torch as th
from sb3_contrib.tqc.policies import TQCPolicy

from sb3_large.checks import check_int
from sb3_large.policies.common import LargeCritic, LargePolicyMixin
from sb3_large.policies.sac_policy import LargeSACActor


class LargeTQCCritic(LargeCritic):
    """TQC's quantile critics: each Q network a large body with ``n_quantiles`` outputs.

    ``forward`` returns ``(batch, n_critics, n_quantiles)``, as sb3-contrib's critic does.
    """

    def __init__(self, *, n_quantiles: int = 25, **kwargs):
        if kwargs.get("q_distribution") is not None:
            raise ValueError("q_distribution: TQC's critics are quantile critics already; allowed for TQC: None")
        n_quantiles = check_int("n_quantiles", n_quantiles)
        super().__init__(out_dim=n_quantiles, **kwargs)
        self.n_quantiles = n_quantiles
        self.quantiles_total = n_quantiles * self.n_critics

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:  # type: ignore[override]
        return th.stack(super().forward(obs, actions), dim=1)


class LargeTQCPolicy(LargePolicyMixin, TQCPolicy):
    """TQC policy whose actor and quantile critics are large bodies (see ``LargePolicyMixin`` for the options)."""

    actor_class = LargeSACActor
    critic_class = LargeTQCCritic
