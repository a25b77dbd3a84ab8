"""Share and load pretrained large models: safetensors weights + a JSON config, no pickle; Hub or folder.

    save_pretrained(model, "my_model")                   # folder: model.safetensors, sb3_large_config.json, README.md
    model = load_pretrained("my_model")                  # or a Hub repo id "org/name" (cache used offline)
    push_to_hub(model, "org/sac-large-Ant-v4")

    python -m sb3_large.hub info org/name
    python -m sb3_large.hub save logs/sac/Ant-v4_1 my_model            # an RL Zoo run (or an SB3 zip) -> a folder
    python -m sb3_large.hub download org/name --zoo-folder logs         # then rl_zoo3.enjoy --algo sac --env Ant-v4
    python -m sb3_large.hub push my_model --repo-id org/name

Loading is data, never code: classes named in the config are imported only from trusted modules
(``sb3_large.hub.trust``; ``trust_modules=[...]`` / ``--trust-module`` adds one), each file that is parsed is
capped in size before it is read, the config is checked field by field (``schema``), its size against the weights
file's before anything is built, and the weights' header against the policy before anything large is allocated
(``sizes``); the files must lie in the model's folder (``locate``). A folder or repo that only holds an SB3 ``.zip``
(pickled, e.g. RL Zoo's runs) loads only with ``trust_pickle=True`` (``zoo_runs``): unpickling runs whatever code the
file's author put in it.

The modules: ``format`` (file names, algorithms, JSON encoding, model card), ``schema`` and ``trust`` (what a config
may hold and name), ``settings`` (algorithm settings and VecNormalize statistics as data), ``sizes``, ``locate``,
``origin`` (what a loaded model came with), ``save``, ``load``, ``zoo_runs``, ``export`` (RL Zoo's layout), ``cli``.
Importing this package loads no learner (nor torch.compile's machinery).
"""

from sb3_large.files import ORDERED_DICT_TAG as ZOO_ARGS_TAG
from sb3_large.hub.cli import main
from sb3_large.hub.export import PLAIN_ALGO, PLAIN_ENV_ID, ZOO_ALGOS, export_rl_zoo, zoo_run_folder
from sb3_large.hub.format import (
    ALGORITHMS,
    CARD_NAME,
    COMMIT_MESSAGE,
    CONFIG_NAME,
    FORMAT_VERSION,
    MAX_NESTING,
    WEIGHTS_NAME,
)
from sb3_large.hub.load import NUMPY_SIZE_LIMITS, load_pretrained
from sb3_large.hub.locate import MAX_CONFIG_BYTES, read_config, resolve
from sb3_large.hub.save import push_to_hub, save_pretrained
from sb3_large.hub.schema import ConfigError
from sb3_large.hub.sizes import (
    FLOAT_DTYPES,
    MAX_CRITICS,
    MAX_LAYERS,
    MAX_POLICY_LAYERS,
    SAFETENSORS_DTYPES,
    SEPARATE_CRITIC,
    STACKED_CRITICS,
)
from sb3_large.hub.zoo_runs import (
    DDPG_SETTINGS,
    HUB_ZOO_STATISTICS,
    MAX_RUN_ARGS_BYTES,
    MAX_ZIP_DATA_BYTES,
    PickleRefusedError,
)

__all__ = [
    "ALGORITHMS",
    "CARD_NAME",
    "COMMIT_MESSAGE",
    "CONFIG_NAME",
    "DDPG_SETTINGS",
    "FLOAT_DTYPES",
    "FORMAT_VERSION",
    "HUB_ZOO_STATISTICS",
    "MAX_CONFIG_BYTES",
    "MAX_CRITICS",
    "MAX_LAYERS",
    "MAX_NESTING",
    "MAX_POLICY_LAYERS",
    "MAX_RUN_ARGS_BYTES",
    "MAX_ZIP_DATA_BYTES",
    "NUMPY_SIZE_LIMITS",
    "PLAIN_ALGO",
    "PLAIN_ENV_ID",
    "SAFETENSORS_DTYPES",
    "SEPARATE_CRITIC",
    "STACKED_CRITICS",
    "WEIGHTS_NAME",
    "ZOO_ALGOS",
    "ZOO_ARGS_TAG",
    "ConfigError",
    "PickleRefusedError",
    "export_rl_zoo",
    "load_pretrained",
    "main",
    "push_to_hub",
    "read_config",
    "resolve",
    "save_pretrained",
    "zoo_run_folder",
]
