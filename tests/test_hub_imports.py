"""What importing the Hub costs: sb3_large's learners load torch.compile's machinery (seconds per process), so the
Hub imports them only when a model of theirs is looked up."""

from .conftest import run_python

HEAVY = "m == 'torch._dynamo' or m == 'sb3_large.learners' or m.startswith('sb3_large.learners.')"


def test_importing_the_hub_loads_no_learner_nor_torch_compile(tmp_path):
    script = f"import sys, sb3_large.hub; print(sorted(m for m in sys.modules if {HEAVY}))"
    assert run_python(["-c", script], cwd=tmp_path).stdout.strip() == "[]"
