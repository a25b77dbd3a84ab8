"""Files we write and RL Zoo files we read: atomic writes, and RL Zoo's YAML read without running any of it.

Light on purpose (no torch): the Hub, the RL Zoo launcher and the plots import it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

ORDERED_DICT_TAG = "tag:yaml.org,2002:python/object/apply:collections.OrderedDict"


def staging_file(folder: Path, name: str) -> Path:
    """A new empty file in ``folder`` to write ``name`` into before ``os.replace``: created with the mode the
    user's umask gives (``mkstemp``'s would be 0600), under a name no other writer picks."""
    path = folder / f".{name}.{secrets.token_hex(8)}.tmp{Path(name).suffix}"
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A staging path to write ``path``'s new content to; it replaces ``path`` when the block ends without an
    error and is removed when it raises, so readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = staging_file(path.parent, path.name)
    try:
        yield staged
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as staged:
        staged.write_text(text)


def _ordered_dict(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
    (pairs,) = loader.construct_sequence(node, deep=True)  # the arguments of OrderedDict(): one list of pairs
    return dict(pairs)


class ZooYamlLoader(yaml.SafeLoader):
    """YAML's safe loader that also reads the ``OrderedDict`` RL Zoo writes a run's ``args.yml`` and
    ``config.yml`` as, as a dict; any other Python tag is still refused."""


ZooYamlLoader.add_constructor(ORDERED_DICT_TAG, _ordered_dict)
