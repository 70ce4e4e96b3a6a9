"""Keypoint math of face-vid2vid: head rotation from angles and the keypoint transform.

Eq. (1)-(4) of the paper: the source and driving keypoints are the canonical keypoints x_c
moved by a head rotation R, a translation t and per-keypoint expression deformations δ:

    x = s · (R · x_c + δ) + t

The scale s is 1 in the paper's family and learned in LivePortrait's; LivePortrait also
ignores the z of t. The viewer's free-view control composes on the driving side:
R_d ← R_u · R_d and t_d ← t_u + t_d.

Two rotation conventions exist in the public checkpoints (both column-vector matrices):
``"xyz"`` (zhengkw18/face-vid2vid): R = Rx(pitch) · Ry(yaw) · Rz(roll)
``"zyx"`` (LivePortrait):          R = Rz(roll) · Ry(yaw) · Rx(pitch)
Angles are in degrees everywhere in vid2vid.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor

RotationConvention = Literal["xyz", "zyx"]


class Motion(NamedTuple):
    """The per-frame motion of a head: what a motion packet carries (batched).

    Angles in degrees. ``scale`` is all ones for families without a learned scale.
    """

    yaw: Tensor  # B
    pitch: Tensor  # B
    roll: Tensor  # B
    translation: Tensor  # B x 3
    deformation: Tensor  # B x K x 3
    scale: Tensor  # B


class CanonicalKeypoints(NamedTuple):
    """L's output: canonical keypoints x_c and, when the family predicts them, Jacobians J_c."""

    points: Tensor  # B x K x 3
    jacobians: Tensor | None = None  # B x K x 3 x 3


class Keypoints(NamedTuple):
    """Posed 3D keypoints with the rotation that posed them (the first-order motion needs it).

    ``jacobians`` are the posed per-keypoint Jacobians J_k = R · J_c,k when L predicts them
    (face-vid2vid's optional first-order term); None means M uses the rotations alone.
    """

    points: Tensor  # B x K x 3
    rotation: Tensor  # B x 3 x 3
    jacobians: Tensor | None = None  # B x K x 3 x 3


class FreeView(NamedTuple):
    """The viewer's extra head rotation (degrees) and translation, applied at the receiver."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def is_identity(self) -> bool:
        return self == FreeView()


def _axis_rotation(angle_rad: Tensor, axis: int) -> Tensor:
    """Rotation about one coordinate axis, B -> B x 3 x 3 (right-handed, column vectors)."""
    c, s = torch.cos(angle_rad), torch.sin(angle_rad)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    if axis == 0:
        rows = [one, zero, zero, zero, c, -s, zero, s, c]
    elif axis == 1:
        rows = [c, zero, s, zero, one, zero, -s, zero, c]
    else:
        rows = [c, -s, zero, s, c, zero, zero, zero, one]
    return torch.stack(rows, dim=-1).reshape(*angle_rad.shape, 3, 3)  # B x 3 x 3


def rotation_matrix(
    yaw: Tensor, pitch: Tensor, roll: Tensor, convention: RotationConvention
) -> Tensor:
    """Head rotation from yaw/pitch/roll in degrees: B, B, B -> B x 3 x 3."""
    rx = _axis_rotation(torch.deg2rad(pitch), 0)
    ry = _axis_rotation(torch.deg2rad(yaw), 1)
    rz = _axis_rotation(torch.deg2rad(roll), 2)
    if convention == "xyz":
        return rx @ ry @ rz
    if convention == "zyx":
        return rz @ ry @ rx
    raise ValueError(f"unknown rotation convention {convention!r}")


def angles_from_rotation(
    rotation: Tensor, convention: RotationConvention
) -> tuple[Tensor, Tensor, Tensor]:
    """Inverse of :func:`rotation_matrix` for |yaw| < 90°: B x 3 x 3 -> (yaw, pitch, roll) in degrees."""
    r = rotation
    if convention == "xyz":
        # R = Rx(p) Ry(y) Rz(r): R[0,2] = sin y, R[0,0..1] = cos y (cos r, -sin r), R[1..2,2] = cos y (-sin p, cos p)
        yaw = torch.asin(r[..., 0, 2].clamp(-1.0, 1.0))
        roll = torch.atan2(-r[..., 0, 1], r[..., 0, 0])
        pitch = torch.atan2(-r[..., 1, 2], r[..., 2, 2])
    elif convention == "zyx":
        # R = Rz(r) Ry(y) Rx(p): R[2,0] = -sin y, R[2,1..2] = cos y (sin p, cos p), R[0..1,0] = cos y (cos r, sin r)
        yaw = torch.asin((-r[..., 2, 0]).clamp(-1.0, 1.0))
        pitch = torch.atan2(r[..., 2, 1], r[..., 2, 2])
        roll = torch.atan2(r[..., 1, 0], r[..., 0, 0])
    else:
        raise ValueError(f"unknown rotation convention {convention!r}")
    return torch.rad2deg(yaw), torch.rad2deg(pitch), torch.rad2deg(roll)


def angles_from_bins(
    logits: Tensor, bin_degrees: float = 3.0, offset_degrees: float = 97.5
) -> Tensor:
    """Expected angle of a 66-bin classifier (Hopenet style): B x 66 -> B degrees.

    ``Σ softmax(logits)_i · i · bin_degrees − offset_degrees``; LivePortrait uses an offset of
    97.5°, zhengkw18/face-vid2vid 99° (``(E − 33) · 3``).
    """
    index = torch.arange(logits.shape[-1], dtype=logits.dtype, device=logits.device)  # 66
    return (torch.softmax(logits, dim=-1) * index).sum(dim=-1) * bin_degrees - offset_degrees


def posed_keypoints(
    canonical: Tensor,
    motion: Motion,
    convention: RotationConvention,
    *,
    view: FreeView | None = None,
    use_translation_z: bool = True,
    jacobians: Tensor | None = None,
) -> Keypoints:
    """Eq. (1)-(4): x = s · (R · x_c + δ) + t, with the optional free view on top.

    ``canonical`` is B x K x 3. The free view multiplies R on the left (R_d ← R_u · R_d) and adds
    its translation (t_d ← t_u + t_d). Canonical ``jacobians`` J_c (B x K x 3 x 3), when given,
    are posed as J = R · J_c with the same (view-composed) R: δ and t do not change a Jacobian,
    and s is left out as in the rotation-only term R_s R_d⁻¹ (it is 1 in the paper's family).
    """
    rotation = rotation_matrix(motion.yaw, motion.pitch, motion.roll, convention)  # B x 3 x 3
    translation = motion.translation  # B x 3
    if view is not None and not view.is_identity:
        batch = canonical.shape[0]
        like = canonical.new_full((batch,), 0.0)
        user = rotation_matrix(like + view.yaw, like + view.pitch, like + view.roll, convention)
        rotation = user @ rotation  # B x 3 x 3
        translation = translation + canonical.new_tensor(view.translation)  # B x 3
    if not use_translation_z:
        translation = torch.cat([translation[:, :2], torch.zeros_like(translation[:, 2:])], dim=1)
    rotated = torch.einsum("bij,bkj->bki", rotation, canonical)  # B x K x 3
    points = motion.scale[:, None, None] * (rotated + motion.deformation)  # B x K x 3
    points = points + translation[:, None, :]  # B x K x 3
    posed = None
    if jacobians is not None:
        posed = torch.einsum("bij,bkjl->bkil", rotation, jacobians)  # B x K x 3 x 3
    return Keypoints(points=points, rotation=rotation, jacobians=posed)


def identity_motion(batch: int, num_kp: int, *, device: torch.device | str = "cpu") -> Motion:
    """A frontal head with no translation, no expression and unit scale."""
    zeros = torch.zeros(batch, device=device)
    return Motion(
        yaw=zeros,
        pitch=zeros.clone(),
        roll=zeros.clone(),
        translation=torch.zeros(batch, 3, device=device),
        deformation=torch.zeros(batch, num_kp, 3, device=device),
        scale=torch.ones(batch, device=device),
    )


def relative_motion(
    source: Motion, driving: Motion, driving_reference: Motion, convention: RotationConvention
) -> Motion:
    """Transfer the *change* of the driving head since its reference frame onto the source.

    Used for cross-identity animation, where the driving face's absolute pose and expression
    belong to another person: R = R_d · R_ref⁻¹ · R_s, δ = δ_s + (δ_d − δ_ref),
    t = t_s + (t_d − t_ref), s = s_s · s_d / s_ref. With ``driving == driving_reference`` the
    source motion comes back unchanged.
    """

    def rot(m: Motion) -> Tensor:
        return rotation_matrix(m.yaw, m.pitch, m.roll, convention)  # B x 3 x 3

    rotation = rot(driving) @ rot(driving_reference).transpose(1, 2) @ rot(source)  # B x 3 x 3
    yaw, pitch, roll = angles_from_rotation(rotation, convention)
    return Motion(
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        translation=source.translation + driving.translation - driving_reference.translation,
        deformation=source.deformation + driving.deformation - driving_reference.deformation,
        scale=source.scale * driving.scale / driving_reference.scale,
    )
