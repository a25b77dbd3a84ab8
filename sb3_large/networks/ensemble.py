"""Several networks of one structure run as one: stacked weights, one batched matmul per layer.

``stack_members`` turns identical-structure members (the twin Q networks) into one module over inputs shaped
``(members, batch, features)``. Leaves with parameters become their stacked versions (``nn.Linear``,
``nn.LayerNorm``, ``nn.BatchNorm1d``); parameter-free leaves (activations, ``Identity``) are shared; containers
(``Sequential``, the DenseNet/D2RL/residual bodies) run unchanged, which holds because they concatenate and add
along the last dimension. Each stacked tensor is ``th.stack`` of the members' tensors, so a state dict of
separate members converts by stacking (``stack_state_dict``).
"""

import copy
from typing import cast

import torch as th
from torch import nn
from torch.nn import functional as F

from sb3_large.networks.layers import BatchNorm, Float32Linear
from sb3_large.precision import full_precision


class EnsembleLeaf(nn.Module):
    """A stacked layer; ``members`` (set by ``QEnsemble`` around a call) selects which members run."""

    members: slice = slice(None)


class EnsembleLinear(EnsembleLeaf):
    """``y[m] = x[m] W[m]^T + b[m]``; a shared (expanded) input takes one matmul for all members."""

    def __init__(self, members: list[nn.Linear]):
        super().__init__()
        self.weight = nn.Parameter(th.stack([m.weight.detach() for m in members]))
        self.bias = nn.Parameter(th.stack([m.bias.detach() for m in members])) if members[0].bias is not None else None

    def forward(self, x: th.Tensor) -> th.Tensor:
        weight = self.weight[self.members]
        bias = None if self.bias is None else self.bias[self.members]
        n, out_dim, in_dim = weight.shape
        if x.stride(0) == 0:  # the same input for every member (``expand``): one wide matmul
            y = F.linear(x[0], weight.reshape(n * out_dim, in_dim), None if bias is None else bias.reshape(-1))
            return y.view(x.shape[1], n, out_dim).transpose(0, 1)
        if bias is None:
            return th.bmm(x, weight.transpose(1, 2))
        return th.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


class EnsembleFloat32Linear(EnsembleLinear):
    """Stacked ``Float32Linear``s: float32 under autocast too."""

    def forward(self, x: th.Tensor) -> th.Tensor:
        with full_precision(x.device.type):
            return super().forward(x.float())


class EnsembleLayerNorm(EnsembleLeaf):
    """Per-member LayerNorm over the last dimension."""

    def __init__(self, members: list[nn.LayerNorm]):
        super().__init__()
        self.normalized_shape, self.eps = members[0].normalized_shape, members[0].eps
        affine = members[0].weight is not None
        self.weight = nn.Parameter(th.stack([m.weight.detach() for m in members])) if affine else None
        self.bias = nn.Parameter(th.stack([m.bias.detach() for m in members])) if members[0].bias is not None else None

    def forward(self, x: th.Tensor) -> th.Tensor:
        y = F.layer_norm(x, self.normalized_shape, None, None, self.eps)
        if self.weight is not None:
            y = y * self.weight[self.members].unsqueeze(1)
        if self.bias is not None:
            y = y + self.bias[self.members].unsqueeze(1)
        return y


class EnsembleBatchNorm1d(EnsembleLeaf):
    """Per-member BatchNorm1d: members' features side by side in one ``F.batch_norm`` call.

    ``num_batches_tracked`` is shared (it only matters for ``momentum=None``, which is refused).
    """

    running_mean: th.Tensor
    running_var: th.Tensor
    num_batches_tracked: th.Tensor

    def __init__(self, members: list[nn.BatchNorm1d]):
        super().__init__()
        first = members[0]
        if first.momentum is None or not first.track_running_stats or not first.affine:
            raise NotStackable("BatchNorm1d without momentum, running statistics or affine parameters")
        self.eps, self.momentum = first.eps, first.momentum
        self.weight = nn.Parameter(th.stack([m.weight.detach() for m in members]))
        self.bias = nn.Parameter(th.stack([m.bias.detach() for m in members]))
        # Not None: running statistics are tracked (checked above).
        self.register_buffer("running_mean", th.stack([cast(th.Tensor, m.running_mean) for m in members]))
        self.register_buffer("running_var", th.stack([cast(th.Tensor, m.running_var) for m in members]))
        self.register_buffer("num_batches_tracked", cast(th.Tensor, first.num_batches_tracked).clone())

    def forward(self, x: th.Tensor) -> th.Tensor:
        n, batch, dim = x.shape
        if self.training:
            self.num_batches_tracked.add_(1)
        flat = x.transpose(0, 1).reshape(batch, n * dim)
        y = F.batch_norm(
            flat,
            self.running_mean[self.members].view(-1),  # rows of a contiguous buffer: updated in place
            self.running_var[self.members].view(-1),
            self.weight[self.members].reshape(-1),
            self.bias[self.members].reshape(-1),
            self.training,
            self.momentum,
            self.eps,
        )
        return y.view(batch, n, dim).transpose(0, 1)


class NotStackable(ValueError):
    """A member contains a layer with parameters that has no stacked version."""


STACKED = {
    nn.Linear: EnsembleLinear,
    Float32Linear: EnsembleFloat32Linear,
    nn.LayerNorm: EnsembleLayerNorm,
    nn.BatchNorm1d: EnsembleBatchNorm1d,
    BatchNorm: EnsembleBatchNorm1d,
}


def stack_members(members: list[nn.Module]) -> nn.Module:
    """One module computing every member on ``(members, batch, features)`` inputs; raises ``NotStackable``."""
    template = copy.deepcopy(members[0])
    for name, module in members[0].named_modules():
        leaves = [member.get_submodule(name) for member in members]
        own = list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False))
        if not own:
            continue
        if type(module) not in STACKED or any(type(leaf) is not type(module) for leaf in leaves):
            raise NotStackable(f"{name or 'the network'}: {type(module).__name__} has no stacked version")
        stacked = STACKED[type(module)](leaves)
        if name:
            parent, _, child = name.rpartition(".")
            setattr(template.get_submodule(parent), child, stacked)
        else:
            template = stacked
    return template


def stack_state_dict(state_dict: dict, member_prefixes: list[str], prefix: str) -> None:
    """In place: replace the entries of separate members (``qf0.``, ``qf1.``, ...) by stacked ones under ``prefix``."""
    first = member_prefixes[0]
    for key in [k for k in state_dict if k.startswith(first)]:
        rest = key[len(first) :]
        values = [state_dict.pop(p + rest) for p in member_prefixes]
        state_dict[prefix + rest] = values[0] if rest.endswith("num_batches_tracked") else th.stack(values)


def convert_optimizer_state(state_dict: dict, n_members: int, n_leading: int, n_stacked: int, to_stacked: bool) -> dict:
    """An optimizer state dict saved for separate members, rewritten for the stacked ones (or back).

    The first param group holds ``n_leading`` parameters that are not members' (a features extractor), then
    the members' parameters: ``n_members`` runs of ``n_stacked`` in the separate form, one run stacked.
    Per-parameter state (Adam's moments) stacks like the parameters; scalar state (``step``) is shared.
    """
    group = state_dict["param_groups"][0]
    ids = list(group["params"])
    expected = n_leading + (n_members * n_stacked if to_stacked else n_stacked)
    if len(ids) != expected:
        return state_dict
    state = dict(state_dict["state"])
    leading, rest = ids[:n_leading], ids[n_leading:]
    if to_stacked:
        runs = [rest[m * n_stacked : (m + 1) * n_stacked] for m in range(n_members)]
        for j, stacked_id in enumerate(runs[0]):
            parts = [state.pop(run[j], None) for run in runs]
            if all(part is not None for part in parts):
                state[stacked_id] = {
                    k: v.clone() if v.dim() == 0 else th.stack([p[k] for p in parts]) for k, v in parts[0].items()
                }
        new_ids = leading + runs[0]
    else:
        taken = set(ids) | {i for g in state_dict["param_groups"][1:] for i in g["params"]}
        fresh = iter(i for i in range(len(taken) + n_members * n_stacked + 1) if i not in taken)
        runs = [rest] + [[next(fresh) for _ in rest] for _ in range(n_members - 1)]
        for j, stacked_id in enumerate(rest):
            whole = state.pop(stacked_id, None)
            if whole is not None:
                for m, run in enumerate(runs):
                    # Clone scalars too: optimizers step their ``step`` tensors in place, one per parameter.
                    state[run[j]] = {k: (v if v.dim() == 0 else v[m]).clone() for k, v in whole.items()}
        new_ids = leading + [i for run in runs for i in run]
    groups = [{**group, "params": new_ids}, *state_dict["param_groups"][1:]]
    return {**state_dict, "state": state, "param_groups": groups}


class QEnsemble(nn.Module):
    """Members stacked by ``stack_members``, fed one shared input; returns ``(members, batch, out)``.

    ``members`` runs a subset (TD3's actor loss reads the first Q network only): the others are neither
    computed nor have their BatchNorm statistics updated, as with separate networks.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.n_members = len(members)
        self.net = stack_members(members)
        self.leaves = [m for m in self.net.modules() if isinstance(m, EnsembleLeaf)]

    def forward(self, x: th.Tensor, members: slice = slice(None)) -> th.Tensor:
        if members == slice(None):
            return self.net(x.expand(self.n_members, *x.shape))
        for leaf in self.leaves:
            leaf.members = members
        try:
            return self.net(x.expand(len(range(self.n_members)[members]), *x.shape))
        finally:
            for leaf in self.leaves:
                leaf.members = slice(None)


class EnsembleMember(nn.Module):
    """A view of one member, for code that calls ``critic.q_networks[i](x)`` (computes all members)."""

    def __init__(self, ensemble: QEnsemble, index: int):
        super().__init__()
        self.ensemble, self.index = ensemble, index

    def forward(self, x: th.Tensor) -> th.Tensor:
        return self.ensemble(x)[self.index]
