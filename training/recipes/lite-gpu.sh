#!/usr/bin/env bash
# Continue a lite run on an NVIDIA GPU for a fixed budget, then write its state and weights.
#
#   training/recipes/lite-gpu.sh RUN DATA OUT [MINUTES]
# RUN: a vid2vid-train-lite run folder (run.json, state.pt, curve.json) copied from the CPU run;
# DATA: the same prepared clips (any folder; a subsample packed by
#   `python -m vid2vid.training.lite.pack` fits the device machine's 64 MiB carry);
# OUT: where the continued run goes (a copy of RUN, continued): OUT/state.pt resumes on the CPU,
#   OUT/best and OUT/latest are checkpoints, OUT/curve.json gains the GPU's points.
# MINUTES (default 8) bounds the training loop; evaluation and saving come after it.
set -euo pipefail
RUN=$1 DATA=$2 OUT=$3 MINUTES=${4:-8}
mkdir -p "$OUT"
cp -r "$RUN"/. "$OUT"/
"${PYTHON:-python3}" -m vid2vid.training.lite.train -o "$OUT" --data "$DATA" --device "${DEVICE:-cuda}" \
    --batch "${BATCH:-32}" --minutes "$MINUTES" --eval-minutes 1000 --save-minutes 2
