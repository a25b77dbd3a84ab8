"""Every critic layout saves, loads in a fresh process and trains on: 1, 2 or 3 critics, separate or stacked
(``ensemble_critics``), fused or unfused Adam, loaded into the same layout and into the other one. SAC runs
the fused layouts, TD3 the unfused ones, DDPG its default (one critic)."""

import itertools

from .conftest import run_python

LAYOUTS = list(itertools.product([1, 2, 3], [False, True], [True, False]))

SAVE = """
import sys, itertools, sb3_large
from stable_baselines3 import DDPG
for n_critics, stacked, fused in {layouts}:
    algo = sb3_large.SAC if fused else sb3_large.TD3
    kwargs = dict(width=8, depth=1, n_critics=n_critics, ensemble_critics=stacked)
    if not fused:
        kwargs["optimizer_kwargs"] = {{}}
    model = algo("LargeMlpPolicy", "Pendulum-v1", learning_starts=40, batch_size=16, seed=0, policy_kwargs=kwargs)
    model.learn(60)
    model.save(f"{{n_critics}}-{{stacked}}-{{fused}}.zip")
model = DDPG("LargeMlpPolicy", "Pendulum-v1", learning_starts=40, batch_size=16, seed=0, policy_kwargs=dict(width=8))
model.learn(60)
model.save("DDPG.zip")
"""

LOAD = """
import gymnasium as gym, sb3_large
from stable_baselines3 import DDPG
for n_critics, stacked, fused in {layouts}:
    algo = sb3_large.SAC if fused else sb3_large.TD3
    path = f"{{n_critics}}-{{stacked}}-{{fused}}.zip"
    for load_stacked in (stacked, not stacked):
        kwargs = {{**algo.load(path).policy_kwargs, "ensemble_critics": load_stacked}}
        model = algo.load(path, env=gym.make("Pendulum-v1"), custom_objects={{"policy_kwargs": kwargs}})
        assert (model.critic.q_ensemble is not None) == load_stacked and model.critic.n_critics == n_critics
        model.learn(20, reset_num_timesteps=False)
        assert model.num_timesteps == 80 and model.critic.optimizer.state, path
model = DDPG.load("DDPG.zip", env=gym.make("Pendulum-v1"))
model.learn(20, reset_num_timesteps=False)
print("loaded and trained", 2 * len({layouts}) + 1)
"""


def test_every_critic_layout_saves_loads_in_a_fresh_process_and_trains_on(tmp_path):
    run_python(["-c", SAVE.format(layouts=LAYOUTS)], cwd=tmp_path)
    out = run_python(["-c", LOAD.format(layouts=LAYOUTS)], cwd=tmp_path).stdout
    assert f"loaded and trained {2 * len(LAYOUTS) + 1}" in out
