"""OFENet (Ota et al., ICML 2020): features learned by predicting the next observation, apart from RL.

``z_s = phi_s(s)`` and ``z_sa = phi_sa(concat(z_s, a))`` are MLP-DenseNets built by the package's one builder;
a linear head on ``z_sa`` predicts the next observation (or its first ``predict_dims`` entries) with an MSE.
"""

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch as th
from torch import nn
from torch.nn import functional as F

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
        kwargs = dict(kwargs or {})
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise ValueError(f"ofenet.{unknown[0]}: unknown option; allowed: {', '.join(allowed)}")
        return cls(**kwargs)

    def __post_init__(self):
        for name in ("layers", "growth"):
            _check(name, getattr(self, name), lambda v: _is_int(v) and v > 0, "a positive integer")
        for name in ("predict_dims", "batch_size"):
            _check(name, getattr(self, name), lambda v: v is None or (_is_int(v) and v > 0), "None or an integer > 0")
        _check("pretrain_steps", self.pretrain_steps, lambda v: _is_int(v) and v >= 0, "an integer >= 0")
        _check("updates_per_step", self.updates_per_step, lambda v: _is_number(v) and v >= 0, "a number >= 0")
        _check("learning_rate", self.learning_rate, lambda v: _is_number(v) and v > 0, "a number > 0")
        _check("joint", self.joint, lambda v: isinstance(v, bool), "true or false")
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


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(name: str, value, ok, expected: str) -> None:
    if not ok(value):
        raise ValueError(f"ofenet.{name}: must be {expected}, got {value!r}")


class OFENet(nn.Module):
    """phi_s, phi_sa and the next-observation head, with its own Adam optimizer and update counter.

    Outside ``update()`` the module is in eval mode (batch norm uses running statistics) and, unless
    ``config.joint``, its parameters do not require grad: RL losses can differentiate through ``phi_sa`` with
    respect to the action but never produce gradients for OFENet. The optimizer state travels in the
    module's ``state_dict`` (extra state), so SB3's ``save``/``load`` keep it.
    """

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
        self._feature_cache: list[tuple[tuple, th.Tensor, th.Tensor]] = []
        self.optimizer = th.optim.Adam(self.parameters(), lr=config.learning_rate)
        self.eval()
        self.requires_grad_(config.joint)

    def state_features(self, obs: th.Tensor) -> th.Tensor:
        """``z_s``, with batch-norm running statistics.

        One SAC update asks for ``z_s`` of the same batch up to three times (actor, critic, actor loss). While
        OFENet is frozen for RL (decoupled) the last two results are reused, keyed on the batch's content and
        on the version of every OFENet tensor, so any change of the weights (an update, a load, a sync) misses.
        """
        self._eval_mode()
        if self.config.joint:
            return self.phi_s(obs)
        weights = tuple((t.data_ptr(), t._version) for t in (*self.parameters(), *self.buffers()))
        for cached_weights, cached_obs, z_s in self._feature_cache:
            if cached_weights == weights and cached_obs.shape == obs.shape and th.equal(cached_obs, obs):
                return z_s
        z_s = self.phi_s(obs)
        self._feature_cache = [(weights, obs.detach().clone(), z_s), *self._feature_cache[:1]]
        return z_s

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

    def get_extra_state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
