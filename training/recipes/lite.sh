#!/usr/bin/env bash
# The recipe of vid2vid's default model (lite family), on the project's own 2-core CPUs.
#
# Run from the repository root; run it again to continue where it stopped: prep skips finished
# videos and landmarks, training resumes from RUN/state.pt (written every 5 minutes).
# Data stays outside git (DATA, EVAL); the run writes RUN/best (the weights to ship),
# RUN/curve.json + curve.png (held-out PSNR and landmark distance against steps).
#   nohup nice -n 10 training/recipes/lite.sh > lite.log 2>&1 &     # hours, in the background
#   python -m vid2vid.training.lite.ship RUN -o codec/weights/default  # ship the best weights
set -euo pipefail

SHARED=${SHARED:-../shared/data}
DATA=${DATA:-../data/train-256i}   # i: still framing, crops kept inside the frame (the tracker's defaults)
EVAL=${EVAL:-../data/clips-256i}
RUN=${RUN:-../runs/lite-256}
# Whole people held out: each appears in one clip of the corpus only (checked on a contact sheet
# of every clip: the corpus repeats Obama, Trump, AOC, Robert Downey Jr. and others across
# repositories, so a file name is no proof). See $SHARED/train/README.md.
HELD_OUT=(IP_LAP__test__template_video__129 styletalk__samples__source_video__video__KristiNoem
          video-retalking__examples__face__5 Talking-Face_PC-AVS__misc__Pose_Source__00067
          Thin-Plate-Spline-Motion-Model__assets__driving)

vid2vid-prep "$SHARED/train" -o "$DATA" --size 256 --quiet
vid2vid-prep "$SHARED/clips" -o "$EVAL" --size 256 --quiet
# HIRES (e.g. ../data/train-512i): 512 px crops of the videos whose faces are natively 512 px or
# more (training/recipes/hires-512.txt: source width >= 512 and median face >= 240 px).
if [ -n "${HIRES:-}" ]; then
    src=$(mktemp -d)
    while read -r name; do
        [ -n "$name" ] && ln -s "$(realpath "$SHARED/train/$name")" "$src/$name"
    done < "$(dirname "$0")/hires-512.txt"
    vid2vid-prep "$src" -o "$HIRES" --size 512 --quiet
    rm -rf "$src"
fi

args=()
for id in "${HELD_OUT[@]}"; do args+=(--holdout "$id"); done
# CONFIG: the lite preset of a new run (lite-256bg: 20 face keypoints and 12 background points;
# lite-256: the face only). INIT: weights to start a new run from
# (training/checkpoints/lite-256bg-resume: the last session's run where it stopped;
# codec/weights/default: the shipped step; weights without background points are grown to
# CONFIG's by training/lite/grow.py). HIRES: a 512 px dataset of the same corpus
# (vid2vid-prep --size 512) for every 4th step.
exec vid2vid-train-lite --data "$DATA" --eval-data "$EVAL" -o "$RUN" "${args[@]}" \
    --config "${CONFIG:-lite-256bg}" \
    --eval-minutes "${EVAL_MINUTES:-10}" ${MINUTES:+--minutes "$MINUTES"} \
    ${INIT:+--init-weights "$INIT"} ${HIRES:+--hires-data "$HIRES"} ${LR:+--lr "$LR"}
