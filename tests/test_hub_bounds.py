"""Bounds on what the Hub loader reads: each file's size before it is parsed, the config's top level before its
nested values are walked, and a Box's bounds against its dtype."""

import contextlib
import json
import os
import re
import shutil
import tracemalloc
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import yaml
from stable_baselines3 import SAC

import sb3_large  # noqa: F401  (registers the policy aliases)
from sb3_large.hub import (
    ALGORITHMS,
    CONFIG_NAME,
    load_pretrained,
    locate,
    read_config,
    save_pretrained,
    schema,
    zoo_runs,
)
from sb3_large.hub import main as hub_main
from sb3_large.hub.origin import origin_of
from sb3_large.hub.schema import MAX_NESTING, check_nesting, space_from_json, validate_config

# The loader's caps, as its messages give them: 1 MiB for a config, 256 KiB for an RL Zoo run's args.yml, 16 MiB
# for the JSON part of an SB3 zip.
CONFIG_LIMIT, ARGS_LIMIT, ZIP_DATA_LIMIT = 2**20, 2**18, 2**24


@pytest.fixture(scope="module")
def saved_once(tmp_path_factory):
    model = SAC("LargeMlpPolicy", "Pendulum-v1", policy_kwargs=dict(width=16), seed=0)
    return save_pretrained(model, tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture
def saved(tmp_path, saved_once):
    return shutil.copytree(saved_once, tmp_path / "model")


@pytest.fixture
def no_parsing(monkeypatch):
    """Fails the test if the loader parses any JSON or YAML."""

    def fail(*args, **kwargs):
        pytest.fail("a file was parsed")

    monkeypatch.setattr(locate.json, "loads", fail)
    monkeypatch.setattr(zoo_runs.yaml, "load", fail)


def _config(folder):
    return json.loads((folder / CONFIG_NAME).read_text())


def _write(folder, config, size: int | None = None):
    """The config as JSON, padded with trailing whitespace (still valid JSON) to ``size`` bytes."""
    text = json.dumps(config)
    (folder / CONFIG_NAME).write_text(text if size is None else text.ljust(size))


def _error(folder, how, capsys) -> str:
    """The one error the loader (``how="load"``) or ``hub info`` gives for the model ``folder``."""
    if how == "load":
        with pytest.raises(ValueError) as error:
            load_pretrained(folder)
        return str(error.value)
    with pytest.raises(SystemExit) as exit_info:
        hub_main(["info", str(folder)])
    assert exit_info.value.code == 1
    return capsys.readouterr().err


# -- each file's size, from the file system, before it is read ------------------------------------------------------
@pytest.mark.parametrize("how", ["load", "info"])
def test_a_config_over_the_limit_is_refused_unparsed(saved, capsys, no_parsing, how):
    """A file one byte over the cap (sparse: nothing is written) is refused from its size alone."""
    with (saved / CONFIG_NAME).open("r+b") as file:
        file.truncate(CONFIG_LIMIT + 1)
    message = _error(saved, how, capsys)
    assert re.search(r"sb3_large_config.json: larger than the 1,048,576 bytes allowed .*nothing was parsed", message)


def test_a_config_at_the_limit_is_read(saved, capsys):
    _write(saved, _config(saved), size=CONFIG_LIMIT)
    assert (saved / CONFIG_NAME).stat().st_size == CONFIG_LIMIT
    assert read_config(saved)["algorithm"] == "SAC"
    hub_main(["info", str(saved)])
    assert json.loads(capsys.readouterr().out)["algorithm"] == "SAC"
    assert type(load_pretrained(saved)) is SAC


def test_a_config_larger_than_its_size_says_is_refused_at_the_limit(saved, monkeypatch):
    """The size comes from the file system; the read itself stops one byte past the limit all the same."""
    _write(saved, _config(saved), size=CONFIG_LIMIT + 1)
    real_fstat = os.fstat

    def reports_empty(fd):
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, 0, *st[7:10]))

    monkeypatch.setattr(locate.os, "fstat", reports_empty)
    with pytest.raises(ValueError, match=r"sb3_large_config.json: larger than the 1,048,576 bytes allowed"):
        read_config(saved)


def _zoo_run(tmp_path):
    run = tmp_path / "run"
    (run / "Pendulum-v1").mkdir(parents=True)
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8])).save(run / "Pendulum-v1.zip")
    return run


def test_an_args_yml_over_the_limit_is_refused_unparsed(tmp_path, no_parsing):
    run = _zoo_run(tmp_path)
    with (run / "Pendulum-v1" / "args.yml").open("wb") as file:
        file.truncate(ARGS_LIMIT + 1)
    with pytest.raises(ValueError, match=r"args.yml: larger than the 262,144 bytes allowed .*nothing was parsed"):
        load_pretrained(run, trust_pickle=True)


def test_an_args_yml_at_the_limit_is_read(tmp_path):
    run = _zoo_run(tmp_path)
    (run / "Pendulum-v1" / "args.yml").write_text("env: Pendulum-v1\n".ljust(ARGS_LIMIT))
    model = load_pretrained(run, trust_pickle=True)
    assert origin_of(model).env_id == "Pendulum-v1"


def test_an_args_yml_as_rl_zoo_writes_it_is_read(tmp_path):
    """The capped read gives the parser bytes: RL Zoo's OrderedDict still reads as the run's arguments."""
    run = _zoo_run(tmp_path)
    (run / "Pendulum-v1" / "args.yml").write_text(yaml.dump(OrderedDict(algo="sac", env="Pendulum-v1")))
    model = load_pretrained(run, trust_pickle=True)
    assert origin_of(model).env_id == "Pendulum-v1"


def test_a_deeply_nested_args_yml_is_warned_of_not_raised(tmp_path):
    """Like any args.yml that is not plain data: the env id is not read, the model loads."""
    run = _zoo_run(tmp_path)
    deep = "[" * 2000 + "]" * 2000
    (run / "Pendulum-v1" / "args.yml").write_text(f"!!python/object/apply:collections.OrderedDict {deep}")
    with pytest.warns(UserWarning, match=r"args.yml: not plain data, the run's env id is not read"):
        assert type(load_pretrained(run, trust_pickle=True)) is SAC


def test_the_data_of_an_sb3_zip_over_the_limit_is_refused_unparsed(tmp_path, no_parsing):
    """The zip's JSON part is capped by the size its entry declares (zipfile reads no more than that)."""
    with zipfile.ZipFile(tmp_path / "model.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data", b" " * (ZIP_DATA_LIMIT + 1))
    with pytest.raises(ValueError, match=r"model.zip: data: larger than the 16,777,216 bytes allowed"):
        load_pretrained(tmp_path / "model.zip", trust_pickle=True)


# -- the top level before the nested values, walked in bounded memory --------------------------------------------------
def _deep(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value, 0]
    return value


@pytest.mark.parametrize("how", ["load", "info"])
@pytest.mark.parametrize("metrics", ["long", "deep"])
def test_the_top_level_is_checked_before_nested_values_are_walked(saved, capsys, monkeypatch, how, metrics):
    config = _config(saved)
    config["format_version"] = 2
    config["metrics"] = {"returns": list(range(10**5)) if metrics == "long" else _deep(MAX_NESTING + 5)}
    _write(saved, config)

    def fail(value, field):
        pytest.fail(f"{field} was walked before the top level was checked")

    monkeypatch.setattr(schema, "check_nesting", fail)
    assert re.search(r"sb3_large_config.json: format_version: 2 is not 1", _error(saved, how, capsys))


def test_a_long_list_small_enough_to_load_is_accepted_as_before(saved):
    config = _config(saved)
    config["metrics"] = {"returns": list(range(10**5))}
    _write(saved, config)
    assert read_config(saved)["metrics"]["returns"][-1] == 10**5 - 1


@pytest.mark.parametrize("depth, refused", [(MAX_NESTING, False), (MAX_NESTING + 1, True), (10**4, True)])
def test_nesting_is_refused_past_its_cap_as_before(saved, depth, refused):
    config = _config(saved)
    config["metrics"] = {"deep": _deep(depth - 1)}  # the metrics object itself is one level
    message = r"metrics: lists and objects are nested more than 32 levels deep"
    with pytest.raises(ValueError, match=message) if refused else contextlib.nullcontext():
        validate_config(config, ALGORITHMS)


def test_an_empty_list_or_object_at_the_deepest_level_is_accepted_as_before():
    for empty in ([], {}):
        value: object = empty
        for _ in range(MAX_NESTING):
            value = [value]
        check_nesting(value, "metrics")


def test_the_nesting_walk_takes_memory_by_depth_not_length():
    """A list of 10**5 numbers: the walk keeps one iterator per level, not an entry per element."""
    values = {"returns": list(range(10**5))}
    tracemalloc.start()
    try:
        check_nesting(values, "metrics")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"the walk peaked at {peak} bytes"


# -- a Box's bounds against its dtype ----------------------------------------------------------------------------------
BAD_BOUNDS = {
    "uint8 below 0": (
        ("observation_space", "uint8", [-1] * 3, [8] * 3),
        r"observation_space\.low: -1 is not a value of dtype uint8: expected integers in \[0, 255\]",
    ),
    "int8 above": (
        ("observation_space", "int8", [0] * 3, [1, 200, 1]),
        r"observation_space\.high: 200 is not a value of dtype int8: expected integers in \[-128, 127\]",
    ),
    "int32 infinite": (
        ("observation_space", "int32", [-float("inf")] * 3, [1] * 3),
        r"observation_space\.low: -inf is not a value of dtype int32: expected integers in "
        r"\[-2147483648, 2147483647\]",
    ),
    "int64 one past": (
        ("observation_space", "int64", [0] * 3, [2**63] * 3),
        r"observation_space\.high: 9223372036854775808 is not a value of dtype int64: expected integers in "
        r"\[-9223372036854775808, 9223372036854775807\]",
    ),
    "uint8 fraction": (
        ("observation_space", "uint8", [0.5] * 3, [8] * 3),
        r"observation_space\.low: 0\.5 is not a value of dtype uint8: expected integers in \[0, 255\]",
    ),
    "bool": (
        ("observation_space", "bool", [0] * 3, [2] * 3),
        r"observation_space\.high: 2 is not a value of dtype bool: expected integers in \[0, 1\]",
    ),
    "float16 overflow": (
        ("observation_space", "float16", [-1.0] * 3, [70000.0] * 3),
        r"observation_space\.high: 70000\.0 is not a value of dtype float16: expected numbers in "
        r"\[-65504\.0, 65504\.0\], or -Infinity or Infinity",
    ),
    "float32 overflow": (
        ("action_space", "float32", [-1e39], [1.0]),
        r"action_space\.low: -1e\+39 is not a value of dtype float32: expected numbers in "
        r"\[-3\.4028234663852886e\+38, 3\.4028234663852886e\+38\]",
    ),
}


def _with_space(folder, field, dtype, low, high):
    config = _config(folder)
    config[field] = {"type": "Box", "low": low, "high": high, "dtype": dtype}
    _write(folder, config)


@pytest.mark.parametrize("how", ["load", "info"])
@pytest.mark.parametrize("case", BAD_BOUNDS)
def test_bounds_outside_the_dtype_are_one_error_naming_the_field(saved, capsys, how, case):
    space, message = BAD_BOUNDS[case]
    _with_space(saved, *space)
    error = _error(saved, how, capsys)
    assert re.search(r"sb3_large_config.json: " + message, error), error
    assert "\n" not in error.strip() and "Traceback" not in error


GOOD_BOUNDS = {
    "uint8": ("uint8", [0, 0, 0], [255, 255, 255]),
    "int64": ("int64", [-(2**63)] * 3, [2**63 - 1] * 3),
    "bool": ("bool", [0] * 3, [1] * 3),
    "float16": ("float16", [-65504.0] * 3, [65504.0] * 3),
    "float32 unbounded": ("float32", [-float("inf")] * 3, [float("inf")] * 3),
    "float64": ("float64", [-1.7976931348623157e308] * 3, [1.7976931348623157e308] * 3),
}


@pytest.mark.parametrize("case", GOOD_BOUNDS)
def test_bounds_at_the_edge_of_the_dtype_are_accepted(saved, case):
    dtype, low, high = GOOD_BOUNDS[case]
    _with_space(saved, "observation_space", dtype, low, high)
    config = read_config(saved)
    space = space_from_json(config["observation_space"])
    assert space.dtype == np.dtype(dtype)
    assert space.low.tolist() == low and space.high.tolist() == high
