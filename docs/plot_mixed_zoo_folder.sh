#!/usr/bin/env bash
# The commands behind docs/plot_mixed_zoo_folder.png: one RL Zoo log folder holding runs of different
# configurations (the sac_large.yml entry on two seeds, the search's best-trial entry, a --trial-id run), another
# algorithm with a single evaluation, another environment, and a run stopped before its first episode ended.
# Run from the repository root (about 10 minutes on a 2-core CPU): bash docs/plot_mixed_zoo_folder.sh [folder]
set -euo pipefail
repo=$(pwd)
folder=${1:-mixed_zoo}
mkdir -p "$folder" && cd "$folder"
short=(-params learning_starts:500 --eval-freq 500 --eval-episodes 2)

# sac/Pendulum-v1_1, _2: the sac_large.yml entry, seeds 1 and 2.
for seed in 1 2; do
  python -m rl_zoo3.train --algo sac --env Pendulum-v1 -conf "$repo/hyperparams/sac_large.yml" -f logs -n 3000 \
    --seed "$seed" "${short[@]}"
done
# A two-trial search over the large-network knobs: a report, the best trial's YAML entry, and sac/Pendulum-v1_3,
# the run folder RL Zoo sets up before a search (an empty monitor file: nothing to plot).
python -m sb3_large.zoo train --algo sac --env Pendulum-v1 -conf "$repo/hyperparams/sac_large.yml" -f logs \
  -optimize --n-trials 2 -n 1000 --n-evaluations 2 --eval-episodes 1 --sampler random --seed 1 --no-optim-plots \
  --storage logs/sac/study.log --study-name pendulum -params learning_starts:200 \
  --search-space "widths:[32,64]" "depths:[1,2]" "ofenet:[false]" "q_distribution:[false]"
# sac/Pendulum-v1_4: stock RL Zoo trains the best trial's entry (no categorical critics: those need the launcher).
best=$(ls logs/sac/report_Pendulum-v1_2-trials-1000-random-median_*.yml | tail -n 1)
python -m rl_zoo3.train --algo sac --env Pendulum-v1 -conf "$best" -f logs -n 3000 --seed 1 "${short[@]}"
# sac/Pendulum-v1_5: trial 1 of the stored study, over the sac_large.yml entry.
python -m sb3_large.zoo train --algo sac --env Pendulum-v1 -conf "$repo/hyperparams/sac_large.yml" -f logs -n 3000 \
  --storage logs/sac/study.log --study-name pendulum --trial-id 1 --seed 1 "${short[@]}"
# sac/Pendulum-v1_6: stopped at 150 steps, before its first episode ended (nothing to plot).
python -m rl_zoo3.train --algo sac --env Pendulum-v1 -conf "$repo/hyperparams/sac_large.yml" -f logs -n 150 \
  --eval-freq -1 -params learning_starts:100
# td3/Pendulum-v1_1: another algorithm, evaluated once.
python -m rl_zoo3.train --algo td3 --env Pendulum-v1 -conf "$repo/hyperparams/td3_ota2021.yml" -f logs -n 1000 \
  -params learning_starts:500 --eval-freq 1000 --eval-episodes 2 --seed 1
# sac/InvertedPendulum-v4_1: another environment, with returns on another scale.
python -m rl_zoo3.train --algo sac --env InvertedPendulum-v4 -conf "$repo/hyperparams/sac_large.yml" -f logs \
  -n 3000 --seed 1 "${short[@]}"

python -m sb3_large.plot logs --out "$repo/docs/plot_mixed_zoo_folder.png"
