import pytest
import torch as th
from stable_baselines3.common.torch_layers import create_mlp
from torch import nn

from sb3_large.networks import NetSpec, build, registry

from .conftest import ARCHS, run_python

IN_DIM = 11


def expected_out_dim(arch: str, width: int, depth: int) -> int:
    return IN_DIM + depth * width if arch == "densenet" else width


def test_builtins_are_registered_in_code_and_listed_with_the_plugins():
    assert set(ARCHS) == set(registry.BUILTINS) and set(ARCHS) <= set(registry.available())


NO_ENTRY_POINTS = """
import importlib.metadata

real_entry_points = importlib.metadata.entry_points


def entry_points(**selection):  # no architecture plugin, as in a checkout that was never pip-installed
    if selection.get("group") == "sb3_large.architectures":
        return importlib.metadata.EntryPoints(())
    return real_entry_points(**selection)


importlib.metadata.entry_points = entry_points
from sb3_large.networks import NetSpec, build

for arch in ("mlp", "densenet", "d2rl", "residual"):
    net, out_dim = build(NetSpec(arch=arch, width=8, depth=2), 5)
    print(arch, out_dim, sum(p.numel() for p in net.parameters()) > 0)
"""


def test_builtins_build_without_any_installed_entry_point(tmp_path):
    out = run_python(["-c", NO_ENTRY_POINTS], cwd=tmp_path).stdout.split()
    assert out == ["mlp", "8", "True", "densenet", "21", "True", "d2rl", "8", "True", "residual", "8", "True"]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("norm", [None, "none", "layer", "batch", "batch_renorm"])
def test_output_width_and_gradients_reach_every_parameter(arch, norm):
    if arch == "residual" and norm in ("batch", "batch_renorm"):
        pytest.skip("residual refuses batch norm (tested below)")
    if arch == "simbav2" and norm not in (None, "none"):
        pytest.skip("simbav2 normalizes itself (tested in test_simbav2.py)")
    spec = NetSpec(arch=arch, width=16, depth=3, activation="silu", norm=norm)
    net, out_dim = build(spec, IN_DIM)
    assert out_dim == expected_out_dim(arch, 16, 3)
    y = net(th.randn(8, IN_DIM))
    assert y.shape == (8, out_dim)
    y.pow(2).sum().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_densenet_keeps_its_input_and_appends_width_per_layer():
    net, out_dim = build(NetSpec(arch="densenet", width=5, depth=4), IN_DIM)
    x = th.randn(3, IN_DIM)
    assert out_dim == IN_DIM + 20
    assert th.equal(net(x)[:, :IN_DIM], x)


def test_d2rl_layers_see_the_input():
    net, _ = build(NetSpec(arch="d2rl", width=7, depth=3), IN_DIM)
    assert [layer[0].in_features for layer in net.layers] == [IN_DIM, 7 + IN_DIM, 7 + IN_DIM]


def test_residual_has_pre_layernorm_blocks_and_final_layernorm():
    net, _ = build(NetSpec(arch="residual", width=8, depth=2, arch_kwargs={"expansion": 3}), IN_DIM)
    assert isinstance(net[-1], nn.LayerNorm)
    block = net[1]
    assert isinstance(block.net[0], nn.LayerNorm)
    assert block.net[1].out_features == 24


def test_mlp_has_the_same_math_as_sb3_create_mlp():
    ours, _ = build(NetSpec(arch="mlp", width=32, depth=3, activation="tanh"), IN_DIM)
    sb3 = nn.Sequential(*create_mlp(IN_DIM, -1, [32] * 3, nn.Tanh))
    sb3_linears = [m for m in sb3 if isinstance(m, nn.Linear)]
    our_linears = [m for m in ours.modules() if isinstance(m, nn.Linear)]
    for src, dst in zip(sb3_linears, our_linears, strict=True):
        dst.load_state_dict(src.state_dict())
    x = th.randn(5, IN_DIM)
    assert th.allclose(ours(x), sb3(x))


@pytest.mark.parametrize("arch", ARCHS)
def test_width_2048_builds_and_runs(arch):
    arch_kwargs = {"expansion": 1} if arch in ("residual", "simbav2") else {}
    net, out_dim = build(NetSpec(arch=arch, width=2048, depth=2, arch_kwargs=arch_kwargs), IN_DIM)
    assert net(th.randn(2, IN_DIM)).shape == (2, out_dim)


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"arch": "nope"}, ValueError, r"arch: unknown architecture 'nope'; known: .*densenet.*mlp"),
        ({"width": 0}, ValueError, r"width: must be a positive integer, got 0"),
        ({"depth": -2}, ValueError, r"depth: must be a positive integer"),
        ({"width": 2.5}, ValueError, r"width: must be a positive integer"),
        ({"activation": "sigmoidal"}, ValueError, r"activation: unknown value 'sigmoidal'; allowed: relu"),
        ({"norm": "group"}, ValueError, r"norm: unknown value 'group'; allowed: none, layer, batch"),
        ({"arch": "mlp", "arch_kwargs": {"expansion": 2}}, TypeError, r"expansion: architecture 'mlp' does not take"),
    ],
)
def test_bad_spec_is_refused_with_the_field_named(options, error, match):
    with pytest.raises(error, match=match):
        NetSpec(**options)


def test_residual_refuses_batch_norm():
    with pytest.raises(
        ValueError, match=r"norm: unknown value 'batch' for architecture 'residual'; allowed: layer, none"
    ):
        build(NetSpec(arch="residual", width=8, norm="batch"), IN_DIM)
