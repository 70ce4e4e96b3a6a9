"""Face detection, tracking and cropping on the shared real clips and portraits."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import numpy as np
import pytest

from support.interop import DATA, require
from vid2vid.codec.face import (
    CropBox,
    CropConfig,
    FaceTracker,
    crop_box_for_face,
    crop_image,
    crop_portrait,
    detect_faces,
)
from vid2vid.codec.video import VideoReader, read_image
from vid2vid.errors import ConfigError, InputError

PORTRAITS = sorted((DATA / "portraits").glob("*.jpg"))
CLIPS = sorted((DATA / "clips").glob("*.mp4"))


@functools.cache
def clip_head(name: str, count: int) -> tuple[np.ndarray, ...]:
    """The first ``count`` frames of a shared clip, decoded once per test session."""
    with VideoReader(require(DATA / "clips" / name)) as reader:
        return tuple(item.image for item in itertools.islice(reader, count))


def mean_step(points: list[tuple[float, float]]) -> float:
    """Mean distance between consecutive centres: the frame-to-frame jitter, in pixels."""
    steps = np.diff(np.asarray(points), axis=0)  # N-1 x 2
    return float(np.hypot(steps[:, 0], steps[:, 1]).mean())


def gradient(height: int = 100, width: int = 120) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 2, y * 2, (x + y) % 256], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("path", PORTRAITS, ids=lambda p: p.name)
def test_every_portrait_has_a_face_and_a_crop(path: Path) -> None:
    image = read_image(path)
    faces = detect_faces(image)
    assert faces, f"no face in {path.name}"
    assert all(a.area >= b.area for a, b in itertools.pairwise(faces))
    crop = crop_portrait(image, 128, what=path.name)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8


def test_portraits_are_present() -> None:
    require(DATA / "portraits")
    assert len(PORTRAITS) >= 10


@pytest.mark.parametrize("name", [p.name for p in CLIPS] or ["lp_d0.mp4"])
def test_tracker_finds_the_face_in_the_first_frames(name: str) -> None:
    tracker = FaceTracker(CropConfig(output_size=64))
    results = [tracker.update(frame) for frame in clip_head(name, 15)]
    assert all(r.found for r in results)
    assert [r.reacquired for r in results] == [True] + [False] * 14
    for r in results:
        assert r.crop is not None and r.crop.shape == (64, 64, 3)
        assert r.box is not None and r.box.size > 100  # a head, not a nostril


def test_head_crop_is_square_larger_than_the_face_and_lifted() -> None:
    image = read_image(require(DATA / "portraits" / "lp_s4.jpg"))
    face = detect_faces(image)[0]
    box = crop_box_for_face(face, CropConfig(scale=1.9, shift=0.1))
    assert box.size == pytest.approx(1.9 * max(face.w, face.h))
    assert box.cy < face.cy and box.cx == pytest.approx(face.cx)
    x0, y0, x1, y1 = box.to_int()
    assert x1 - x0 == y1 - y0 == round(box.size)


def test_smoothed_box_jitters_less_than_raw_detections() -> None:
    frames = clip_head("lp_d0.mp4", 60)
    config = CropConfig()
    raw = []
    for frame in frames:
        faces = detect_faces(frame)
        if faces:
            box = crop_box_for_face(faces[0], config)
            raw.append((box.cx, box.cy))
    tracker = FaceTracker(config)
    smoothed = [(r.box.cx, r.box.cy) for r in map(tracker.update, frames) if r.box is not None]
    assert len(raw) >= 50 and len(smoothed) == 60
    raw_jitter, smooth_jitter = mean_step(raw), mean_step(smoothed)
    assert smooth_jitter < 0.5 * raw_jitter, (smooth_jitter, raw_jitter)


def test_lost_face_is_held_then_reported_then_reacquired() -> None:
    frames = clip_head("lp_d0.mp4", 5)
    blank = np.full_like(frames[0], 127)
    tracker = FaceTracker(CropConfig(hold_frames=3, output_size=32))
    assert [tracker.update(f).found for f in frames] == [True] * 5
    held = [tracker.update(blank) for _ in range(3)]
    assert all(r.found and not r.reacquired and r.crop is not None for r in held)
    gone = [tracker.update(blank) for _ in range(2)]
    assert all(not r.found and r.box is None and r.crop is None for r in gone)
    back = tracker.update(frames[0])
    assert back.found and back.reacquired and back.crop is not None
    assert not tracker.update(frames[1]).reacquired


def test_blank_image_has_no_face() -> None:
    blank = np.zeros((240, 320, 3), np.uint8)
    assert detect_faces(blank) == []
    with pytest.raises(InputError, match="^no face found in blank.png$"):
        crop_portrait(blank, 64, what="blank.png")
    result = FaceTracker().update(blank)
    assert not result.found and not result.reacquired and result.crop is None


def test_crop_inside_the_frame_is_the_plain_slice() -> None:
    frame = gradient()
    crop = crop_image(frame, CropBox(60, 50, 40), 40)
    assert np.array_equal(crop, frame[30:70, 40:80])


@pytest.mark.parametrize("size", [16, 50, 64, 120])
def test_crops_beyond_the_frame_are_padded(size: int) -> None:
    frame = gradient()
    box = CropBox(0, 0, 50)  # three quarters outside, top-left
    black = crop_image(frame, box, size, border="constant")
    edge = crop_image(frame, box, size, border="replicate")
    assert black.shape == edge.shape == (size, size, 3)
    assert (black[: size // 3, : size // 3] == 0).all()
    # Replicated edge pixels, averaged where the crop shrinks (the gradient steps 2 per pixel).
    corner = edge[: size // 3, : size // 3].astype(np.int16) - frame[0, 0]
    assert np.abs(corner).max() <= 2 * 50 / size
    quarter = frame[:25, :25].astype(np.float32).mean()
    visible = black[size // 2 + 1 :, size // 2 + 1 :].astype(np.float32).mean()
    assert visible == pytest.approx(quarter, abs=4)


def test_crop_wholly_outside_never_fails() -> None:
    frame = gradient()
    far = CropBox(-500, 900, 30)
    assert (crop_image(frame, far, 20, border="constant") == 0).all()
    assert (crop_image(frame, far, 20, border="replicate") == frame[-1, 0]).all()


def test_default_crop_moves_inside_the_frame_instead_of_padding() -> None:
    frame = gradient()  # 100 x 120
    near_edge = crop_image(frame, CropBox(10, 50, 40), 40)
    assert np.array_equal(near_edge, frame[30:70, 0:40])
    too_big = crop_image(frame, CropBox(60, 50, 300), 100)
    assert np.array_equal(too_big, frame[:, 10:110])  # shrunk to the short side, no invented pixel


def test_tracker_reports_the_box_it_cut_inside_the_frame() -> None:
    frame = clip_head("lp_d0.mp4", 1)[0]
    height, width = frame.shape[:2]
    big = CropConfig(scale=4.0)  # a head crop larger than the frame
    result = FaceTracker(big).update(frame)
    assert result.box is not None and result.crop is not None
    x0, y0, x1, y1 = result.box.to_int()
    assert x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height
    assert result.box.size == min(width, height)
    padded = FaceTracker(CropConfig(scale=4.0, border="constant")).update(frame)
    assert padded.crop is not None and padded.box is not None and padded.box.size > result.box.size
    # The reported box lies inside, so cutting it with padding pads nothing: the same pixels.
    assert np.array_equal(result.crop, crop_image(frame, result.box, 256, border="constant"))


def test_clip_moves_the_box_inside() -> None:
    box = CropBox(-10, 95, 300).clip(120, 100)
    assert box.size == 100
    x0, y0, x1, y1 = box.to_int()
    assert x0 >= 0 and y0 >= 0 and x1 <= 120 and y1 <= 100


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scale", 0.5),
        ("smoothing", 1.0),
        ("detect_interval", 0),
        ("hold_frames", -1),
        ("border", "wrap"),
    ],
)
def test_config_errors_name_field_and_value(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"{field} must be .*{value}"):
        CropConfig(**{field: value})


def test_non_images_are_input_errors() -> None:
    with pytest.raises(InputError, match="H x W x 3"):
        detect_faces(np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        FaceTracker().update(np.zeros((10, 10, 3), np.float32))


def test_the_crop_holds_still_around_a_moving_head_then_recentres() -> None:
    """Small head motion leaves the crop (and so the background in it) still; a move past the
    hold glides the crop back until the face is centred again."""
    from vid2vid.codec.face import CropBox

    tracker = FaceTracker(
        CropConfig(hold=0.12, hold_size=0.12, recentre="glide", deadband=0.01, smoothing=0.5)
    )
    start = CropBox(100.0, 100.0, 100.0)
    assert tracker._follow(start, CropBox(108.0, 95.0, 104.0)) == (start, False)  # within the hold
    moved, jumped = tracker._follow(start, CropBox(130.0, 100.0, 100.0))  # past it: glide
    assert 100.0 < moved.cx < 130.0 and not jumped
    box = moved
    for _ in range(30):
        box, jumped = tracker._follow(box, CropBox(130.0, 100.0, 100.0))
        assert not jumped
    assert abs(box.cx - 130.0) <= 1.0  # re-centred, not left at the hold's edge
    assert tracker._follow(box, CropBox(box.cx + 5.0, 100.0, 100.0)) == (box, False)  # holding


def test_the_default_crop_stays_where_the_keyframe_was_framed_and_reframes_in_one_jump() -> None:
    """The sender's default: a still crop (the background stays where the keyframe has it); a
    face that leaves it (moved or zoomed past the hold) is framed anew at once, and the frame is
    flagged so the sender renews its keyframe."""
    from vid2vid.codec.face import CropBox

    tracker = FaceTracker()
    start = CropBox(100.0, 100.0, 100.0)
    assert tracker._follow(start, CropBox(115.0, 92.0, 110.0)) == (start, False)
    moved = CropBox(130.0, 100.0, 100.0)
    assert tracker._follow(start, moved) == (moved, True)
    assert tracker._follow(start, CropBox(100.0, 100.0, 130.0)) == (start, False)  # a lean
    zoomed = CropBox(100.0, 100.0, 160.0)
    assert tracker._follow(start, zoomed) == (zoomed, True)


def test_recentre_must_be_known() -> None:
    with pytest.raises(ConfigError, match="recentre"):
        CropConfig(recentre="drift")  # type: ignore[arg-type]
