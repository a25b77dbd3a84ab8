"""RL Zoo's own tools on a tiny run of a large policy: ``plot_train``, ``all_plots`` and headless ``record_video``.

They need the ``zoo`` extra (pandas, seaborn, scipy, moviepy, imageio-ffmpeg; pygame for Pendulum's frames).
RL Zoo's plot scripts end with ``plt.show()``: ``MPLBACKEND=module://sb3_large.plot.backend_files`` turns that
into image files.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "hyperparams" / "sac_large.yml")
TINY = ["-params", "learning_starts:100", "policy_kwargs:dict(width=16, depth=1)"]
BACKEND = "module://sb3_large.plot.backend_files"


def _env(**extra) -> dict:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}


def _run(args: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _assert_image(path: Path) -> None:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100
        assert len(np.unique(np.asarray(image.convert("L")))) > 10  # something is drawn, not a blank canvas


@pytest.fixture(scope="module")
def zoo_logs(tmp_path_factory) -> Path:
    """Two runs (seeds) of a large SAC policy on Pendulum-v1, with training episodes and evaluations."""
    cwd = tmp_path_factory.mktemp("zoo")
    for seed in ("1", "2"):
        train = ["-m", "rl_zoo3.train", "--algo", "sac", "--env", "Pendulum-v1", "-conf", CONF, "-f", "logs"]
        _run([*train, "-n", "800", "--eval-freq", "200", "--eval-episodes", "1", "--seed", seed, *TINY], cwd)
    return cwd


def test_plot_train_writes_the_figure(zoo_logs, tmp_path):
    figures = tmp_path / "figures"
    plot = ["-m", "rl_zoo3.cli", "plot_train", "-a", "sac", "-e", "Pendulum-v1", "-f", str(zoo_logs / "logs")]
    _run([*plot, "-w", "1"], tmp_path, MPLBACKEND=BACKEND, SB3_LARGE_FIGURES=str(figures))
    _assert_image(figures / "Training_Episodic_Reward.png")


def test_all_plots_writes_the_figures(zoo_logs, tmp_path):
    figures = tmp_path / "figures"
    plot = ["-m", "rl_zoo3.cli", "all_plots", "-a", "sac", "-e", "Pendulum-v1", "-f", str(zoo_logs / "logs")]
    result = _run([*plot, "--no-million"], tmp_path, MPLBACKEND=BACKEND, SB3_LARGE_FIGURES=str(figures))
    assert "Pendulum-v1" in result.stdout  # the results table
    _assert_image(figures / "Results_Pendulum-v1.png")


@pytest.mark.skipif(
    importlib.util.find_spec("pygame") is None,
    reason="record_video of Pendulum-v1 needs pygame: pip install 'sb3-large[zoo]'",
)
def test_record_video_of_a_classic_control_entry(zoo_logs, tmp_path):
    """Pendulum-v1 renders with pygame (the zoo extra), without a display or OpenGL."""
    record = ["-m", "rl_zoo3.record_video", "--algo", "sac", "--env", "Pendulum-v1", "-f", str(zoo_logs / "logs")]
    _run([*record, "-n", "30", "-o", str(tmp_path / "videos")], tmp_path)
    (video,) = (tmp_path / "videos").glob("*.mp4")
    import imageio.v3 as iio

    frames = np.stack(list(iio.imiter(video, plugin="FFMPEG")))
    assert frames.ndim == 4 and frames.shape[0] >= 20 and frames.std() > 0  # the pendulum is drawn


def _headless_gl() -> str | None:
    """The first of ``egl``, ``osmesa`` with which MuJoCo renders a frame here, else ``None``."""
    probe = "import gymnasium as gym; e = gym.make('InvertedPendulum-v4', render_mode='rgb_array'); e.reset(); "
    probe += "assert e.render().std() > 0"
    for backend in ("egl", "osmesa"):
        env = _env(MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
        if subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, timeout=120).returncode == 0:
            return backend
    return None


def test_record_video_headless(tmp_path):
    backend = _headless_gl()
    if backend is None:
        pytest.skip("no headless OpenGL: MuJoCo renders with neither MUJOCO_GL=egl nor osmesa (apt install libegl1)")
    train = ["-m", "rl_zoo3.train", "--algo", "sac", "--env", "InvertedPendulum-v4", "-conf", CONF, "-f", "logs"]
    _run([*train, "-n", "300", *TINY], tmp_path)
    record = ["-m", "rl_zoo3.record_video", "--algo", "sac", "--env", "InvertedPendulum-v4", "-f", "logs"]
    _run([*record, "-n", "30", "-o", "videos"], tmp_path, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
    (video,) = (tmp_path / "videos").glob("*.mp4")
    import imageio.v3 as iio

    frames = np.stack(list(iio.imiter(video, plugin="FFMPEG")))
    assert frames.ndim == 4 and frames.shape[0] >= 20 and frames.shape[-1] == 3
    assert frames.std() > 0  # the pendulum is drawn, not a blank frame
