"""A search's best trial as an RL Zoo YAML entry: the entry it started from with the trial's hyperparameters,
written with RL Zoo's float style so that stock ``rl_zoo3.train -conf`` reads back what was sampled."""

from collections.abc import Mapping
from typing import Any

import yaml

from sb3_large.zoo.callbacks import callbacks_without_ours, with_callbacks

_FLOAT_TAG = "tag:yaml.org,2002:float"


def merge_entry(base: Mapping[str, Any], hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` (an RL Zoo YAML entry) with a trial's hyperparameters; OFENet's trainer and the observation-statistics
    updater exactly when the trial's policy needs them."""
    callbacks = callbacks_without_ours(base.get("callback")) + list(hyperparams.get("callback", []))
    return with_callbacks({**base, **hyperparams}, callbacks)


class _ZooDumper(yaml.SafeDumper):
    """Writes every float as ``!!float x``, RL Zoo's style (PyYAML reads a bare ``3e-4`` as a string)."""

    def choose_scalar_style(self) -> str:
        # A tagged scalar is quoted by default; ``!!float 0.0003`` reads better and loads the same.
        return "" if self.event.tag == _FLOAT_TAG else super().choose_scalar_style()


_ZooDumper.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _FLOAT_TAG]
    for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
}
_STOCK_RESOLVER = yaml.resolver.Resolver()


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.ScalarNode:
    return dumper.represent_scalar(_FLOAT_TAG, repr(value))


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # With no float resolver a string like "0.5" would be written bare, and read back as a float: quote it.
    looks_float = _STOCK_RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _FLOAT_TAG
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'" if looks_float else None)


_ZooDumper.add_representer(float, _represent_float)
_ZooDumper.add_representer(str, _represent_str)


def dump_entry(env_id: str, entry: Mapping[str, Any], header: str = "") -> str:
    """YAML text of ``{env_id: entry}`` for ``rl_zoo3.train -conf``; ``header`` lines become comments."""
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + yaml.dump({env_id: dict(entry)}, Dumper=_ZooDumper, sort_keys=False, default_flow_style=False)


__all__ = ["dump_entry", "merge_entry"]
