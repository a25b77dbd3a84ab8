"""Argument checks shared by every public constructor: one error that names the field and what it allows."""

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def is_int(value: Any) -> bool:
    """A Python or numpy integer, not a bool (SB3 reports sizes as numpy integers)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer >= ``minimum``; a ValueError naming ``name`` otherwise."""
    if not is_int(value) or int(value) < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name}: must be {expected}, got {value!r}")
    return int(value)


def check_number(name: str, value: Any, minimum: float = 0.0, inclusive: bool = True) -> float:
    """``value`` as a ``float`` if it is a finite real number above ``minimum`` (or equal, if ``inclusive``)."""
    try:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        ok = False
    if not ok or not (value >= minimum if inclusive else value > minimum):
        bound = "" if minimum == -math.inf else f" {'>=' if inclusive else '>'} {minimum:g}"
        raise ValueError(f"{name}: must be a finite number{bound}, got {value!r}")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: must be True or False, got {value!r}")
    return value


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}: unknown value {value!r}; allowed: {', '.join(map(str, allowed))}")
    return value


def check_keys(where: str, values: Mapping[str, Any] | None, allowed: Iterable[str]) -> dict[str, Any]:
    """``values`` as a dict if every key is one of ``allowed``; a ValueError naming the first unknown key."""
    values, allowed = dict(values or {}), list(allowed)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown option; allowed: {', '.join(allowed)}")
    return values
