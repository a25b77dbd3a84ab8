"""``sb3_large.precision``: bfloat16 on a CPU without bfloat16 units warns once, naming the CPU and its flags."""

import warnings

import pytest
import torch as th

from sb3_large import precision
from sb3_large.precision import cpu_flags, low_precision

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: Test EPYC 7B13
flags\t\t: fpu sse2 avx avx2 avx512f {extra}

processor\t: 1
model name\t: Test EPYC 7B13
flags\t\t: fpu sse2 avx avx2 avx512f {extra}
"""


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """Write a cpuinfo file with ``extra`` flags, point the module at it, and forget earlier warnings."""

    def write(extra: str):
        path = tmp_path / "cpuinfo"
        path.write_text(CPUINFO.format(extra=extra))
        monkeypatch.setattr(precision, "CPUINFO", path)
        precision.warn_if_emulated.cache_clear()
        return path

    yield write
    precision.warn_if_emulated.cache_clear()


def bf16_forward() -> th.Tensor:
    with low_precision("cpu", "bf16"):
        return th.nn.functional.linear(th.ones(2, 4), th.ones(3, 4))


def test_cpu_flags_reads_the_model_and_flags(cpuinfo, tmp_path):
    model, flags = cpu_flags(cpuinfo("avx512_bf16"))
    assert model == "Test EPYC 7B13" and {"avx2", "avx512_bf16"} <= flags
    assert cpu_flags(tmp_path / "absent") is None


def test_bf16_without_bfloat16_units_warns_once_naming_the_cpu_and_flags(cpuinfo):
    cpuinfo("sha_ni")
    with pytest.warns(UserWarning) as record:
        assert bf16_forward().dtype == th.bfloat16
        bf16_forward()
    assert len(record) == 1
    message = str(record[0].message)
    assert "precision='bf16' on a CPU without bfloat16 units (Test EPYC 7B13: no avx512_bf16 or amx_bf16" in message
    assert "its vector flags: avx avx2 avx512f)" in message and "several times slower than float32" in message


@pytest.mark.parametrize("extra", ["avx512_bf16", "amx_bf16 amx_tile"])
def test_bf16_with_bfloat16_units_does_not_warn(cpuinfo, extra):
    cpuinfo(extra)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bf16_forward()


def test_fp32_and_unknown_cpus_do_not_warn(cpuinfo, monkeypatch, tmp_path):
    cpuinfo("sha_ni")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with low_precision("cpu", "fp32"):
            pass
        monkeypatch.setattr(precision, "CPUINFO", tmp_path / "absent")  # not Linux: nothing to say
        bf16_forward()
