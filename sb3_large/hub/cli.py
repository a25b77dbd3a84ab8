"""The command line ``python -m sb3_large.hub``: a model's config (``info``), a download (into the HF cache, and
RL Zoo's layout), an RL Zoo run written as a model folder (``save``), an upload (``push``)."""

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_large.hub.export import ZOO_ALGOS, export_rl_zoo, zoo_run_folder
from sb3_large.hub.format import CARD_NAME, COMMIT_MESSAGE, CONFIG_NAME, WEIGHTS_NAME, algorithm_name, printable
from sb3_large.hub.load import load_pretrained
from sb3_large.hub.locate import locate, read_config, resolve
from sb3_large.hub.origin import origin_of
from sb3_large.hub.save import save_pretrained

# The first line of the package's docstring, as ``-h`` has always said it.
DESCRIPTION = "Share and load pretrained large models: safetensors weights + a JSON config, no pickle; Hub or folder."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sb3_large.hub", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print a model's config")
    download = commands.add_parser("download", help="fetch a model (into the HF cache), optionally for RL Zoo")
    for sub in (info, download):
        sub.add_argument("source", help="folder or Hub repo id org/name")
        sub.add_argument("--revision")
    download.add_argument("--zoo-folder", help="also write RL Zoo's layout here")
    download.add_argument("--algo", help="RL Zoo algo name, e.g. sac (default and only choice: the model's)")
    download.add_argument("--env", help="env id, e.g. Ant-v4 (default: the model's)")
    download.add_argument("--trust-pickle", action="store_true", help="allow a pickled SB3 zip")
    download.add_argument(
        "--trust-module", action="append", default=[], help="also import classes from this package (repeatable)"
    )
    save = commands.add_parser(
        "save", help="write an RL Zoo run (or an SB3 zip) as a model folder; unpickles it: for runs you trust"
    )
    save.add_argument("source", help="an RL Zoo run folder (logs/sac/Ant-v4_1) or an SB3 .zip")
    save.add_argument("folder", help="the model folder to write (new, empty, or an earlier model)")
    save.add_argument("--env", help="env id (default: the run's)")
    push = commands.add_parser("push", help="upload a folder written by save_pretrained")
    push.add_argument("folder")
    push.add_argument("--repo-id", required=True)
    push.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)

    try:
        _run(args)
    except BrokenPipeError:  # the reader left (| head): not an error of the input, ends quietly in run_command
        raise
    except (ValueError, OSError, OverflowError) as exc:  # bad input: one line naming the field, no traceback
        parser.exit(1, f"{parser.prog}: error: {printable(str(exc))}\n")


def _run(args: argparse.Namespace) -> None:
    if args.command == "info":
        # ensure_ascii: every control character of a name or value is printed as its \u escape
        config = read_config(*locate(args.source, args.revision, (CONFIG_NAME,)))
        print(json.dumps(config, indent=2, ensure_ascii=True))
    elif args.command == "download":
        print(f"model files: {resolve(args.source, args.revision)}")
        if args.zoo_folder:
            _download_for_zoo(args)
    elif args.command == "save":
        if not Path(args.source).expanduser().exists():
            raise FileNotFoundError(f"source: no RL Zoo run folder or SB3 zip {args.source!r}")
        model = _load_to_write(args.source, trust_pickle=True)  # the user's own run: its pickles are trusted
        print(f"model folder: {save_pretrained(model, args.folder, args.env)}")
    else:
        folder = Path(args.folder)
        read_config(folder)
        api = HfApi()
        api.create_repo(args.repo_id, private=args.private, exist_ok=True)
        # Only the model's own files: the folder may also hold a user's notes or a Hub clone's .git.
        files = [WEIGHTS_NAME, CONFIG_NAME, CARD_NAME]
        print(
            api.upload_folder(
                repo_id=args.repo_id, folder_path=folder, allow_patterns=files, commit_message=COMMIT_MESSAGE
            )
        )


def _load_to_write(source: str, **kwargs: Any) -> BaseAlgorithm:
    """``load_pretrained`` of a model that is written out again, VecNormalize statistics included: without the
    warning that acting needs its env wrapped in them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="vec_normalize: ", category=UserWarning)
        return load_pretrained(source, **kwargs)


def _download_for_zoo(args: argparse.Namespace) -> None:
    """``download --zoo-folder``: the model as a new RL Zoo run, under its own algorithm's name."""
    if args.algo is not None and args.env is not None:
        zoo_run_folder(args.zoo_folder, args.algo, args.env)  # names given here are refused before loading anything
    model = _load_to_write(
        args.source, revision=args.revision, trust_pickle=args.trust_pickle, trust_modules=args.trust_module
    )
    algorithm = algorithm_name(model)
    origin = origin_of(model)
    env_id = args.env or (origin.env_id if origin is not None else None)
    if env_id is None:
        raise ValueError("env: the model names no env id; give it with --env")
    zoo_run_folder(args.zoo_folder, args.algo or ZOO_ALGOS[algorithm], env_id)  # plain names, inside the folder
    if args.algo not in (None, ZOO_ALGOS[algorithm]):
        raise ValueError(
            f"algo: {args.algo!r} is not this model's algorithm: it is a {algorithm} model, RL Zoo's "
            f"{ZOO_ALGOS[algorithm]!r} (rl_zoo3.enjoy would fail to load it as another); nothing was written"
        )
    print(f"RL Zoo layout: {export_rl_zoo(model, args.zoo_folder, ZOO_ALGOS[algorithm], env_id)}")
