"""Large-network policy for SAC: SB3's actor with our body as ``latent_pi``, our Q critics."""

from typing import Any

import torch as th
from stable_baselines3.common.type_aliases import PyTorchObs
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN, Actor, SACPolicy

from sb3_large.checks import check_choice
from sb3_large.networks import NetSpec, build
from sb3_large.policies.common import LargePolicyMixin
from sb3_large.precision import PRECISIONS, full_precision, low_precision


class LargeSACActor(Actor):
    """SB3's SAC actor (``latent_pi -> mu, log_std``, gSDE) whose ``latent_pi`` is a large body.

    SB3 is given ``net_arch=[]`` and the body's output width, so it builds only the heads, sized for the body,
    and an empty ``latent_pi``, the slot the body takes. TQC's actor has the same structure and uses this class.
    ``precision="bf16"`` runs the body under bfloat16 autocast (``sb3_large.precision``).
    """

    def __init__(self, *, body: NetSpec, features_dim: int, precision: str = "fp32", **kwargs):
        latent_pi, latent_dim = build(body, features_dim)
        super().__init__(features_dim=latent_dim, **kwargs)
        self.latent_pi = latent_pi  # type: ignore[assignment]
        self.features_dim, self.body = features_dim, body  # saved parameters describe the input, not the body
        self.precision = check_choice("precision", precision, PRECISIONS)

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, dict[str, th.Tensor]]:
        return self.dist_params(self.extract_features(obs, self.features_extractor))

    def dist_params(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor, dict[str, th.Tensor]]:
        """Mean, log-std (or gSDE's) and extra kwargs of the action distribution, from extracted features.

        Under autocast (the policy's or the learners' ``precision="bf16"``) only the body runs in low precision:
        the heads run in float32, as the squashed Gaussian's log-probabilities need.
        """
        with low_precision(features.device.type, self.precision):
            latent_pi = self.latent_pi(features)
        with full_precision(latent_pi.device.type):
            latent_pi = latent_pi.float()
            mean_actions = self.mu(latent_pi)
            if self.use_sde:
                return mean_actions, self.log_std, dict(latent_sde=latent_pi)
            log_std = th.clamp(self.log_std(latent_pi), LOG_STD_MIN, LOG_STD_MAX)  # type: ignore[operator]
        return mean_actions, log_std, {}

    def action_log_prob(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        return self.action_log_prob_of_features(self.extract_features(obs, self.features_extractor))

    def action_log_prob_of_features(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """``action_log_prob`` from features already extracted (OFENet's ``z_s``, computed once per update)."""
        mean_actions, log_std, kwargs = self.dist_params(features)
        with full_precision(mean_actions.device.type):
            return self.action_dist.log_prob_from_params(mean_actions, log_std, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "body": self.body, "precision": self.precision}


class LargeSACPolicy(LargePolicyMixin, SACPolicy):
    """SAC policy whose actor and twin critics are large bodies (see ``LargePolicyMixin`` for the options)."""

    actor_class = LargeSACActor
