"""Model configurations: one frozen dataclass, the named presets, and a strict JSON loader.

A configuration says which family of networks to build and how large. The architecture details
of each family live in that family's ``arch.py`` (``FaceVid2VidArch``, ``LivePortraitArch``);
this module only assembles and validates them. Configs do no I/O.

Presets:
``paper-256``    the paper: K=20 keypoints, 32×16×64×64 volume, 256 px in and out
``paper-512``    the same networks with one more generator up block: 512 px out
``face-vid2vid`` zhengkw18/face-vid2vid's released checkpoint (K=15, 256 px); what
                 ``vid2vid-convert`` writes for that family
``liveportrait`` LivePortrait: 21 keypoints with scale, warping hourglass, SPADE decoder to 512 px
``small-256``    3.6 M parameters (7 MB fp16), K=15, 256 px: small enough to ship trained
                 weights in the package and to run the sender on a CPU in real time
``lite-256``     the lite family (the shipped default model's): dlib landmarks as motion, a learned
                 2D warp of the keyframe image with inpainting; 1.4 M parameters, CPU-trainable
``lite-512``     the same networks on 512 px keyframes and output (the shipped default's config)
``lite-tiny``    the lite family at 64 px, for tests
``lite-256bg``   lite-256 with 12 background points (a 4 x 4 grid's border) tracked by optical
                 flow at the sender: K = 32
``lite-512bg``   the same at 512 px
``lite-tiny-bg`` lite-tiny with 8 background points (a 3 x 3 grid's border), for tests
``tiny``         a few hundred thousand parameters, for tests and CPU demos
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from vid2vid.codec.facevid2vid.arch import FaceVid2VidArch
from vid2vid.codec.lite.arch import LiteArch
from vid2vid.codec.lite.background import ring_count
from vid2vid.codec.lite.template import KEYPOINTS
from vid2vid.codec.liveportrait.arch import LivePortraitArch
from vid2vid.errors import ConfigError

#: Arch fields that came after shipped checkpoints, with the default that means "absent".
LATE_ARCH_FIELDS: dict[str, Any] = {"background_grid": 0}

Family = Literal["face-vid2vid", "liveportrait", "lite"]
Arch = FaceVid2VidArch | LivePortraitArch | LiteArch
_ARCH_OF_FAMILY: dict[str, type[Any]] = {
    "face-vid2vid": FaceVid2VidArch,
    "liveportrait": LivePortraitArch,
    "lite": LiteArch,
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a model; hashed with the weights into its fingerprint."""

    name: str
    family: Family
    num_kp: int
    input_size: int = 256
    output_size: int = 256
    arch: Arch = field(default_factory=FaceVid2VidArch)

    def __post_init__(self) -> None:
        if self.family not in get_args(Family):
            raise ConfigError(f"family must be one of {get_args(Family)}, got {self.family!r}")
        expected = _ARCH_OF_FAMILY[self.family]
        if not isinstance(self.arch, expected):
            raise ConfigError(
                f"arch must be {expected.__name__} for family {self.family!r}, "
                f"got {type(self.arch).__name__}"
            )
        if not 1 <= self.num_kp <= 64:
            raise ConfigError(f"num_kp must be in 1..64, got {self.num_kp}")
        if isinstance(self.arch, LiteArch):
            expected_kp = len(KEYPOINTS) + ring_count(self.arch.background_grid)
            if self.num_kp != expected_kp:
                raise ConfigError(
                    f"a lite model with background_grid {self.arch.background_grid} sends "
                    f"{expected_kp} keypoints, but num_kp is {self.num_kp}"
                )
        for name in ("input_size", "output_size"):
            value = getattr(self, name)
            if value < 32 or value % 32:
                raise ConfigError(f"{name} must be a multiple of 32 and at least 32, got {value}")

    @property
    def is_liveportrait(self) -> bool:
        return self.family == "liveportrait"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :func:`config_from_dict` reads it back exactly.

        Arch fields added after checkpoints were shipped are left out at their default, so the
        configs, and so the fingerprints, of those checkpoints stay what they were.
        """
        data = dataclasses.asdict(self)
        for name, default in LATE_ARCH_FIELDS.items():
            if data["arch"].get(name, default) == default:
                data["arch"].pop(name, None)
        return data

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


def _strict_fields(cls: type[Any], data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check ``data`` against the dataclass's fields: unknown keys are an error, not ignored."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in {where} (known: {', '.join(sorted(known))})"
        )
    values = dict(data)
    for f in dataclasses.fields(cls):
        # JSON has no tuples: restore them where the field's default is one.
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(default, tuple) and isinstance(values.get(f.name), list):
            values[f.name] = tuple(values[f.name])
    return values


def config_from_dict(data: Mapping[str, Any]) -> ModelConfig:
    """Build a config from its :meth:`ModelConfig.to_dict` form, rejecting unknown keys."""
    values = _strict_fields(ModelConfig, data, "model config")
    family = values.get("family")
    if family not in _ARCH_OF_FAMILY:
        raise ConfigError(f"family must be one of {get_args(Family)}, got {family!r}")
    arch_cls = _ARCH_OF_FAMILY[family]
    arch_values = _strict_fields(arch_cls, values.get("arch", {}), f"{family} arch")
    try:
        values["arch"] = arch_cls(**arch_values)
        return ModelConfig(**values)
    except TypeError as exc:  # a missing required key
        raise ConfigError(f"model config is incomplete: {exc}") from None


def _paper_256() -> ModelConfig:
    # The paper trains with a two-scale patch discriminator (pix2pixHD's).
    return ModelConfig(
        name="paper-256",
        family="face-vid2vid",
        num_kp=20,
        arch=FaceVid2VidArch(discriminator_scales=2),
    )


def _paper_512() -> ModelConfig:
    return ModelConfig(
        name="paper-512",
        family="face-vid2vid",
        num_kp=20,
        output_size=512,
        arch=FaceVid2VidArch(generator_extra_up=1, discriminator_scales=2),
    )


def _face_vid2vid() -> ModelConfig:
    return ModelConfig(
        name="face-vid2vid", family="face-vid2vid", num_kp=15, arch=FaceVid2VidArch()
    )


def _liveportrait() -> ModelConfig:
    return ModelConfig(
        name="liveportrait",
        family="liveportrait",
        num_kp=21,
        output_size=512,
        arch=LivePortraitArch(),
    )


def _small_256() -> ModelConfig:
    return ModelConfig(
        name="small-256", family="face-vid2vid", num_kp=15, arch=FaceVid2VidArch.small()
    )


def _lite_256() -> ModelConfig:
    return ModelConfig(name="lite-256", family="lite", num_kp=20, arch=LiteArch())


def _lite_512() -> ModelConfig:
    return ModelConfig(
        name="lite-512", family="lite", num_kp=20, input_size=512, output_size=512, arch=LiteArch()
    )


def _lite_tiny() -> ModelConfig:
    return ModelConfig(
        name="lite-tiny",
        family="lite",
        num_kp=20,
        input_size=64,
        output_size=64,
        arch=LiteArch(
            motion_size=16,
            motion_channels=(8, 16),
            generator_size=32,
            generator_channels=(8, 16, 16),
        ),
    )


def _with_background(config: ModelConfig, name: str, grid: int) -> ModelConfig:
    """``config`` with the border ring of a grid x grid grid as background points after K."""
    return dataclasses.replace(
        config,
        name=name,
        num_kp=config.num_kp + ring_count(grid),
        arch=dataclasses.replace(config.arch, background_grid=grid),
    )


def _tiny() -> ModelConfig:
    return ModelConfig(
        name="tiny",
        family="face-vid2vid",
        num_kp=10,
        input_size=64,
        output_size=64,
        arch=FaceVid2VidArch.tiny(),
    )


PRESETS: dict[str, Callable[[], ModelConfig]] = {
    "paper-256": _paper_256,
    "paper-512": _paper_512,
    "face-vid2vid": _face_vid2vid,
    "liveportrait": _liveportrait,
    "small-256": _small_256,
    "lite-256": _lite_256,
    "lite-512": _lite_512,
    "lite-tiny": _lite_tiny,
    "lite-256bg": lambda: _with_background(_lite_256(), "lite-256bg", 4),
    "lite-512bg": lambda: _with_background(_lite_512(), "lite-512bg", 4),
    "lite-tiny-bg": lambda: _with_background(_lite_tiny(), "lite-tiny-bg", 3),
    "tiny": _tiny,
}


def preset(name: str) -> ModelConfig:
    """The named preset; a clear error lists the valid names."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown model config {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None


def volume_shape(config: ModelConfig) -> tuple[int, int, int, int]:
    """C x D x H x W of F's appearance volume for one image: what a volume keyframe must hold."""
    arch = config.arch
    if isinstance(arch, LiteArch):
        return (3, 1, config.output_size, config.output_size)
    if isinstance(arch, FaceVid2VidArch):
        side = config.input_size // arch.appearance_stride
    else:
        side = config.input_size // arch.volume_scale
    return (arch.volume_channels, arch.volume_depth, side, side)
