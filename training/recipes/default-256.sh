#!/usr/bin/env bash
# The recipe of vid2vid's default model (issue 9): data, split, a resumable run, evaluation.
#
# Run it from the repository root on a machine with an NVIDIA GPU; run it again to continue
# where it stopped (prep skips finished videos, train resumes from its last checkpoint).
# Model: the small-256 preset (3.6 M parameters, 7 MB in fp16), so the trained weights can ship
# inside the package and the sender's motion extractor runs in real time on a CPU.
# Data: the real talking-head clips of ../shared/data/clips. lp_d6 (the longest, 33.6 s) and
# lp_d19 are held out: never trained on, used for the reported metrics.
set -euo pipefail

SHARED=${SHARED:-../shared/data}
DATA=${DATA:-runs/data-256}
RUN=${RUN:-runs/default-256}
STEPS=${STEPS:-100000}
BATCH=${BATCH:-8}
PAIRS=${PAIRS:-200}
HELD_OUT=(lp_d6 lp_d19)

exclude=()
identity=()
for id in "${HELD_OUT[@]}"; do
    exclude+=(--exclude "$id")
    identity+=(--identity "$id")
done

# Steady 256 px face crops, with head-pose references from dlib landmarks (extra `face`).
vid2vid-prep "$SHARED/clips" -o "$DATA" --size 256 --landmarks auto

if [ -f "$RUN/run.json" ]; then
    vid2vid-train -o "$RUN" --resume --steps "$STEPS"
else
    vid2vid-train --data "$DATA" --config small-256 -o "$RUN" --steps "$STEPS" --batch "$BATCH" \
        "${exclude[@]}" ${VGG:+--vgg "$VGG"}
fi

latest=$(ls -d "$RUN"/checkpoints/step-* | sort | tail -n 1)
vid2vid-eval --data "$DATA" --weights "$latest" "${identity[@]}" --pairs "$PAIRS" -o "$RUN/eval"
