"""Run Stable-Baselines3's and sb3-contrib's own off-policy tests against sb3-large (see ``fetch.py``).

Every test builds its models as written; "MlpPolicy" of SAC, TD3 (DDPG) and TQC resolves to sb3-large's
large policy (``policies.py``), and in ``fast/`` the test module's SAC / TD3 are ``sb3_large.SAC`` / ``TD3``.
What cannot apply is skipped with its reason (pytest's ``-ra`` summary counts them): other algorithms,
CNN / Dict policies, and ``net_arch=[]`` (no hidden layer: a large body has at least one layer, the one
deliberate difference). A test that passes without ever building a large policy is reported as skipped
too, so that the pass count is what was checked.
"""

import pytest
import stable_baselines3 as sb3
from sb3_contrib import TQC

import sb3_large
from tests.conformance import fetch, policies

fetch.fetch()  # before pytest lists this folder: the test files must exist to be collected

LARGE = {
    sb3.SAC: policies.ConformanceSACPolicy,
    sb3.TD3: policies.ConformanceTD3Policy,
    TQC: policies.ConformanceTQCPolicy,
}
FAST = {sb3.SAC: sb3_large.SAC, sb3.TD3: sb3_large.TD3}
LARGE_ALGOS = (sb3.SAC, sb3.TD3, sb3.DDPG, TQC)
OTHER_ALGO_WORDS = ("a2c", "ppo", "dqn", "trpo", "ars", "crossq", "maskable", "her")
BUILT_BEFORE = pytest.StashKey[int]()


def _reason(item: pytest.Item) -> str | None:
    """Why SB3's test ``item`` cannot apply to a large policy, or None."""
    params = getattr(item, "callspec", None).params if hasattr(item, "callspec") else {}
    classes = [v for v in params.values() if isinstance(v, type)]
    others = [c.__name__ for c in classes if c.__module__.startswith(("stable_baselines3", "sb3_contrib"))]
    others = [name for name in others if name not in {a.__name__ for a in LARGE_ALGOS}]
    if others:
        return f"{others[0]}: no large policy (on-policy or discrete-action algorithm)"
    if params.get("policy_str") in ("CnnPolicy", "MultiInputPolicy"):
        return f"{params['policy_str']}: large policies take vector observations"
    if params.get("net_arch") == []:
        return "net_arch=[] (no hidden layer): a large body has at least one layer (documented difference)"
    name = item.originalname.lower()
    if not any(c in LARGE_ALGOS for c in classes) and any(word in name.split("_") for word in OTHER_ALGO_WORDS):
        return f"{item.originalname}: tests another algorithm, no large policy"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        variant = item.path.relative_to(fetch.HERE).parts[0] if item.path.is_relative_to(fetch.HERE) else None
        if variant is None:
            continue
        reason = _reason(item)
        if variant == "fast" and item.get_closest_marker("expensive"):
            # The >2 GB save/load: the fast learners save and load with SB3's code and the same policy.
            reason = "marked expensive by SB3; the same save/load code and policy run it in stock/"
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
        if variant == "fast":
            # The classes the test module imported, and those its parametrize lists hold.
            for name, fast in (("SAC", sb3_large.SAC), ("TD3", sb3_large.TD3)):
                if getattr(item.module, name, None) is getattr(sb3, name):
                    setattr(item.module, name, fast)
            for table in [v for v in vars(item.module).values() if isinstance(v, dict)]:  # e.g. {SAC: helper}
                for stock in [k for k in table if isinstance(k, type) and k in FAST]:
                    table.setdefault(FAST[stock], table[stock])
            if hasattr(item, "callspec"):
                for key, value in item.callspec.params.items():
                    if isinstance(value, type) and value in FAST:
                        item.callspec.params[key] = FAST[value]


@pytest.fixture(autouse=True)
def large_mlp_policy(request, monkeypatch):
    """ "MlpPolicy" is the large policy for the test's duration."""
    if request.node.path.is_relative_to(fetch.HERE):
        for algo, policy in LARGE.items():
            monkeypatch.setitem(algo.policy_aliases, "MlpPolicy", policy)
        request.node.stash[BUILT_BEFORE] = policies.BUILT.total()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    before = item.stash.get(BUILT_BEFORE, None)
    if call.when == "call" and report.passed and before is not None and policies.BUILT.total() == before:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1], "Skipped: never builds a large policy (SB3-only code)")
    return report
