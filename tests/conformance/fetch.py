"""Fetch Stable-Baselines3's and sb3-contrib's own test files, at exactly the installed versions.

Their PyPI source distributions ship ``tests/``; this downloads them with pip (``--no-deps --no-binary :all:``),
and lays the selected files, byte for byte, into two generated (git-ignored) packages next to this file:

    stock/{sb3,contrib}/test_*.py   SB3's algorithms, "MlpPolicy" replaced by sb3-large's LargeMlpPolicy
    fast/sb3/test_*.py              the same, with sb3_large.SAC / sb3_large.TD3 as SAC / TD3

``conftest.py`` here does the replacing. Run ``python tests/conformance/fetch.py`` by hand, or let pytest
call it on collection (it fetches once per installed version).
"""

import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / "_cache"
# The off-policy contracts: save/load, predict, train/eval mode, determinism, runs, custom policy kwargs,
# spaces, gSDE; TQC's runs and save/load.
FILES = {
    "stable-baselines3": (
        "sb3",
        [
            "test_save_load.py",
            "test_predict.py",
            "test_train_eval_mode.py",
            "test_deterministic.py",
            "test_run.py",
            "test_custom_policy.py",
            "test_spaces.py",
            "test_sde.py",
        ],
    ),
    "sb3-contrib": ("contrib", ["test_run.py", "test_save_load.py"]),
}
VARIANTS = {"stock": ("stable-baselines3", "sb3-contrib"), "fast": ("stable-baselines3",)}


def sdist(package: str) -> Path:
    """The package's source distribution at the installed version, downloaded once into ``_cache``."""
    pinned = f"{package}=={version(package)}"
    folder = CACHE / pinned
    found = sorted(folder.glob("*.tar.gz"))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(folder)]
        proc = subprocess.run([*command, pinned], capture_output=True, text=True)
        found = sorted(folder.glob("*.tar.gz"))
        if proc.returncode != 0 or not found:
            raise RuntimeError(
                f"conformance suite: cannot download the {pinned} source distribution from PyPI:\n"
                f"{proc.stderr[-2000:]}\nRun `python tests/conformance/fetch.py` where PyPI is reachable, "
                "or leave the suite out with `--ignore=tests/conformance`."
            )
    return found[0]


def unpack_tests(package: str) -> dict[str, bytes]:
    """The selected test files of ``package``'s sdist, by name."""
    subfolder, names = FILES[package]
    files = {}
    with tarfile.open(sdist(package)) as archive:
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if len(parts) == 3 and parts[1] == "tests" and parts[2] in names and member.isfile():
                files[parts[2]] = archive.extractfile(member).read()
    missing = sorted(set(names) - set(files))
    if missing:
        raise RuntimeError(f"conformance suite: {package} {version(package)} ships no tests/{', '.join(missing)}")
    return files


def fetch() -> list[Path]:
    """Lay the test files out (again where the installed versions changed); the variant folders written."""
    written = []
    for variant, packages in VARIANTS.items():
        root = HERE / variant
        stamp = root / "VERSIONS"
        versions = " ".join(f"{p}=={version(p)}" for p in packages)
        if stamp.is_file() and stamp.read_text() == versions:
            continue
        with tempfile.TemporaryDirectory(dir=HERE) as tmp:
            staged = Path(tmp) / variant
            staged.mkdir()
            (staged / "__init__.py").write_text("")
            for package in packages:
                subfolder = staged / FILES[package][0]
                subfolder.mkdir()
                (subfolder / "__init__.py").write_text("")
                for name, data in unpack_tests(package).items():
                    (subfolder / name).write_bytes(data)
            (staged / "VERSIONS").write_text(versions)
            if root.exists():
                _remove_generated(root)
            staged.rename(root)
        written.append(root)
    return written


def _remove_generated(root: Path) -> None:
    """Remove a variant folder this script wrote earlier (only ever one of ours: it has a VERSIONS stamp)."""
    if not (root / "VERSIONS").is_file():
        raise RuntimeError(f"conformance suite: {root} exists and was not written by fetch.py; remove it by hand")
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    root.rmdir()


if __name__ == "__main__":
    for folder in fetch():
        print(f"wrote {folder}")
    print("conformance suite ready:", ", ".join(f"{p}=={version(p)}" for p in FILES))
