"""Plots of a user's own runs: ``python -m sb3_large.plot logs/ [more folders] [--out plot.png]``.

A *run* is a folder holding any of RL Zoo's and SB3's logs: ``evaluations.npz`` (``EvalCallback``),
``*.monitor.csv`` (training episodes), ``progress.csv`` (SB3's CSV logger) or tensorboard event files (SB3's
tensorboard logger, ``rl_zoo3.train -tb``; read when ``tensorboard`` is installed).

Runs are grouped by their configuration, never by folder names alone: RL Zoo records a run's configuration in
``<run>/<env>/config.yml`` (hyperparameters) and ``args.yml`` (command line), and runs of the same algorithm,
environment, hyperparameters and budget are the seeds of one *experiment*. A run without a recorded configuration
(SB3's or tensorboard's own folders) is an experiment of its own, unless ``seeds_by_name`` groups those whose
folder names differ only in a trailing ``_<n>``.

The figure has one column of panels per environment (each panel its own y-axis) and one row per key: the
evaluation return, the training-episode return (never averaged together), then the ``diagnostics/*`` keys that
``RepresentationDiagnostics`` logs. Each panel draws, per experiment, the mean over its runs and a band of one
standard deviation; short series get markers, so a single point shows. Runs that cannot be drawn are returned
with the reason (``scan_runs``).

Modules: ``runs`` reads one run folder, ``scan`` finds the runs below folders and groups them, ``figure`` draws
and saves; the names below are the public ones.
"""

from sb3_large.plot.figure import environments, mean_and_spread, panel_keys, plot_runs, save_figure
from sb3_large.plot.runs import Run, ZooConfig, read_run, read_zoo_config
from sb3_large.plot.scan import Scan, find_runs, scan_runs

__all__ = [
    "Run",
    "Scan",
    "ZooConfig",
    "environments",
    "find_runs",
    "mean_and_spread",
    "panel_keys",
    "plot_runs",
    "read_run",
    "read_zoo_config",
    "save_figure",
    "scan_runs",
]
