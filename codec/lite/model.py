"""The lite family: dlib motion at the sender, a learned 2D warp of the keyframe at the receiver.

It fills :class:`~vid2vid.codec.model.TalkingHeadModel`'s four stages so the bitstream, the
stream layer and the engines treat it like the paper's family:

* F returns the keyframe image itself as a 3 x 1 x S x S "volume" (a volume keyframe is then
  just the quantized image);
* L returns the generic face's K keypoints (:mod:`~vid2vid.codec.lite.template`), the same for
  every image: what makes a face this person's travels in δ;
* H + Δ read dlib's landmarks and fit the pose (:mod:`~vid2vid.codec.lite.landmarks`): this
  stage has no weights and is not a graph, so the ONNX and TensorRT engines run it as Python;
  a model with background points (``arch.background_grid``) also measures their motion as the
  optical flow from the keyframe's image (:mod:`~vid2vid.codec.lite.background`);
* M + G warp the keyframe at the output size with a flow computed at 64² and blend in an
  inpainting painted at 128² (:mod:`~vid2vid.codec.lite.networks`).
"""

from __future__ import annotations

import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vid2vid.codec.config import ModelConfig
from vid2vid.codec.keypoints import (
    FreeView,
    Keypoints,
    Motion,
    angles_from_rotation,
    posed_keypoints,
)
from vid2vid.codec.lite.arch import LiteArch
from vid2vid.codec.lite.background import DISPLACEMENT_UNIT, PointTracker, ring_points
from vid2vid.codec.lite.landmarks import LandmarkReader, fit_motion, normalize
from vid2vid.codec.lite.networks import (
    DenseMotion,
    Inpainter,
    base_grid,
    local_affines,
    upsample_flow,
)
from vid2vid.codec.lite.template import KEYPOINTS, TEMPLATE_68
from vid2vid.codec.talking_head import TalkingHeadModel


def motion_from_landmarks(
    points: np.ndarray,
    side: int,
    device: torch.device | str = "cpu",
    background: np.ndarray | None = None,
) -> Motion:
    """B x 68 x 2 landmarks in pixels of ``side`` px crops -> a batched :class:`Motion`.

    ``background`` (B x E x 3, from :class:`~vid2vid.codec.lite.background.PointTracker`) are the
    background points' deformations, sent after the face's.
    """
    fits = [fit_motion(normalize(p, side)) for p in points]
    deformation = np.stack([f.deformation for f in fits])
    if background is not None:
        deformation = np.concatenate([deformation, np.asarray(background, np.float32)], axis=1)
    rotation = torch.tensor(np.stack([f.rotation for f in fits]), dtype=torch.float32)
    yaw, pitch, roll = angles_from_rotation(rotation, "xyz")
    return Motion(
        yaw=yaw.to(device),
        pitch=pitch.to(device),
        roll=roll.to(device),
        translation=torch.tensor(
            np.stack([f.translation for f in fits]), dtype=torch.float32, device=device
        ),
        deformation=torch.tensor(deformation, dtype=torch.float32, device=device),
        scale=torch.tensor([f.scale for f in fits], dtype=torch.float32, device=device),
    )


def shrink(image: Tensor, side: int) -> Tensor:
    """Box-filter an S x S image down to side x side (S a multiple of side): exports to ONNX as
    one AveragePool, where antialiased bilinear resizing has no ONNX operator."""
    factor = image.shape[-1] // side
    if factor * side != image.shape[-1]:
        raise ValueError(f"cannot shrink {image.shape[-1]} px to {side} px: not a multiple")
    return F.avg_pool2d(image, factor) if factor > 1 else image


def to_grey(image: Tensor) -> np.ndarray:
    """B x 3 x H x W RGB in [0, 1] -> B x H x W uint8 luma (ITU-R 601, as dlib and OpenCV).

    In numpy on one thread: this runs on every frame the sender sends, and torch's thread pool
    costs more than the arithmetic on a busy 2-core machine.
    """
    rgb = image.detach().to("cpu", torch.float32).numpy()
    grey = rgb[:, 0] * np.float32(0.299 * 255.0)
    grey += rgb[:, 1] * np.float32(0.587 * 255.0)
    grey += rgb[:, 2] * np.float32(0.114 * 255.0)
    grey += np.float32(0.5)
    return np.clip(grey, 0.0, 255.0, out=grey).astype(np.uint8)


#: dlib's face detector and OpenCV's DIS flow object keep scratch buffers between calls and are
#: not safe to call from two threads at once, and one process may run a sender and a receiver
#: on one model (``vid2vid-call``, the in-process call tests), whose threads both get here (the
#: receiver through ``encode_keyframe``). Module-wide rather than per model, so models stay
#: deep-copyable (the engines copy them to export).
_NATIVE_LOCK = threading.Lock()


class LiteModel(TalkingHeadModel):
    """K dlib keypoints on a generic face (and background points after them, when the arch has
    a background grid); a 2D warp of the keyframe with inpainting."""

    convention = "xyz"
    uses_translation_z = False
    #: H + Δ is dlib and a pose fit, not a network: engines run it in Python.
    motion_is_graph = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        arch = config.arch
        assert isinstance(arch, LiteArch)
        self.arch = arch
        self.face_kp = len(KEYPOINTS)
        background = ring_points(arch.background_grid)  # E x 2
        canonical = np.concatenate(
            [
                TEMPLATE_68[list(KEYPOINTS)],
                np.concatenate([background, np.zeros((len(background), 1), np.float32)], 1),
            ]
        )
        self.register_buffer("canonical", torch.from_numpy(canonical), persistent=False)
        self.motion = DenseMotion(
            config.num_kp, arch.motion_channels, arch.motion_size, arch.heatmap_sigma
        )
        self.inpainter = Inpainter(arch.generator_channels)
        self._reader: LandmarkReader | None = None
        self._tracker: PointTracker | None = None

    def extract_appearance(self, image: Tensor) -> Tensor:
        side = self.config.output_size
        if image.shape[-1] != side:
            image = F.interpolate(
                image, size=(side, side), mode="bilinear", antialias=True, align_corners=False
            )
        return image[:, :, None]  # B x 3 x 1 x S x S

    def extract_canonical(self, image: Tensor) -> Tensor:
        return self.canonical.to(image.dtype)[None].expand(image.shape[0], -1, -1)

    @property
    def background_kp(self) -> int:
        return self.config.num_kp - self.face_kp

    def extract_motion(self, image: Tensor, reference: Tensor | None = None) -> Motion:
        """Landmarks and pose of each image; the background points' motion from ``reference``
        (the keyframe image, 1 or B images) to each image, or zero without a reference."""
        grey = to_grey(image)
        with _NATIVE_LOCK:
            if self._reader is None:
                self._reader = LandmarkReader()
            points = np.stack([self._reader(g) for g in grey])
        background = self.background_motion(grey, reference)
        return motion_from_landmarks(points, image.shape[-1], image.device, background)

    def background_motion(self, grey: np.ndarray, reference: Tensor | None) -> np.ndarray:
        """B x E x 3 deformations of the background points (zeros without a reference)."""
        moved = np.zeros((len(grey), self.background_kp, 3), np.float32)
        if reference is None or not self.background_kp:
            return moved
        if reference.shape[-2:] != (grey.shape[1], grey.shape[2]):
            reference = F.interpolate(
                reference.float(), size=grey.shape[1:], mode="bilinear", antialias=True
            )
        references = to_grey(reference)
        if len(references) not in (1, len(grey)):
            raise ValueError(f"{len(references)} reference images for {len(grey)} images")
        with _NATIVE_LOCK:  # the trainer calls this directly, the sender through extract_motion
            if self._tracker is None:
                self._tracker = PointTracker(self.arch.background_grid)
            for i, frame in enumerate(grey):
                moved[i] = self._tracker(references[min(i, len(references) - 1)], frame)
        return moved

    def pose(
        self,
        canonical: Tensor,
        motion: Motion,
        view: FreeView | None = None,
        *,
        jacobians: Tensor | None = None,
    ) -> Keypoints:
        """The face's keypoints posed as every family's; background points are not: each is its
        place on the keyframe plus its measured displacement (a wall does not turn with the
        head, nor with the viewer's free view)."""
        k = self.face_kp
        face = posed_keypoints(
            canonical[:, :k],
            motion._replace(deformation=motion.deformation[:, :k]),
            self.convention,
            view=view,
            use_translation_z=self.uses_translation_z,
        )
        if canonical.shape[1] == k:
            return face
        background = canonical[:, k:] + DISPLACEMENT_UNIT * motion.deformation[:, k:]
        return face._replace(points=torch.cat([face.points, background], dim=1))

    def decode(self, volume: Tensor, source: Keypoints, driving: Keypoints) -> Tensor:
        return self.render(volume[:, :, 0], source, driving)[0]

    def render(
        self, keyframe: Tensor, source: Keypoints, driving: Keypoints
    ) -> tuple[Tensor, Tensor]:
        """The output frame and the keyframe warped at ``motion_size`` (for the training loss)."""
        arch = self.arch
        m, g = arch.motion_size, arch.generator_size
        size = keyframe.shape[-2:]
        src_kp, drv_kp = source.points[..., :2], driving.points[..., :2]
        src_face, drv_face = src_kp[:, : self.face_kp], drv_kp[:, : self.face_kp]
        spread = (src_face - src_face.mean(1, keepdim=True)).square().sum((1, 2))
        spread_d = (drv_face - drv_face.mean(1, keepdim=True)).square().sum((1, 2))
        ratio = torch.sqrt(spread / spread_d.clamp_min(1e-6))
        affine = local_affines(source.rotation, driving.rotation, ratio)  # B x 2 x 2
        # Each face keypoint's patch turns and scales with the head; a background one only moves.
        affine = torch.cat(
            [
                affine[:, None].expand(-1, self.face_kp, -1, -1),
                torch.eye(2, dtype=affine.dtype, device=affine.device).expand(
                    affine.shape[0], src_kp.shape[1] - self.face_kp, -1, -1
                ),
            ],
            dim=1,
        )  # B x K x 2 x 2
        small = shrink(keyframe, m)
        flow, occlusion = self.motion(small, src_kp, drv_kp, affine)  # B x m x m x 2, B x 1 x m x m
        warped_small = F.grid_sample(
            small, flow, mode="bilinear", padding_mode="border", align_corners=False
        )
        mid = shrink(keyframe, g)
        flow_g = upsample_flow(flow, g)  # B x g x g x 2
        warped_g = F.grid_sample(
            mid, flow_g, mode="bilinear", padding_mode="border", align_corners=False
        )
        occlusion_g = torch.sigmoid(
            F.interpolate(occlusion, size=(g, g), mode="bilinear", align_corners=False)
        )
        displacement = (flow_g - base_grid(g, flow_g)).permute(0, 3, 1, 2)
        paint, blend = self.inpainter(warped_g * occlusion_g, occlusion_g, displacement)
        warped = F.grid_sample(
            keyframe,
            upsample_flow(flow, size[-1]),
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        blend_full = torch.sigmoid(
            F.interpolate(blend, size=size, mode="bilinear", align_corners=False)
        )
        paint_full = F.interpolate(paint, size=size, mode="bilinear", align_corners=False)
        return blend_full * warped + (1 - blend_full) * paint_full, warped_small
