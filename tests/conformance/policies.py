"""What SB3's tests get for "MlpPolicy": sb3-large's policies, narrow by default so that the suite is quick.

A test that gives ``net_arch`` sets width and depth through SB3's shorthand, as a user would. ``BUILT``
counts the policies built, so that the conftest can tell a test that never built one.
"""

from collections import Counter

from sb3_large.policies import LargeSACPolicy, LargeTD3Policy, LargeTQCPolicy

WIDTH = 16
BUILT: Counter = Counter()


class ConformanceSACPolicy(LargeSACPolicy):
    def __init__(self, *args, width: int = WIDTH, **kwargs):
        super().__init__(*args, width=width, **kwargs)
        BUILT[type(self).__name__] += 1


class ConformanceTD3Policy(LargeTD3Policy):
    def __init__(self, *args, width: int = WIDTH, **kwargs):
        super().__init__(*args, width=width, **kwargs)
        BUILT[type(self).__name__] += 1


class ConformanceTQCPolicy(LargeTQCPolicy):
    def __init__(self, *args, width: int = WIDTH, **kwargs):
        super().__init__(*args, width=width, **kwargs)
        BUILT[type(self).__name__] += 1
