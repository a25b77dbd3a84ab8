"""Reduced-precision forward passes: the policies' ``precision`` option and the learners' ``precision`` argument.

Under ``"bf16"`` the bodies' matmuls run in bfloat16 (torch autocast) while weights, optimizer state, the output
layers (Q values, logits, actions: ``networks.layers.Float32Linear`` and the actors' heads), losses and targets stay
float32. It pays only where the hardware has bfloat16 units (CPUs with avx512_bf16 / amx_bf16,
recent GPUs); elsewhere torch emulates them, several times slower than float32. Updates are close to float32's,
not equal, so it is never on by default.
"""

import functools
import warnings
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch as th

PRECISIONS = ("fp32", "bf16")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # the x86 flags of bfloat16 matmul units
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path) -> tuple[str, set[str]] | None:
    """The CPU's model name and flags from ``cpuinfo`` (Linux), or None where the file is absent or has no flags."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    if "flags" not in fields:  # not an x86 cpuinfo (ARM names its features otherwise)
        return None
    return fields.get("model name", "unknown CPU"), set(fields["flags"].split())


@functools.cache
def warn_if_emulated() -> None:
    """Warn, once per process, that bfloat16 runs on a CPU without bfloat16 units, where torch emulates it."""
    found = cpu_flags(CPUINFO)
    if found is None or not found[1].isdisjoint(BF16_FLAGS):
        return
    model, flags = found
    vector = " ".join(sorted(flag for flag in flags if flag.startswith(("avx", "amx")))) or "none"
    warnings.warn(
        f"precision='bf16' on a CPU without bfloat16 units ({model}: no {' or '.join(BF16_FLAGS)}; its vector "
        f"flags: {vector}): torch emulates bfloat16 there, several times slower than float32 (benchmarks/"
        "learner_throughput.py measures it). Use precision='fp32' on this CPU",
        UserWarning,
        stacklevel=3,
    )


def low_precision(device_type: str, precision: str) -> AbstractContextManager:
    """bfloat16 autocast for ``precision="bf16"``; for fp32 no context at all (entering even a disabled autocast
    costs as much as a small layer)."""
    if precision != "bf16":
        return nullcontext()
    if device_type == "cpu" and not th.compiler.is_compiling():  # a traced warning would break the graph
        warn_if_emulated()
    return th.autocast(device_type, dtype=th.bfloat16)


def full_precision(device_type: str) -> AbstractContextManager:
    """A context without autocast (or none at all when autocast is off), for what must run in float32."""
    return th.autocast(device_type, enabled=False) if th.is_autocast_enabled(device_type) else nullcontext()
