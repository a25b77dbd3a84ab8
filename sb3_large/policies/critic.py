"""The Q critics of every large policy: ``n_critics`` large bodies, separate or stacked, scalar or categorical."""

from typing import cast

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from sb3_large.checks import check_choice
from sb3_large.networks import NetSpec, build
from sb3_large.networks.distributional import QDistribution, QDistributionConfig
from sb3_large.networks.ensemble import (
    EnsembleMember,
    NotStackable,
    QEnsemble,
    convert_optimizer_state,
    stack_state_dict,
)
from sb3_large.networks.layers import Float32Linear
from sb3_large.ofenet import OFENet
from sb3_large.precision import PRECISIONS, low_precision

# Key of the critic form (stacked or separate, number of critics) in the critic optimizer's state dict.
OPTIMIZER_LAYOUT = "sb3_large_critic_layout"


class LargeCritic(BaseModel):
    """``n_critics`` Q networks, each a large body with a linear output of ``out_dim``.

    The Q networks read ``concat(features, action)``, or OFENet's ``z_sa`` when an ``ofenet`` is given
    (called, not owned: the policy owns it). The input is computed once for all Q networks. With a
    ``q_distribution``, each Q network outputs logits over its bins (``logits``), and ``forward`` their
    expectation, so SB3's code that reads Q values works unchanged. With
    ``ensemble=True`` the Q networks are built as separate networks, then stacked into one ``QEnsemble``
    (``sb3_large.networks.ensemble``): same initial weights and math, one batched matmul per layer; a body with
    a layer that has no stacked version stays separate. Saved state dicts of either form load into both.
    With ``precision="bf16"`` the Q networks' bodies run under bfloat16 autocast; their output layers (Q values,
    logits) compute in float32 (``Float32Linear``), under any autocast.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        body: NetSpec,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = True,
        out_dim: int = 1,
        ensemble: bool = False,
        ofenet: OFENet | None = None,
        q_distribution: QDistributionConfig | None = None,
        precision: str = "fp32",
    ):
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        self.precision = check_choice("precision", precision, PRECISIONS)
        self.distribution = None if q_distribution is None else QDistribution(q_distribution)
        if q_distribution is not None:
            out_dim = q_distribution.bins
        self.share_features_extractor = share_features_extractor
        self.n_critics = n_critics
        self.state_action_features = None if ofenet is None else ofenet.state_action_features
        in_dim = features_dim + get_action_dim(action_space) if ofenet is None else ofenet.state_action_dim
        self.q_networks: list[nn.Module] = []
        for idx in range(n_critics):
            q_body, body_dim = build(body, in_dim)
            q_net = nn.Sequential(q_body, Float32Linear(body_dim, out_dim))
            self.add_module(f"qf{idx}", q_net)
            self.q_networks.append(q_net)
        self.q_ensemble: QEnsemble | None = None
        if ensemble:
            try:
                self.q_ensemble = QEnsemble(self.q_networks)
            except NotStackable:
                pass
        if self.q_ensemble is not None:
            for idx in range(n_critics):
                delattr(self, f"qf{idx}")
            self.q_networks = [EnsembleMember(self.q_ensemble, idx) for idx in range(n_critics)]
        self._register_load_state_dict_pre_hook(self._convert_state_dict)

    def _convert_state_dict(self, state_dict, prefix, *_args) -> None:
        members = [f"{prefix}qf{idx}." for idx in range(self.n_critics)]
        stacked = f"{prefix}q_ensemble.net."
        if self.q_ensemble is not None and any(k.startswith(members[0]) for k in state_dict):
            stack_state_dict(state_dict, members, stacked)
        elif self.q_ensemble is None and any(k.startswith(stacked) for k in state_dict):
            for key in [k for k in state_dict if k.startswith(stacked)]:
                value = state_dict.pop(key)
                for idx, member in enumerate(members):
                    state_dict[member + key[len(stacked) :]] = value if value.dim() == 0 else value[idx]

    def record_optimizer_layout(self, optimizer: th.optim.Optimizer, state_dict: dict) -> dict:
        """Optimizer state-dict post hook: say which critic form the saved state is laid out for."""
        state_dict[OPTIMIZER_LAYOUT] = {"stacked": self.q_ensemble is not None, "n_critics": self.n_critics}
        return state_dict

    def convert_optimizer_state(self, optimizer: th.optim.Optimizer, state_dict: dict) -> dict:
        """Optimizer pre-load hook: a state saved with the other critic form, rewritten for this one."""
        stacked = self.q_ensemble is not None
        n_stacked = len(list((self.q_ensemble or self.q_networks[0]).parameters()))
        n_leading = len(optimizer.param_groups[0]["params"]) - n_stacked * (1 if stacked else self.n_critics)
        layout = state_dict.pop(OPTIMIZER_LAYOUT, None)
        saved_stacked = self._saved_stacked(state_dict, n_leading) if layout is None else layout["stacked"]
        if saved_stacked == stacked:
            return state_dict
        return convert_optimizer_state(state_dict, self.n_critics, n_leading, n_stacked, stacked)

    def _saved_stacked(self, state_dict: dict, n_leading: int) -> bool:
        """For files that predate the recorded layout (sb3-large 0.1): read it from the saved moments' shapes.

        A stacked member parameter has one more dimension than a separate one (with one critic, the counts of
        the two forms are equal, and only the shapes tell them apart).
        """
        first = next(iter((self.q_ensemble or self.q_networks[0]).parameters()))
        separate_dim = first.dim() - (1 if self.q_ensemble is not None else 0)
        saved_id = state_dict["param_groups"][0]["params"][n_leading]
        moments = [v for v in state_dict["state"].get(saved_id, {}).values() if th.is_tensor(v) and v.dim() > 0]
        if not moments:  # nothing to convert: no step taken yet
            return self.q_ensemble is not None
        return moments[0].dim() == separate_dim + 1

    def q_input(self, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
        if self.state_action_features is not None:
            return self.state_action_features(features, actions)
        return th.cat([features, actions], dim=1)

    def q_outputs(self, obs: th.Tensor, actions: th.Tensor, grad_features: bool) -> tuple[th.Tensor, ...]:
        """Each Q network's raw output: ``(batch, out_dim)``, logits with a ``q_distribution``."""
        with th.set_grad_enabled(grad_features and th.is_grad_enabled()):
            features = self.extract_features(obs, self.features_extractor)  # type: ignore[arg-type]
        return self.q_heads(self.q_input(features, actions))

    def q_heads(self, q_input: th.Tensor) -> tuple[th.Tensor, ...]:
        """Every Q network's raw output on its input (``q_input``'s result), e.g. on OFENet features computed once
        per update; ``q_values_of`` turns them into Q values."""
        with low_precision(q_input.device.type, self.precision):
            if self.q_ensemble is not None:
                return tuple(self.q_ensemble(q_input).unbind(0))
            return tuple(q_net(q_input) for q_net in self.q_networks)

    def q_bodies(self) -> list[nn.Module]:
        """The Q networks' bodies, without their output layers: the stacked one, or one per Q network."""
        # Each Q network (stacked or not) is nn.Sequential(body, output layer).
        if self.q_ensemble is not None:
            return [cast(nn.Sequential, self.q_ensemble.net)[0]]
        return [cast(nn.Sequential, q_net)[0] for q_net in self.q_networks]

    def q_values_of(self, outputs: tuple[th.Tensor, ...]) -> tuple[th.Tensor, ...]:
        """Q values ``(batch, 1)`` of the Q networks' raw outputs (``q_heads``): with a ``q_distribution`` their
        expectations, else the outputs themselves."""
        if self.distribution is None:
            return outputs
        return tuple(self.distribution.expectation(logits) for logits in outputs)

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        # As in SB3: a features extractor shared with the actor is trained by the actor loss only.
        return self.q_values_of(self.q_outputs(obs, actions, grad_features=not self.share_features_extractor))

    def logits(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        """Each Q network's logits over the bins of its ``q_distribution`` (what its loss is taken on)."""
        if self.distribution is None:
            raise RuntimeError("logits: this critic has no q_distribution; its forward() returns Q values")
        return self.q_outputs(obs, actions, grad_features=not self.share_features_extractor)

    def q1_forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        with th.no_grad():
            features = self.extract_features(obs, self.features_extractor)  # type: ignore[arg-type]
        return self.q1_head(self.q_input(features, actions))

    def q1_head(self, q_input: th.Tensor) -> th.Tensor:
        """The first Q network's Q value alone on its input (TD3's actor loss)."""
        with low_precision(q_input.device.type, self.precision):
            if self.q_ensemble is not None:
                output = self.q_ensemble(q_input, members=slice(0, 1))[0]
            else:
                output = self.q_networks[0](q_input)
        return output if self.distribution is None else self.distribution.expectation(output)


def compile_forward(network: nn.Module) -> None:
    """Compile a network's dense part in place: the critics' Q networks, the actor's body.

    The compiled functions replace bound methods, not modules, so parameter names (and saved files) do not
    change. The actor's distribution code stays eager: it would break the graph anyway.
    """
    if isinstance(network, LargeCritic):
        network.q_heads = th.compile(network.q_heads)  # type: ignore[method-assign]
        network.q1_head = th.compile(network.q1_head)  # type: ignore[method-assign]
        return
    # TD3's ``mu`` is ``Sequential(body, head...)``: its body alone, which a bf16 actor runs apart from the head.
    body = network.get_submodule("latent_pi" if hasattr(network, "latent_pi") else "mu.0")
    body.forward = th.compile(body.forward)  # type: ignore[method-assign]
