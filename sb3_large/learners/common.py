"""Pieces shared by the fast SAC and TD3 updates: same math as SB3's, fewer and larger kernels.

SB3's ``train()`` pays, per update: a Python loop of three ops per parameter for each polyak update, a
backward pass of the actor loss through every critic weight (gradients thrown away by the next
``zero_grad``), and a host sync for every logged loss. Here: one ``_foreach_lerp_`` per target network,
actor gradients for the actor's parameters only, and losses kept as tensors until the end of ``train()``.
With a decoupled OFENet, its features are computed once per update instead of once per network that reads
them (``decoupled_ofenet``).

The parts of a gradient step that SAC and TD3 share are ``UpdateOptions``' methods: OFENet's features of the
observations, the target critics' Q values of the next observations, and the critics' loss. The optimizer steps
stay in the learners' ``_update``: under ``compile="update"`` they end compiled regions, there and nowhere else.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.type_aliases import MaybeCallback, ReplayBufferSamples
from torch import nn
from torch.nn import functional as F

from sb3_large.budget import warn_if_no_gradient_steps
from sb3_large.checks import check_choice, check_number
from sb3_large.compile_modes import COMPILE_MODES
from sb3_large.internals import foreach_copy_, foreach_lerp_
from sb3_large.ofenet import OFENet
from sb3_large.policies.common import LargeCritic
from sb3_large.precision import PRECISIONS, low_precision
from sb3_large.return_scale import ReturnScale


def optimizer_params(optimizer: th.optim.Optimizer) -> list[th.Tensor]:
    """Every parameter an optimizer steps, in order; frozen ones (``requires_grad=False``) left out, as SB3's
    ``backward()`` leaves their gradient at None and Adam skips them."""
    return [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]


def soft_update(params: list[th.Tensor], target_params: list[th.Tensor], tau: float) -> None:
    """``target <- (1 - tau) * target + tau * param`` for all tensors in one call (SB3's ``polyak_update``)."""
    if params:
        with th.no_grad():
            foreach_lerp_(target_params, params, tau)


def copy_stats(stats: list[th.Tensor], target_stats: list[th.Tensor]) -> None:
    """Copy BatchNorm running statistics into the target network (SB3 issue #996)."""
    if stats:
        with th.no_grad():
            foreach_copy_(target_stats, stats)


def check_update_options(compile: str | None, precision: str) -> tuple[str | None, str]:
    """The learners' ``compile`` and ``precision`` arguments, checked."""
    return check_choice("compile", compile, COMPILE_MODES), check_choice("precision", precision, PRECISIONS)


def compiled_update(update: Callable, device: th.device) -> Callable:
    """``update`` (one gradient step) under ``torch.compile`` with static shapes; on CUDA, captured in CUDA graphs.

    Backward passes and optimizer steps stay eager (``step``, ``step_on``): they are graph breaks anyway, fused
    Adam is one kernel already, and a traced step would recompile whenever a schedule changes the learning rate.
    """
    return th.compile(update, dynamic=False, mode="reduce-overhead" if device.type == "cuda" else None)


@th.compiler.disable
def step(loss: th.Tensor, optimizer: th.optim.Optimizer) -> None:
    """SB3's ``zero_grad``, ``backward``, ``step``."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@th.compiler.disable
def step_on(loss: th.Tensor, optimizer: th.optim.Optimizer, params: list[th.Tensor]) -> None:
    """Step ``optimizer`` on the gradient of ``loss`` for ``params`` only.

    ``autograd.grad`` skips the weight gradients of every other module the loss went through (the critics,
    for an actor loss): same update as SB3's ``backward()``, about a fifth fewer matmuls per SAC update.
    """
    if not params:  # everything frozen: SB3's step changes nothing either
        return
    grads = th.autograd.grad(loss, params, allow_unused=True)
    for param, grad in zip(params, grads, strict=True):
        param.grad = grad
    optimizer.step()


def td_target(samples: ReplayBufferSamples, gamma: float, next_value: th.Tensor) -> th.Tensor:
    """SB3's target ``reward + (1 - done) * discount * next_value``: the discounts of an n-step buffer's samples
    (SB3 >= 2.7 fills ``samples.discounts``), else ``gamma``."""
    discounts = getattr(samples, "discounts", None)
    return samples.rewards + (1 - samples.dones) * (gamma if discounts is None else discounts) * next_value


def mean_of(values: list[th.Tensor]) -> float:
    """Mean of logged scalars: one host sync for a whole ``train()`` call instead of one per update."""
    return float(th.stack([v.reshape(()) for v in values]).float().mean()) if values else float("nan")


def decoupled_ofenet(policy: nn.Module) -> OFENet | None:
    """The policy's OFENet when the update may compute its features once and hand them to every network.

    That holds when nothing changes OFENet during an RL update (not ``joint``: no RL optimizer steps it, and
    RL features use batch-norm running statistics) and the critics are ``LargeCritic``s reading its ``z_sa``.
    """
    ofenet = getattr(policy, "ofenet", None)
    critics = [getattr(policy, name, None) for name in ("critic", "critic_target")]
    if not isinstance(ofenet, OFENet) or ofenet.config.joint:
        return None
    if not all(isinstance(c, LargeCritic) and c.state_action_features is not None for c in critics):
        return None
    return ofenet


class OFENetFeatures(NamedTuple):
    """A decoupled OFENet and its features ``z_s`` of a replay batch's observations and next observations, computed
    once per update for every network that reads them."""

    ofenet: OFENet
    z_s: th.Tensor
    next_z_s: th.Tensor


def critic_outputs(critic: nn.Module, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
    """What the critic loss is taken on: the Q values, or a categorical critic's logits (``q_distribution``)."""
    if isinstance(critic, LargeCritic) and critic.distribution is not None:
        return critic.logits(obs, actions)
    return critic(obs, actions)


def critic_loss(critic: nn.Module, outputs: tuple[th.Tensor, ...], target_q: th.Tensor, mse_scale: float) -> th.Tensor:
    """Loss of the Q networks' ``outputs`` against ``target_q``, in float32: ``mse_scale`` times the summed squared
    errors (SB3's), or for a categorical critic the summed cross-entropies to the target's distribution."""
    if isinstance(critic, LargeCritic) and critic.distribution is not None:
        losses = [critic.distribution.loss(logits.float(), target_q) for logits in outputs]
        return sum(losses[1:], losses[0])
    losses = [F.mse_loss(q.float(), target_q) for q in outputs]
    return mse_scale * sum(losses[1:], losses[0])


if TYPE_CHECKING:
    # For the type checker only: the base always goes in front of SB3's SAC or TD3.
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm as _AlgorithmBase
else:
    _AlgorithmBase = object


class UpdateOptions(_AlgorithmBase):
    """The update options of ``sb3_large.SAC`` / ``TD3`` (``class SAC(UpdateOptions, SB3SAC)``).

    :param compile: ``None``, or ``"update"``: each gradient step (forward passes, losses, target update) under
        ``torch.compile`` with static shapes, captured in CUDA graphs on a GPU; the first updates pay the
        compilation
    :param precision: ``"fp32"``, or ``"bf16"``: the networks' bodies under bfloat16 autocast, with float32
        weights, output layers (Q values, logits, actions), losses and targets; it needs a large policy, whose
        output layers opt out of autocast (for GPUs and CPUs with bfloat16 units, ``sb3_large.precision``)
    :param return_bound: ``None``, or a number: the rewards the networks train on are divided by a running scale
        of the discounted return that keeps it within about ``[-return_bound, return_bound]``
        (``sb3_large.return_scale``; on top of RL Zoo's ``normalize``, which comes first); saved with the model as
        ``return_scale``

    The subclass's ``_update`` is one gradient step; ``_update_step`` is it, compiled or not. ``large_policy`` is the
    class of the large policies the subclass trains. What both subclasses' ``_update`` compute (OFENet's features, the
    target critics' Q values, the critics' loss) are methods of this class, from ``_low_precision`` on.
    """

    _update: Callable[..., Any]
    large_policy: type[nn.Module]
    # The networks the shared steps read, as SB3's SAC and TD3 declare them (their actors' classes differ).
    actor: Any
    critic: ContinuousCritic
    critic_target: ContinuousCritic

    def __init__(
        self,
        policy: Any,
        env: Any,
        *args,
        compile: str | None = None,
        precision: str = "fp32",
        return_bound: float | None = None,
        **kwargs,
    ):
        self.compile, self.precision = check_update_options(compile, precision)
        self.return_bound = None if return_bound is None else check_number("return_bound", return_bound, 0, False)
        self.return_scale: ReturnScale | None = None  # a loaded model brings its own (SB3's load sets it)
        super().__init__(policy, env, *args, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        # Checked again: SB3's load() sets attributes (``load(path, compile="update")``) after __init__.
        check_update_options(self.compile, self.precision)
        self._setup_return_scale()
        if self.precision != "fp32" and not isinstance(self.policy, self.large_policy):
            raise ValueError(
                f"precision: {self.precision!r} needs a large policy (LargeMlpPolicy, OFENetPolicy), whose output "
                f"layers run in float32; {type(self.policy).__name__} has none. Use precision='fp32'"
            )
        self._update_step = compiled_update(self._update, self.device) if self.compile == "update" else self._update

    def _setup_return_scale(self) -> None:
        """The return scale ``return_bound`` asks for: a loaded model keeps its own, with the bound it is given now
        (its statistics do not depend on it), unless its discount changed; ``None`` turns it off."""
        if self.return_bound is None:
            self.return_scale = None
            return
        self.return_bound = check_number("return_bound", self.return_bound, 0, False)
        if self.return_scale is None or self.return_scale.gamma != self.gamma:
            self.return_scale = ReturnScale(self.return_bound, self.gamma, self.n_envs)
        self.return_scale.bound = self.return_bound

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_update_step"]

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        if self.return_scale is not None and (reset_num_timesteps or self._last_obs is None):
            self.return_scale.returns[:] = 0.0  # SB3 resets the env: every episode starts afresh
        total_timesteps, callback = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        warn_if_no_gradient_steps(total_timesteps, self.learning_starts)  # where the run ends, a continued one too
        return total_timesteps, callback

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        # ``reward`` is as the learner samples it: VecNormalize-scaled where RL Zoo normalizes rewards (the buffer
        # scales them again at sampling time, with the statistics of that time).
        if self.return_scale is not None:
            self.return_scale.update(reward, dones)
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)

    def _sample(self, batch_size: int) -> ReplayBufferSamples:
        """A replay batch, its rewards divided by the return scale (one scale per ``train()`` call's updates)."""
        assert self.replay_buffer is not None  # learn() has set the model up
        data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
        if self.return_scale is None:
            return data
        return data._replace(rewards=data.rewards / self.return_scale.scale)

    # The parts of a gradient step that the subclasses' ``_update`` share.

    def _low_precision(self) -> AbstractContextManager:
        """The context of the networks' forward passes: bfloat16 autocast for ``precision="bf16"``."""
        return low_precision(self.device.type, self.precision)

    def _ofenet_features(self, data: ReplayBufferSamples, ofenet: OFENet | None) -> OFENetFeatures | None:
        """A decoupled ``ofenet``'s ``z_s`` of the observations and of the next observations, in one pass through the
        actor's extractor (RL features use batch-norm running statistics: batching changes no value); ``None``
        without one."""
        if ofenet is None:
            return None
        with th.no_grad(), self._low_precision():
            z_s, next_z_s = self.actor.extract_features(
                th.cat([data.observations, data.next_observations]), self.actor.features_extractor
            ).chunk(2)
        return OFENetFeatures(ofenet, z_s, next_z_s)

    def _next_q(
        self, data: ReplayBufferSamples, next_actions: th.Tensor, features: OFENetFeatures | None
    ) -> tuple[th.Tensor | None, th.Tensor]:
        """The target critics' smallest Q value of the next observations and ``next_actions``, in float32 (no
        gradient); with OFENet ``features``, also the ``z_sa`` of the replayed actions that the critics' step reads,
        computed in the same pass as that of the next actions (``None`` without)."""
        z_sa: th.Tensor | None = None
        with th.no_grad():
            with self._low_precision():
                if features is not None:
                    z_sa, next_z_sa = features.ofenet.state_action_features(
                        th.cat([features.z_s, features.next_z_s]), th.cat([data.actions, next_actions])
                    ).chunk(2)
                    critic_target = cast(LargeCritic, self.critic_target)
                    next_q = th.cat(critic_target.q_values_of(critic_target.q_heads(next_z_sa)), dim=1)
                else:
                    next_q = th.cat(self.critic_target(data.next_observations, next_actions), dim=1)
            return z_sa, th.min(next_q.float(), dim=1, keepdim=True).values

    def _critic_loss(
        self, data: ReplayBufferSamples, z_sa: th.Tensor | None, target_q: th.Tensor, mse_scale: float
    ) -> th.Tensor:
        """The critics' loss against ``target_q`` (``critic_loss``) on the replayed observations and actions, from
        OFENet's ``z_sa`` of them when given."""
        with self._low_precision():
            if z_sa is not None:
                outputs = cast(LargeCritic, self.critic).q_heads(z_sa)
            else:
                outputs = critic_outputs(self.critic, data.observations, data.actions)
        return critic_loss(self.critic, outputs, target_q, mse_scale)
