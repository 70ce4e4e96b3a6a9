"""Quality metrics against values known in closed form, and dlib's face metrics on a real portrait."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from support.interop import DATA, require
from vid2vid.bench.metrics import (
    C1,
    MS_SSIM_WEIGHTS,
    LandmarkDetector,
    akd,
    default_detector,
    dlib_unavailable_reason,
    find_dlib_models,
    identity_distance,
    ms_ssim,
    ms_ssim_scales,
    psnr,
    ssim,
)
from vid2vid.errors import InputError


def _texture(size: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture (blur has something to remove)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 1.2) * 2.5 - 190, 0, 255).astype(np.uint8)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def test_psnr_identical_is_inf_and_known_error_gives_known_db() -> None:
    image = _texture()
    assert psnr(image, image) == math.inf
    base = np.full((32, 32, 3), 100, np.uint8)
    assert psnr(base, base + 10) == pytest.approx(10 * math.log10(255**2 / 100))  # 28.13 dB
    signs = np.random.default_rng(1).choice([-5, 5], size=base.shape)
    noisy = (base.astype(int) + signs).astype(np.uint8)
    assert psnr(base, noisy) == pytest.approx(10 * math.log10(255**2 / 25))  # 34.15 dB


def test_psnr_of_a_stack_is_the_mean_of_frame_psnrs() -> None:
    a = np.full((2, 16, 16, 3), 50, np.uint8)
    b = a.copy()
    b[0] += 10  # MSE 100
    b[1] += 5  # MSE 25
    expected = (10 * math.log10(255**2 / 100) + 10 * math.log10(255**2 / 25)) / 2
    assert psnr(a, b) == pytest.approx(expected)


def test_ssim_of_flat_images_follows_the_luminance_formula() -> None:
    a = np.full((40, 40, 3), 100, np.uint8)
    b = np.full((40, 40, 3), 120, np.uint8)
    luminance = (2 * 100 * 120 + C1) / (100**2 + 120**2 + C1)  # no variance: cs = 1
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx(luminance)
    # MS-SSIM: cs = 1 at every scale, luminance only at the coarsest (5 scales at 256 px).
    a, b = np.full((256, 256, 3), 100, np.uint8), np.full((256, 256, 3), 120, np.uint8)
    assert ms_ssim(a, b) == pytest.approx(luminance ** MS_SSIM_WEIGHTS[-1])


def test_ssim_and_ms_ssim_fall_as_blur_grows() -> None:
    image = _texture(128)
    assert ssim(image, image) == pytest.approx(1.0)
    assert ms_ssim(image, image) == pytest.approx(1.0)
    blurred = [_blur(image, s) for s in (0.7, 1.5, 3.0)]
    s = [ssim(image, b) for b in blurred]
    m = [ms_ssim(image, b) for b in blurred]
    assert 1.0 > s[0] > s[1] > s[2] > 0.0
    assert 1.0 > m[0] > m[1] > m[2] > 0.0
    # MS-SSIM weights the coarse scales most, which blur hardly touches.
    assert m[2] > s[2]
    assert ssim(image, blurred[1]) == pytest.approx(ssim(blurred[1], image))


def test_ms_ssim_uses_fewer_scales_on_small_images() -> None:
    assert ms_ssim_scales(256, 256) == 5
    assert ms_ssim_scales(176, 200) == 5
    assert ms_ssim_scales(64, 64) == 3
    assert ms_ssim_scales(11, 11) == 1
    image = _texture(64)
    assert 0.0 < ms_ssim(image, _blur(image, 1.5)) < 1.0
    with pytest.raises(InputError, match="smaller than the 11x11 SSIM window"):
        ms_ssim(image[:8, :8], image[:8, :8])


def test_shape_mismatch_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"images differ in shape: \(8, 8, 3\) vs \(9, 8, 3\)"):
        psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8))


def test_akd_and_identity_distance_arithmetic() -> None:
    ref = np.zeros((68, 2))
    assert akd(ref, ref + [3.0, 4.0]) == pytest.approx(5.0)
    assert akd(ref, None) is None and akd(None, ref) is None
    assert identity_distance(np.zeros(128), np.full(128, 0.5)) == pytest.approx(
        0.5 * math.sqrt(128)
    )
    assert identity_distance(None, np.zeros(128)) is None


@pytest.fixture(scope="module")
def detector() -> LandmarkDetector:
    reason = dlib_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    predictor, face_rec = find_dlib_models()
    assert predictor is not None and face_rec is not None
    assert predictor.name == "shape_predictor_68_face_landmarks.dat"
    detector = default_detector()  # cached: the benchmark's smoke test reuses it
    assert detector is not None and detector.has_descriptor
    return detector


def _portrait(name: str, size: int = 256) -> np.ndarray:
    bgr = cv2.imread(str(require(DATA / "portraits" / name)))
    return cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)[..., ::-1].copy()


def test_landmarks_follow_a_shifted_face(detector: LandmarkDetector) -> None:
    face = _portrait("lp_s42.jpg")
    points = detector.landmarks(face)
    assert points is not None and points.shape == (68, 2)
    assert akd(points, detector.landmarks(face)) == 0.0
    shift = np.float32([[1, 0, 6], [0, 1, 0]])
    moved = cv2.warpAffine(face, shift, (256, 256), borderMode=cv2.BORDER_REPLICATE)
    moved_points = detector.landmarks(moved)
    assert moved_points is not None
    assert akd(points, moved_points) == pytest.approx(6.0, abs=2.0)
    assert detector.landmarks(np.full((128, 128, 3), 128, np.uint8)) is None


def test_identity_distance_separates_people(detector: LandmarkDetector) -> None:
    face = _portrait("lp_s42.jpg")
    same = detector.descriptor(_blur(face, 1.0))
    ref = detector.descriptor(face)
    other = detector.descriptor(_portrait("lp_s5.jpg"))
    assert ref is not None and same is not None and other is not None and ref.shape == (128,)
    assert identity_distance(ref, same) < 0.3 < identity_distance(ref, other)


def test_missing_model_file_is_an_input_error(tmp_path) -> None:
    if dlib_unavailable_reason() is not None:
        pytest.skip(dlib_unavailable_reason())
    with pytest.raises(InputError, match="dlib model file not found"):
        LandmarkDetector.from_path(tmp_path / "nope.dat")
