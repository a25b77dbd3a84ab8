"""Hub format: safetensors + JSON, loaded from a folder or from a real huggingface_hub cache, offline."""

import json
import shutil

import numpy as np
import pytest
from stable_baselines3 import SAC, TD3

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.hub import CONFIG_NAME, WEIGHTS_NAME, PickleRefusedError, load_pretrained, save_pretrained
from sb3_large.ofenet import OFENetTrainer

from .conftest import run_python

OBS = np.random.default_rng(0).uniform(-1, 1, size=(16, 3)).astype(np.float32)

LOAD_AND_ACT = """
import sys
import numpy as np
from sb3_large.hub import load_pretrained

model = load_pretrained(sys.argv[1])
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), deterministic=True)[0])
print(type(model).__name__, type(model.policy).__name__)
"""


def trained(algo, policy: str, **policy_kwargs):
    kwargs = dict(width=16, **policy_kwargs)
    if policy == "OFENetPolicy":
        kwargs["ofenet"] = dict(layers=2, growth=8, pretrain_steps=20)
    model = algo(policy, "Pendulum-v1", learning_starts=50, seed=0, policy_kwargs=kwargs)
    model.learn(150, callback=OFENetTrainer() if policy == "OFENetPolicy" else None)
    return model


def actions_in_fresh_process(source: str, cwd, env=None) -> tuple[np.ndarray, str]:
    np.save(cwd / "obs.npy", OBS)
    out = run_python(["-c", LOAD_AND_ACT, source, "obs.npy", "act.npy"], cwd=cwd, env=env).stdout
    return np.load(cwd / "act.npy"), out.strip()


CASES = [
    (SAC, "LargeMlpPolicy", {"arch": "densenet"}),
    (TD3, "LargeMlpPolicy", {"arch": "mlp", "activation": "tanh"}),
    (SAC, "OFENetPolicy", {}),
    (TD3, "OFENetPolicy", {}),
]


@pytest.mark.parametrize("algo, policy, kwargs", CASES, ids=[f"{a.__name__}-{p}" for a, p, _ in CASES])
def test_save_then_load_in_a_fresh_process_gives_identical_actions(tmp_path, algo, policy, kwargs):
    model = trained(algo, policy, **kwargs)
    folder = save_pretrained(model, tmp_path / "model", metrics={"mean_return": -1234.5})
    assert sorted(p.name for p in folder.iterdir()) == sorted(["README.md", CONFIG_NAME, WEIGHTS_NAME])
    assert b"\x80" not in (folder / CONFIG_NAME).read_bytes()  # JSON, no pickle
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert config["env_id"] == "Pendulum-v1" and config["parameters"]["total"] > 0
    actions, out = actions_in_fresh_process(str(folder), tmp_path)
    assert np.array_equal(actions, model.predict(OBS, deterministic=True)[0])
    assert out == f"{algo.__name__} {type(model.policy).__name__}"


def fake_hub_cache(cache, repo_id: str, folder, commit: str = "0123456789abcdef0123456789abcdef01234567"):
    """A huggingface_hub cache as the library lays it out: refs/main -> snapshots/<commit>/<files>."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "blobs").mkdir()


def test_offline_load_of_a_repo_id_from_the_cache(tmp_path):
    model = trained(SAC, "LargeMlpPolicy", arch="d2rl")
    fake_hub_cache(tmp_path / "cache", "org/sac-large-pendulum", save_pretrained(model, tmp_path / "model"))
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "cache")}
    actions, _ = actions_in_fresh_process("org/sac-large-pendulum", tmp_path, env=env)
    assert np.array_equal(actions, model.predict(OBS, deterministic=True)[0])


def test_a_repo_neither_cached_nor_reachable_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"repo 'org/missing' is not in the local Hugging Face cache"):
        load_pretrained("org/missing")


def test_a_pickled_zip_needs_trust_pickle(tmp_path):
    model = trained(SAC, "LargeMlpPolicy")
    (tmp_path / "zoo").mkdir()
    model.save(tmp_path / "zoo" / "sac-Pendulum-v1.zip")
    with pytest.raises(PickleRefusedError, match=r"pickled SB3 model .*unpickling runs arbitrary code.*trust_pickle"):
        load_pretrained(tmp_path / "zoo")
    loaded = load_pretrained(tmp_path / "zoo", trust_pickle=True)
    assert np.array_equal(loaded.predict(OBS, deterministic=True)[0], model.predict(OBS, deterministic=True)[0])


@pytest.fixture
def saved(tmp_path):
    return save_pretrained(trained(SAC, "LargeMlpPolicy"), tmp_path / "model")


def _edit_config(folder, **changes):
    config = json.loads((folder / CONFIG_NAME).read_text())
    for key, value in changes.items():
        config["policy_kwargs"][key] = value
    (folder / CONFIG_NAME).write_text(json.dumps(config))


def test_bad_inputs(tmp_path, saved):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"holds no sb3_large_config.json .*and no SB3 .zip"):
        load_pretrained(tmp_path / "empty")

    unknown = shutil.copytree(saved, tmp_path / "unknown_arch")
    _edit_config(unknown, arch="fancy_plugin_arch")
    with pytest.raises(ValueError, match=r"cannot be built: .*unknown architecture 'fancy_plugin_arch'"):
        load_pretrained(unknown)

    wider = shutil.copytree(saved, tmp_path / "wider")
    _edit_config(wider, width=32)
    with pytest.raises(ValueError, match=r"model.safetensors does not match sb3_large_config.json"):
        load_pretrained(wider)

    truncated = shutil.copytree(saved, tmp_path / "truncated")
    data = (truncated / WEIGHTS_NAME).read_bytes()
    (truncated / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model.safetensors: cannot be read .*truncated or corrupt"):
        load_pretrained(truncated)

    broken_json = shutil.copytree(saved, tmp_path / "broken_json")
    text = (broken_json / CONFIG_NAME).read_text()
    (broken_json / CONFIG_NAME).write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"sb3_large_config.json: not valid JSON"):
        load_pretrained(broken_json)

    with pytest.raises(FileNotFoundError, match=r"neither a folder nor a Hub repo id"):
        load_pretrained(tmp_path / "nope.zip")


def test_save_replaces_an_existing_folder(tmp_path, saved):
    other = trained(TD3, "LargeMlpPolicy")
    save_pretrained(other, saved)
    assert json.loads((saved / CONFIG_NAME).read_text())["algorithm"] == "TD3"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_info_and_rl_zoo_export_then_stock_enjoy(tmp_path, saved):
    out = run_python(["-m", "sb3_large.hub", "info", str(saved)], cwd=tmp_path).stdout
    assert json.loads(out)["algorithm"] == "SAC"
    args = ["-m", "sb3_large.hub", "download", str(saved), "--zoo-folder", "logs", "--algo", "sac"]
    out = run_python(args, cwd=tmp_path).stdout
    assert "logs/sac/Pendulum-v1_1" in out
    enjoy = ["-m", "rl_zoo3.enjoy", "--algo", "sac", "--env", "Pendulum-v1", "-f", "logs", "-n", "50", "--no-render"]
    out = run_python(enjoy, cwd=tmp_path).stdout
    assert "Loading logs/sac/Pendulum-v1_1/Pendulum-v1.zip" in out
