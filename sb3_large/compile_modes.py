"""The learners' ``compile`` choices, in a module of their own: the Hub checks a config's ``compile`` against them
without importing the learners (they load torch.compile's machinery)."""

# None: eager updates; "update": each gradient step under torch.compile (``sb3_large.learners.common``).
COMPILE_MODES = (None, "update")
