#!/usr/bin/env bash
# The generative planner's GPU check as one prepared run of the device (under 8 minutes): train
# in bf16 on instance files made here, report instances/s, GPU memory and the validation gap over
# time with the card's name, and bring the trained checkpoint back.
#
# Prepare here (the GIS stack; about 10 minutes on 2 cores): 40,000 days from eight placements
# of bins (one per seed), about 30 MB pooled, far under the 64 MiB a device run may carry:
#   for seed in 11 12 13 14 15 16 17 18; do .venv/bin/twin instances helsinki --bins 100 \
#       --count 5000 --seed $seed --out data/gpu/train-$seed.npz; done
#   .venv/bin/twin instances helsinki --bins 100 --count 32 --seed 1 --reference-s 5 \
#       --out data/gpu/val.npz
# Then one device call: command "bash benchmarks/device_train.sh", carry ["data/gpu"],
# timeout_s 540. A dry run on the CPU: DEVICE=cpu MINUTES=0.5 OUT=/tmp/dry TRAIN=… VAL=… bash …
# Needs only python3 with torch and numpy there.
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
python3 benchmarks/bench_train.py ${TRAIN:-data/gpu/train-*.npz} --val "${VAL:-data/gpu/val.npz}" \
    --minutes "${MINUTES:-6.5}" --device "$device" "${precision[@]}" \
    --batch-size "${BATCH:-256}" --samples "${SAMPLES:-32}" --lr "${LR:-3e-4}" \
    --validate-every "${VALIDATE_EVERY:-20}" --out "$out/run" ${EXTRA:-} \
    2>&1 | tee "$out/train.log"
