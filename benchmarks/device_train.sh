#!/usr/bin/env bash
# The generative planner's GPU check as one prepared run of the device (under 8 minutes): train
# in bf16 on instance files made here, report instances/s, GPU memory and the validation gap over
# time with the card's name, and bring the trained checkpoint back.
#
# Prepare here (the GIS stack; about 2 minutes on 2 cores): days of many places, as the shipped
# planner's corpus but of 50-300 bins, to stay under the 64 MiB a device run may carry:
#   S=../shared/cities; C="--city helsinki --city $S/liechtenstein.osm.pbf \
#       --city $S/sao-paulo-centre.osm.pbf --city $S/aguascalientes.osm.pbf"
#   .venv/bin/twin corpus data/gpu/train $C --draws 200 --days 40 --bins 50-300 --seed 300
#   .venv/bin/twin corpus data/gpu/val $C --draws 16 --days 4 --seed 301 --reference-s 1
# (check `du -sh data/gpu`: under 60 MB). Then one device call: command
# "bash benchmarks/device_train.sh", carry ["data/gpu"], timeout_s 540. The larger model
# (dim 128, 8 heads, 4 layers) trains from scratch in bf16. A dry run on the CPU:
# PATH=.venv/bin:$PATH DEVICE=cpu MINUTES=0.5 OUT=/tmp/dry bash benchmarks/device_train.sh
# Needs only python3 with torch and numpy there. Its files hold 40 days, so steps of the 256
# asked take 40 (training warns): what fits the 64 MiB a device run may carry.
set -euo pipefail
out="${OUT:-benchmarks/results/device}"
device="${DEVICE:-cuda}"
mkdir -p "$out"
if [ "$device" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.csv"
    precision=(--bf16)
else
    precision=()
fi
python3 -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
# shellcheck disable=SC2086  # TRAIN (a glob of files) and EXTRA (options) split on purpose
python3 benchmarks/bench_train.py ${TRAIN:-data/gpu/train} --val ${VAL:-data/gpu/val} \
    --minutes "${MINUTES:-6.5}" --device "$device" "${precision[@]}" \
    --batch-size "${BATCH:-256}" --samples "${SAMPLES:-32}" --lr "${LR:-3e-4}" \
    --validate-every "${VALIDATE_EVERY:-20}" --dim "${DIM:-128}" --layers "${LAYERS:-4}" \
    --out "$out/run" ${EXTRA:-} \
    2>&1 | tee "$out/train.log"
