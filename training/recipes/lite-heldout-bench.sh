#!/usr/bin/env bash
# The default model on people it never saw, through the real bitstream, beside a frozen keyframe
# and x264 at its floor (CRF 51) on the same crops: vid2vid-bench at 256 px.
#   training/recipes/lite-heldout-bench.sh [OUT]     (about 10 minutes on 2 cores)
# The five held-out people of training/recipes/lite.sh (whole clips), then the shared clips.
set -euo pipefail
SHARED=${SHARED:-../shared/data}
OUT=${1:-bench/reports/default-model}
WEIGHTS=${WEIGHTS:+--weights $WEIGHTS}
held=$(mktemp -d)
trap 'rm -rf "$held"' EXIT
for id in IP_LAP__test__template_video__129 styletalk__samples__source_video__video__KristiNoem \
          video-retalking__examples__face__5 Talking-Face_PC-AVS__misc__Pose_Source__00067 \
          Thin-Plate-Spline-Motion-Model__assets__driving; do
    ln -s "$(realpath "$SHARED/train/$id.mp4")" "$held/$id.mp4"
done
common=(--res 256 --codecs x264 --crfs 51 --x264-kbps "" --qualities "${QUALITIES:-28,34}" --keyframe image $WEIGHTS)
vid2vid-bench --clips "$held" -o "$OUT/heldout" "${common[@]}"
vid2vid-bench --clips "$SHARED/clips" -o "$OUT/clips" "${common[@]}" --max-frames 300
