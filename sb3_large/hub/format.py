"""The model folder's format: its file names, the algorithms it holds, and how a model's policy kwargs, spaces and
model card are written (JSON and Markdown; the checks of what a config may hold are ``schema``'s).

Light on purpose: ``sb3_large``'s own learners (``sb3_large.SAC``, ``sb3_large.TD3``) load torch.compile's machinery,
so ``ALGORITHMS`` imports them only when one of them is looked up.
"""

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from gymnasium import spaces
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm

import sb3_large

CONFIG_NAME = "sb3_large_config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
FORMAT_VERSION = 1
# Deepest nesting of lists and objects a config may have (a Box of 30 dimensions fits): checked without
# recursion, so that no check, decoder or encoder of a config recurses deeper than this.
MAX_NESTING = 32
COMMIT_MESSAGE = "Upload sb3-large model"


class _Algorithms(Mapping[str, type[BaseAlgorithm]]):
    """The config's ``algorithm`` -> its class; a class is imported when it is looked up (sb3_large's learners
    load torch.compile's machinery: only a process that saves or loads one of their models pays it)."""

    def __init__(self, classes: dict[str, Callable[[], type[BaseAlgorithm]]]):
        self._classes = classes

    def __getitem__(self, name: str) -> type[BaseAlgorithm]:
        return self._classes[name]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)


# The config's ``algorithm`` -> the class a model is saved from and loaded into (exact classes: a model of
# sb3_large.SAC comes back as one, with its cross-entropy loss for categorical critics).
ALGORITHMS: Mapping[str, type[BaseAlgorithm]] = _Algorithms(
    {
        "SAC": lambda: SAC,
        "TD3": lambda: TD3,
        "DDPG": lambda: DDPG,
        "TQC": lambda: TQC,
        "CrossQ": lambda: CrossQ,
        "sb3_large.SAC": lambda: sb3_large.SAC,
        "sb3_large.TD3": lambda: sb3_large.TD3,
    }
)


def algorithm_name(model: BaseAlgorithm) -> str:
    """The config's ``algorithm`` of ``model``: its exact class's name in ``ALGORITHMS`` (looked up in order, so
    that a model of SB3's own classes imports no learner)."""
    algorithm = next((name for name, algo in ALGORITHMS.items() if type(model) is algo), None)
    if algorithm is None:
        raise ValueError(f"model: algorithm {type(model).__name__} is not supported; allowed: {', '.join(ALGORITHMS)}")
    return algorithm


def printable(text: str) -> str:
    """``text`` with every character a terminal could act on (escape sequences, other control and format
    characters, line breaks) written as its escape, as ``repr`` does: names and values from a file go into messages."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


# -- JSON encoding of policy kwargs and spaces -----------------------------------------------------------------
def encode(value: Any, where: str, depth: int = 0) -> Any:
    """``value`` as JSON data: classes as ``{"__class__": "pkg.module.Class"}``; ``where`` names it in errors."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_NESTING:
        raise TypeError(f"{where}: nested more than {MAX_NESTING} levels deep; {CONFIG_NAME} holds no deeper settings")
    if isinstance(value, (list, tuple)):
        return [encode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): encode(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, type):
        return {"__class__": f"{value.__module__}.{value.__qualname__}"}
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored in {CONFIG_NAME} (use names or classes)")


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    if not isinstance(space, spaces.Box):
        raise TypeError(f"only Box spaces are stored, got {type(space).__name__}")
    return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(), "dtype": str(space.dtype)}


def model_card(config: dict[str, Any]) -> str:
    """The folder's ``README.md``, from its (checked) config."""
    # The env id and metric names are the user's text: the front matter's tag is a JSON string (valid YAML, so a
    # quote, colon or line break cannot add keys), and in the body line breaks are written as escapes.
    kwargs = json.dumps(config["policy_kwargs"], indent=2)
    metrics = "\n".join(printable(f"- {k}: {v}") for k, v in config["metrics"].items()) or "- none recorded"
    return f"""---
library_name: sb3-large
tags:
- reinforcement-learning
- stable-baselines3
- {json.dumps(config["env_id"] or "continuous-control")}
---
# {config["algorithm"]} with large networks (sb3-large) on {printable(config["env_id"] or "an unnamed env")}

Policy `{config["policy_class"]}`, {config["parameters"]["total"]:,} parameters.

## Metrics
{metrics}

## Policy kwargs
```json
{kwargs}
```

## Load
```python
from sb3_large.hub import load_pretrained

model = load_pretrained("<this repo id or folder>")
```
Weights are safetensors and the config is JSON: loading runs no pickle.
"""
