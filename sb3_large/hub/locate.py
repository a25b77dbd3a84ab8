"""Where a model's files are and how they are read: a local folder, or a Hub repo fetched into (or found in) the
huggingface_hub cache; each file must resolve inside the model's folder and is capped in size before it is parsed."""

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from huggingface_hub import snapshot_download
from huggingface_hub.utils import HFValidationError, validate_repo_id

from sb3_large.hub.format import ALGORITHMS, CONFIG_NAME, MAX_NESTING, WEIGHTS_NAME, printable
from sb3_large.hub.schema import ConfigError, validate_config

# Cap on the size of a config, far above any real one (a few KB): the parser's time and memory grow with the file,
# so its size is checked before a byte of it is read.
MAX_CONFIG_BYTES = 2**20


def _repo_id(source: str | os.PathLike) -> str | None:
    """``source`` as a Hub repo id, or None where it can only be meant as a path."""
    if not isinstance(source, str) or source.startswith((".", "/", "~")) or "\\" in source or source.count("/") != 1:
        return None
    if Path(source.split("/")[0]).is_dir():  # "models/sac" next to a folder "models" is a mistyped path
        return None
    try:
        validate_repo_id(source)
    except HFValidationError:
        return None
    return None if Path(source).suffix in (".zip", ".json", ".safetensors") else source


def resolve(
    source: str | os.PathLike, revision: str | None = None, files: Iterable[str] = (CONFIG_NAME, WEIGHTS_NAME)
) -> Path:
    """A local folder, or a Hub repo id of which only ``files`` are fetched into the huggingface_hub cache."""
    return locate(source, revision, files)[0]


def locate(source: str | os.PathLike, revision: str | None, files: Iterable[str]) -> tuple[Path, Path]:
    """``resolve``'s folder, and the folder its files must resolve inside (``model_file``): a local folder
    itself; for a Hub repo, the repo's part of the cache, since a snapshot's files link into its blob store."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path, path
    if path.exists():
        raise NotADirectoryError(f"source: {source} is a file; give the model's folder (or a Hub repo id)")
    repo_id = _repo_id(source)
    if repo_id is None:
        raise FileNotFoundError(f"source: no folder {str(source)!r} (and it is not a Hub repo id 'org/name')")
    try:
        snapshot = snapshot_download(repo_id, revision=revision, allow_patterns=list(files), library_name="sb3-large")
    except Exception as exc:  # offline with no cache, unknown repo, network down: one clear error
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise FileNotFoundError(
            f"source: no local folder {repo_id!r}, and repo {repo_id!r}{f' at {revision!r}' if revision else ''} is "
            f"not in the local Hugging Face cache and could not be downloaded{offline}: {type(exc).__name__}: {exc}"
        ) from None
    return Path(snapshot), Path(snapshot).parents[1]  # <cache>/models--org--name/snapshots/<commit>


def model_file(folder: Path, name: str, root: Path) -> Path:
    """``folder / name``, refused if it resolves (symbolic links followed) outside ``root``: a cloned or downloaded
    model must not make the loader read, or quote in an error, a file of the user's elsewhere."""
    path = folder / name
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(
            printable(f"{name}: {path} leads outside the model's folder {root} (a symbolic link?); nothing was read")
        )
    return path


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, refused unread if the file system gives it more than ``limit`` bytes."""
    with path.open("rb") as file:
        if os.fstat(file.fileno()).st_size > limit:
            raise too_large(path.name, limit)
        data = file.read(limit + 1)  # one byte past: a file may hold more than its size said (it grew since)
    if len(data) > limit:
        raise too_large(path.name, limit)
    return data


def too_large(name: str, limit: int) -> ValueError:
    return ValueError(
        printable(f"{name}: larger than the {limit:,} bytes allowed (far above any real one); nothing was parsed")
    )


def parse_config(folder: Path, root: Path) -> Any:
    """The folder's config as read from JSON, unchecked; the file must resolve inside ``root``."""
    data = read_capped(model_file(folder, CONFIG_NAME, root), MAX_CONFIG_BYTES)
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{CONFIG_NAME}: not valid JSON ({exc}); the file is truncated or corrupt") from None
    except ValueError as exc:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise ValueError(printable(f"{CONFIG_NAME}: cannot be read ({exc})")) from None
    except RecursionError:
        raise ConfigError("(top level)", f"lists and objects are nested more than {MAX_NESTING} levels deep") from None


def read_config(folder: Path, root: Path | None = None) -> dict[str, Any]:
    """The folder's config, parsed and checked against the format (``sb3_large.hub.schema``); the file must
    resolve inside ``root`` (default: the folder)."""
    if not (folder / CONFIG_NAME).is_file():
        raise FileNotFoundError(_not_a_model_folder(folder))
    return validate_config(parse_config(folder, root or folder), ALGORITHMS)


def _not_a_model_folder(folder: Path) -> str:
    """What a folder without a config is (an RL Zoo run, an SB3 model's folder, neither) and how to make a model
    folder of it."""
    zips = sorted(path.name for path in folder.glob("*.zip"))
    runs = sorted(path.relative_to(folder).as_posix() for path in folder.glob("*/args.yml"))
    if not zips:
        return printable(
            f"source: {folder} holds no {CONFIG_NAME}: not a model folder of sb3_large.hub (written by "
            "save_pretrained or python -m sb3_large.hub save)"
        )
    if runs:
        what, source = f"an RL Zoo run ({', '.join(zips + runs[:1])})", folder
    else:
        what, source = f"an SB3 model's folder ({', '.join(zips)})", folder / zips[0]
    return printable(
        f"source: {folder} is {what}, not a model folder of sb3_large.hub (it holds no {CONFIG_NAME}); make one "
        f"with: python -m sb3_large.hub save {source} <new model folder>"
    )
