"""Third-party architectures arrive through a real installed distribution's entry point."""

import textwrap

import pytest

from .conftest import run_python

PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "tiny-arch-plugin"
version = "0.1"

[project.entry-points."sb3_large.architectures"]
tiny = "tiny_arch_plugin:tiny"
broken = "tiny_arch_plugin.missing:factory"
mlp = "tiny_arch_plugin:tiny"

[tool.setuptools]
packages = ["tiny_arch_plugin"]
"""

PLUGIN_CODE = """
from torch import nn


def tiny(in_dim, width, depth, activation, norm):
    layers = []
    for i in range(depth):
        layers += [nn.Linear(in_dim if i == 0 else width, width), nn.Tanh()]
    return nn.Sequential(*layers), width
"""

TRAIN_WITH_PLUGIN = """
import warnings

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import sb3_large
    from sb3_large.networks import registry
    from stable_baselines3 import SAC

    print("available:", registry.available())
    model = SAC("LargeMlpPolicy", "Pendulum-v1", learning_starts=100, seed=0,
                policy_kwargs=dict(arch="tiny", width=16, depth=2))
    model.learn(200)
    print("trained:", type(model.policy.actor.latent_pi[1]).__name__, model.num_timesteps)
    mlp_kwargs = dict(arch="mlp", width=8, norm="none")
    mlp = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=mlp_kwargs).policy.actor.latent_pi
    print("mlp activation:", type(mlp[0][1]).__name__)
    try:
        SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(arch="broken", width=8))
    except ValueError as exc:
        print("broken error:", exc)
for w in caught:
    if "architecture" in str(w.message):
        print("warning:", w.message)
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    src = tmp_path_factory.mktemp("plugin_src")
    (src / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (src / "tiny_arch_plugin").mkdir()
    (src / "tiny_arch_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN_CODE))
    site = tmp_path_factory.mktemp("plugin_site")
    run_python(
        ["-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(src)],
        cwd=src,
    )
    assert list(site.glob("tiny_arch_plugin-0.1.dist-info/entry_points.txt"))
    return site


def test_installed_plugin_trains_by_name_a_broken_one_only_warns_and_a_builtin_is_not_shadowed(plugin_site, tmp_path):
    out = run_python(["-c", TRAIN_WITH_PLUGIN], cwd=tmp_path, env={"PYTHONPATH": str(plugin_site)}).stdout
    assert "available: ['d2rl', 'densenet', 'mlp', 'residual', 'simbav2', 'tiny']" in out
    assert "trained: Tanh 200" in out
    assert "warning: sb3_large: architecture plugin 'broken' (tiny_arch_plugin.missing:factory) failed to load" in out
    assert "warning: sb3_large: architecture 'mlp' is a built-in architecture; ignoring tiny_arch_plugin:tiny" in out
    assert "mlp activation: ReLU" in out  # the built-in, not the plugin's Tanh body
    assert "broken error: policy_kwargs.arch: architecture plugin 'broken' failed to load" in out


def test_plugin_is_not_visible_without_its_distribution(tmp_path):
    out = run_python(
        ["-c", "from sb3_large.networks import registry; print(registry.available())"], cwd=tmp_path
    ).stdout
    assert "tiny" not in out and "densenet" in out
