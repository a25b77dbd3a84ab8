"""Reduced-precision forward passes: the policies' ``precision`` option and the learners' ``precision`` argument.

Under ``"bf16"`` the bodies' matmuls run in bfloat16 (torch autocast) while weights, optimizer state, losses and
targets stay float32. It pays only where the hardware has bfloat16 units (CPUs with avx512_bf16 / amx_bf16,
recent GPUs); elsewhere torch emulates them, several times slower than float32. Updates are close to float32's,
not equal, so it is never on by default.
"""

from contextlib import AbstractContextManager, nullcontext

import torch as th

PRECISIONS = ("fp32", "bf16")


def low_precision(device_type: str, precision: str) -> AbstractContextManager:
    """bfloat16 autocast for ``precision="bf16"``; for fp32 no context at all (entering even a disabled autocast
    costs as much as a small layer)."""
    return th.autocast(device_type, dtype=th.bfloat16) if precision == "bf16" else nullcontext()


def float32(device_type: str) -> AbstractContextManager:
    """A context without autocast (or none at all when autocast is off), for what must run in float32."""
    return th.autocast(device_type, enabled=False) if th.is_autocast_enabled(device_type) else nullcontext()
