"""OFENet (Ota et al., ICML 2020): features learned by predicting the next observation, apart from RL.

``z_s = phi_s(s)`` and ``z_sa = phi_sa(concat(z_s, a))`` are MLP-DenseNets built by the package's one builder;
a linear head on ``z_sa`` predicts the next observation (or its first ``predict_dims`` entries) with an MSE.
"""

import io
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch as th
from torch import nn
from torch.nn import functional as F

from sb3_large.checks import check_bool, check_int, check_keys, check_number
from sb3_large.networks import NetSpec, build


@dataclass(frozen=True)
class OFENetConfig:
    """OFENet settings, given as the ``ofenet`` policy kwarg (a mapping); defaults are the original's.

    :param layers: DenseNet layers of each of phi_s and phi_sa
    :param growth: units per layer (features grow by ``layers * growth`` in each of phi_s and phi_sa)
    :param activation: activation name (``swish`` in the original)
    :param norm: ``batch`` (original), ``layer`` or ``none``
    :param predict_dims: predict the first ``predict_dims`` next-observation entries (``None``: all)
    :param learning_rate: Adam learning rate of the auxiliary loss
    :param batch_size: batch of an auxiliary update (``None``: the algorithm's ``batch_size``)
    :param pretrain_steps: auxiliary updates once the random warm-up (``learning_starts``) is over
    :param updates_per_step: auxiliary updates per RL gradient step afterwards
    :param joint: let the critic loss train OFENet too (an ablation; the method keeps them decoupled)
    """

    layers: int = 6
    growth: int = 40
    activation: str = "swish"
    norm: str = "batch"
    predict_dims: int | None = None
    learning_rate: float = 3e-4
    batch_size: int | None = None
    pretrain_steps: int = 10_000
    updates_per_step: float = 1.0
    joint: bool = False

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any] | None) -> "OFENetConfig":
        return cls(**check_keys("ofenet", kwargs, (f.name for f in fields(cls))))

    def __post_init__(self):
        check_int("ofenet.layers", self.layers)
        check_int("ofenet.growth", self.growth)
        for name in ("predict_dims", "batch_size"):
            if getattr(self, name) is not None:
                check_int(f"ofenet.{name}", getattr(self, name))
        check_int("ofenet.pretrain_steps", self.pretrain_steps, minimum=0)
        check_number("ofenet.updates_per_step", self.updates_per_step)
        check_number("ofenet.learning_rate", self.learning_rate, inclusive=False)
        check_bool("ofenet.joint", self.joint)
        try:
            self.body_spec()
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"ofenet.{exc}") from None

    def body_spec(self) -> NetSpec:
        return NetSpec(
            arch="densenet", width=self.growth, depth=self.layers, activation=self.activation, norm=self.norm
        )

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


class OFENet(nn.Module):
    """phi_s, phi_sa and the next-observation head, with its own Adam optimizer and update counter.

    Outside ``update()`` the module is in eval mode (batch norm uses running statistics) and, unless
    ``config.joint``, its parameters do not require grad: RL losses can differentiate through ``phi_sa`` with
    respect to the action but never produce gradients for OFENet. The optimizer state travels in the
    module's ``state_dict`` (extra state), so SB3's ``save``/``load`` keep it.
    """

    n_updates: th.Tensor

    def __init__(self, obs_dim: int, action_dim: int, config: OFENetConfig):
        super().__init__()
        if config.predict_dims is not None and config.predict_dims > obs_dim:
            raise ValueError(
                f"ofenet.predict_dims: {config.predict_dims} exceeds the observation size {obs_dim}; "
                f"allowed: 1..{obs_dim} or None (all)"
            )
        self.config = config
        self.predict_dims = config.predict_dims or obs_dim
        spec = config.body_spec()
        self.phi_s, self.state_dim = build(spec, obs_dim)
        self.phi_sa, self.state_action_dim = build(spec, self.state_dim + action_dim)
        self.head = nn.Linear(self.state_action_dim, self.predict_dims)
        self.register_buffer("n_updates", th.zeros((), dtype=th.long))
        self.optimizer = th.optim.Adam(self.parameters(), lr=config.learning_rate)
        self.eval()
        self.requires_grad_(config.joint)

    def untrained(self) -> bool:
        """True while no update has run although the settings ask for some: nothing is training this OFENet."""
        return int(self.n_updates) == 0 and (self.config.pretrain_steps > 0 or self.config.updates_per_step > 0)

    def state_features(self, obs: th.Tensor) -> th.Tensor:
        """``z_s``, with batch-norm running statistics."""
        return self._eval_mode().phi_s(obs)

    def state_action_features(self, z_s: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """``z_sa`` from ``z_s`` and the (squashed, in [-1, 1]) action, with batch-norm running statistics."""
        return self._eval_mode().phi_sa(th.cat([z_s, actions], dim=1))

    def _eval_mode(self) -> "OFENet":
        # A caller may have switched the whole policy to train mode; RL features always use running stats.
        if self.training:
            self.eval()
        return self

    def aux_loss(self, obs: th.Tensor, actions: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        """MSE of the next-observation prediction, in whatever mode the module is in."""
        z_sa = self.phi_sa(th.cat([self.phi_s(obs), actions], dim=1))
        return F.mse_loss(self.head(z_sa), next_obs[:, : self.predict_dims])

    def update(self, obs: th.Tensor, actions: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        """One auxiliary update (batch norm in training mode); returns the detached loss."""
        self.train()
        self.requires_grad_(True)
        try:
            loss = self.aux_loss(obs.float(), actions.float(), next_obs.float())
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        finally:
            self.eval()
            self.requires_grad_(self.config.joint)
        self.n_updates += 1
        return loss.detach()

    def get_extra_state(self) -> th.Tensor:
        # SB3 saves the policy's state dict, not this optimizer: its state travels there, as bytes in a tensor
        # (state dict values stay tensors), read back with weights_only (no code runs on load).
        buffer = io.BytesIO()
        th.save(self.optimizer.state_dict(), buffer)
        return th.frombuffer(bytearray(buffer.getvalue()), dtype=th.uint8)

    def set_extra_state(self, state: th.Tensor | dict[str, Any]) -> None:
        if isinstance(state, dict):  # sb3-large 0.1 kept the optimizer's state dict itself
            self.optimizer.load_state_dict(state["optimizer"])
            return
        self.optimizer.load_state_dict(th.load(io.BytesIO(state.cpu().numpy().tobytes()), weights_only=True))
