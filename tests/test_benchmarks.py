"""The benchmark scripts run (smoke tests: figures are never asserted, only that rows come out)."""

import json

from .conftest import ROOT, run_python


def json_rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_apex_scaling_quick(tmp_path):
    out = run_python([str(ROOT / "benchmarks" / "apex_scaling.py"), "--quick", "--actors", "1"], cwd=tmp_path).stdout
    (row,) = json_rows(out)
    assert row["backend"] == "local" and row["n_actors"] == 1 and row["env_steps_per_s"] > 0


def test_param_counts(tmp_path):
    args = [str(ROOT / "benchmarks" / "param_counts.py"), "--widths", "8", "16", "--obs-dim", "5", "--act-dim", "2"]
    out = run_python(args, cwd=tmp_path).stdout
    assert "| densenet |" in out and "| residual |" in out


def test_learner_throughput_quick(tmp_path):
    out = run_python([str(ROOT / "benchmarks" / "learner_throughput.py"), "--quick", "--algos", "sac"], cwd=tmp_path)
    rows = json_rows(out.stdout)
    assert {(r["algo"], r["arch"]) for r in rows} == {("sac", "mlp"), ("sac", "densenet")}
    keys = {"sb3_updates_per_s", "ours_updates_per_s", "speedup", "peak_gflops", "sb3_peak_rss_mb", "ours_peak_rss_mb"}
    assert all(keys <= set(r) and r["ours_updates_per_s"] > 0 for r in rows)
