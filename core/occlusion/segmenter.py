"""The video segmenter behind the occlusion masker: a small interface, and SAM 2.1 behind it.

The masker speaks to its segmenter in the segmenter's own square pixels (`image_size`): frames are already cut
around the face and resized, clicks are already mapped. That keeps `VideoSegmenter` to three calls, which SAM2's
video predictor implements in `Sam2Segmenter` and a test double can implement with known masks.

sam2 is installed without its dependencies (its metadata asks for torchvision, which only its image predictor and
automatic mask generator use), so this module imports only `sam2.build_sam`, `sam2.sam2_video_predictor` and
`sam2.modeling`.
"""

import contextlib
import logging
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import huggingface_hub
import numpy as np
import torch
from huggingface_hub.errors import LocalEntryNotFoundError
from safetensors.torch import load_file

from keydub.core.devices import resolve_device
from keydub.core.errors import (
    CheckpointConversionError,
    InvalidParameterError,
    OcclusionBackendError,
    WeightsNotFoundError,
)
from keydub.core.state_dict import describe_mismatch
from keydub.core.weights import cached_sha256, resolve_weights


logger = logging.getLogger(__name__)


# SAM2 normalises frames with the ImageNet statistics (sam2/utils/misc.py, `load_video_frames`).
_IMAGE_MEAN = (0.485, 0.456, 0.406)
_IMAGE_STD = (0.229, 0.224, 0.225)
# What installs SAM2: the command its error and the panel's occluder dock name.
SAM2_INSTALL_COMMAND = "pip install 'keydub[occlusion]'"


@dataclass(frozen=True)
class Sam2Variant:
    """One released SAM 2.1 size: the config shipped inside the sam2 package and the checkpoint on the hub.

    Args:
        config (`str`): hydra config name inside the sam2 package.
        repo_id (`str`): Hugging Face repository of the official checkpoint.
        filename (`str`): checkpoint file in that repository.
    """

    config: str
    repo_id: str
    filename: str


SAM2_VARIANTS: dict[str, Sam2Variant] = {
    "tiny": Sam2Variant("configs/sam2.1/sam2.1_hiera_t.yaml", "facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt"),
    "small": Sam2Variant("configs/sam2.1/sam2.1_hiera_s.yaml", "facebook/sam2.1-hiera-small", "sam2.1_hiera_small.pt"),
    "base-plus": Sam2Variant(
        "configs/sam2.1/sam2.1_hiera_b+.yaml", "facebook/sam2.1-hiera-base-plus", "sam2.1_hiera_base_plus.pt"
    ),
    "large": Sam2Variant("configs/sam2.1/sam2.1_hiera_l.yaml", "facebook/sam2.1-hiera-large", "sam2.1_hiera_large.pt"),
}


@dataclass(frozen=True)
class SegmenterPrompt:
    """A prompt in the segmenter's square pixels.

    Args:
        points (`np.ndarray | None`): `(N, 2)` float32 `(x, y)` clicks.
        labels (`np.ndarray | None`): `(N,)` int32, 1 positive, 0 negative.
        box (`np.ndarray | None`): `(4,)` float32 `(x0, y0, x1, y1)`.
        mask (`np.ndarray | None`): `(S, S)` bool; stands alone.
    """

    points: np.ndarray | None = None
    labels: np.ndarray | None = None
    box: np.ndarray | None = None
    mask: np.ndarray | None = None


class VideoSegmenter(Protocol):
    """What the masker needs from a promptable video segmenter; all pixels are the segmenter's `image_size`.

    Masks come back as float logits, the object where `> 0`, keyed by the caller's object id.
    """

    image_size: int

    def init_state(self, frames: Sequence[np.ndarray]) -> Any:
        """A fresh tracking state over `frames`, each `(image_size, image_size, 3)` uint8 RGB."""

    def add_prompt(
        self, state: Any, frame_index: int, object_id: int, prompt: SegmenterPrompt
    ) -> dict[int, np.ndarray]:
        """Replace `object_id`'s prompt on `frame_index`; return that frame's logits for every object in `state`."""

    def propagate(
        self, state: Any, start: int, count: int, reverse: bool
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """Track every object over `count` frames from `start`, forward (or backward), yielding each frame."""


class _NormalizedFrames:
    """SAM2's `images` as a lazy sequence: uint8 frames normalised only when the backbone reads them.

    SAM2's own loaders hold every frame as float32 at `image_size` (12 MB a frame at 1024); keeping uint8 and
    converting on access divides that by four, like the package's own asynchronous loader does.
    """

    def __init__(self, frames: Sequence[np.ndarray]) -> None:
        self._frames = frames
        self._mean = torch.tensor(_IMAGE_MEAN, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(_IMAGE_STD, dtype=torch.float32)[:, None, None]

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = torch.from_numpy(np.ascontiguousarray(self._frames[index])).permute(2, 0, 1).float() / 255.0
        return (image - self._mean) / self._std


class Sam2Segmenter:
    """`VideoSegmenter` on SAM2's video predictor.

    The inference state is built from in-memory frames rather than through `init_state`, which only reads a JPEG
    folder or an mp4: writing JPEGs would cost an encode, a decode and a lossy copy of every frame.

    Args:
        predictor (`SAM2VideoPredictor`): a built predictor (see `build_sam2_segmenter`).
    """

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.image_size: int = int(predictor.image_size)
        self.device = torch.device(predictor.device)
        if self.device.type == "cpu":
            # SAM2 stores its memory features in bfloat16 and runs under bfloat16 autocast on CUDA (its README
            # and demo do). CPUs without bfloat16 units emulate it several times slower than float32, so on CPU
            # the model runs in float32 and the stored memory is widened where it is read.
            predictor.memory_attention.register_forward_pre_hook(_widen_memory, with_kwargs=True)

    def init_state(self, frames: Sequence[np.ndarray]) -> dict[str, Any]:
        size = self.image_size
        for frame in (frames[0], frames[-1]):
            if frame.shape != (size, size, 3) or frame.dtype != np.uint8:
                raise InvalidParameterError(
                    f"SAM2 frames must be ({size}, {size}, 3) uint8, got {frame.shape} {frame.dtype}"
                )
        # The same fields SAM2VideoPredictor.init_state fills; the test suite checks the two stay in step.
        return {
            "images": _NormalizedFrames(frames),
            "num_frames": len(frames),
            "offload_video_to_cpu": True,
            "offload_state_to_cpu": False,
            "video_height": size,
            "video_width": size,
            "device": self.device,
            "storage_device": self.device,
            "point_inputs_per_obj": {},
            "mask_inputs_per_obj": {},
            "cached_features": {},
            "constants": {},
            "obj_id_to_idx": OrderedDict(),
            "obj_idx_to_id": OrderedDict(),
            "obj_ids": [],
            "output_dict_per_obj": {},
            "temp_output_dict_per_obj": {},
            "frames_tracked_per_obj": {},
        }

    def add_prompt(
        self, state: dict[str, Any], frame_index: int, object_id: int, prompt: SegmenterPrompt
    ) -> dict[int, np.ndarray]:
        with self._autocast():
            # Start from nothing on this frame, so a frame's mask depends on its prompt alone and a saved job
            # replays to exactly what the editor saw.
            self.predictor.clear_all_prompts_in_frame(state, frame_index, object_id, need_output=False)
            if prompt.mask is not None:
                _, object_ids, logits = self.predictor.add_new_mask(state, frame_index, object_id, prompt.mask)
            else:
                _, object_ids, logits = self.predictor.add_new_points_or_box(
                    state, frame_index, object_id, points=prompt.points, labels=prompt.labels, box=prompt.box
                )
        return _logits_by_object(object_ids, logits)

    def propagate(
        self, state: dict[str, Any], start: int, count: int, reverse: bool
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        frames = self.predictor.propagate_in_video(
            state, start_frame_idx=start, max_frame_num_to_track=count - 1, reverse=reverse
        )
        while True:
            # Autocast only around SAM2's own step: a context held across `yield` would leak into the caller.
            with self._autocast():
                step = next(frames, None)
            if step is None:
                return
            frame_index, object_ids, logits = step
            yield frame_index, _logits_by_object(object_ids, logits)

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.device.type == "cpu":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)


def _widen_memory(
    module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Forward pre-hook: bfloat16 tensors handed to SAM2's memory attention become float32."""
    widened = {
        name: value.float() if isinstance(value, torch.Tensor) and value.dtype == torch.bfloat16 else value
        for name, value in kwargs.items()
    }
    return args, widened


def _logits_by_object(object_ids: Sequence[int], logits: torch.Tensor) -> dict[int, np.ndarray]:
    array = logits.float().cpu().numpy()
    return {int(object_id): array[index, 0] for index, object_id in enumerate(object_ids)}


def build_sam2_segmenter(
    checkpoint: Path | None, variant: str = "large", device: str | torch.device = "auto", image_size: int | None = None
) -> tuple[Sam2Segmenter, str]:
    """Build SAM 2.1 from the config shipped in the sam2 package and load its weights.

    Args:
        checkpoint (`Path | None`): a local `.pt` (official layout, `{"model": state_dict}`) or `.safetensors`
            file (see `resolve_sam2_checkpoint`), or `None` for random weights (tests and benchmarks).
        variant (`str`, defaults to `"large"`): `"tiny"`, `"small"`, `"base-plus"` or `"large"`.
        device (`str | torch.device`, defaults to `"auto"`): `"auto"` picks CUDA when available.
        image_size (`int | None`): override the model's input side (1024); smaller sizes are for tests.

    Returns:
        `tuple[Sam2Segmenter, str]`: the segmenter and an identity string for the weights (used in cache keys).
    """
    variant = _variant_for(None, variant)
    build_sam = require_sam2()
    overrides = [f"++model.image_size={image_size}"] if image_size is not None else []
    predictor = build_sam.build_sam2_video_predictor(
        SAM2_VARIANTS[variant].config, ckpt_path=None, device="cpu", hydra_overrides_extra=overrides
    )
    if checkpoint is not None:
        _load_weights(predictor, checkpoint, variant)
    if not _has_compiled_extension():
        # The hole-filling post-process needs sam2's CUDA extension; without it SAM2 warns on every frame and
        # skips the step, so switch it off once.
        predictor.fill_hole_area = 0
    predictor = predictor.to(resolve_device(device)).eval()
    return Sam2Segmenter(predictor), sam2_identity(checkpoint, variant, image_size)


def sam2_identity(checkpoint: Path | None, variant: str, image_size: int | None = None) -> str:
    """Names a SAM2 model by size, input side and weights content, without building it (for cache keys)."""
    weights = "random" if checkpoint is None else cached_sha256(checkpoint)[:16]
    return f"sam2.1-{variant}:{image_size or 'default'}:{weights}"


def resolve_sam2_checkpoint(pretrained: str | os.PathLike[str] | None, variant: str | None = None) -> tuple[Path, str]:
    """Local path and variant of a SAM 2.1 checkpoint.

    Hiera-L (the default) and local files go through the project's weights resolver (`keydub.core.weights`,
    component `sam2`), so the weights config file and `keydub weights download sam2` apply; the smaller
    variants' hub files are fetched here through the Hugging Face cache.

    Args:
        pretrained (`str | os.PathLike | None`): a hub id of `SAM2_VARIANTS`, a local checkpoint file, or `None`
            for the configured (else the default) weights of `variant`.
        variant (`str | None`): the size; taken from a hub id, `"large"` otherwise.

    Returns:
        `tuple[Path, str]`: the checkpoint file and its variant.

    Raises:
        `WeightsNotFoundError`: the file does not exist, or is not cached and cannot be downloaded (offline).
    """
    variant = _variant_for(pretrained, variant)
    entry = SAM2_VARIANTS[variant]
    is_variant_default = pretrained is None or str(pretrained) == entry.repo_id
    if variant != "large" and is_variant_default:
        return _hub_file(entry.repo_id, entry.filename), variant
    return resolve_weights("sam2", pretrained), variant


def _hub_file(repo_id: str, filename: str) -> Path:
    """One file of a hub repository through the Hugging Face cache, honouring HF_HUB_OFFLINE."""
    try:
        return Path(huggingface_hub.hf_hub_download(repo_id=repo_id, filename=filename))
    except LocalEntryNotFoundError as error:
        raise WeightsNotFoundError(
            f"{repo_id}/{filename} is not in the Hugging Face cache and cannot be downloaded now (offline or no "
            "network); run once with network access (without HF_HUB_OFFLINE=1) or pass a local checkpoint file"
        ) from error


def _variant_for(checkpoint: str | os.PathLike[str] | None, variant: str | None) -> str:
    by_repo = {entry.repo_id: name for name, entry in SAM2_VARIANTS.items()}
    from_repo = by_repo.get(str(checkpoint)) if checkpoint is not None else None
    if variant is not None and variant not in SAM2_VARIANTS:
        raise InvalidParameterError(f"SAM2 variant {variant!r} is unknown; choose one of {', '.join(SAM2_VARIANTS)}")
    if from_repo is not None and variant is not None and variant != from_repo:
        raise InvalidParameterError(
            f"{checkpoint} is the {from_repo!r} model but variant {variant!r} was asked for; drop the variant or "
            f"use {SAM2_VARIANTS[variant].repo_id}"
        )
    return from_repo or variant or "large"


def _load_weights(predictor: torch.nn.Module, path: Path, variant: str) -> None:
    """Load a checkpoint with a strict key check (safetensors, or a `.pt` read with `weights_only=True`)."""
    if path.suffix == ".safetensors":
        state_dict = load_file(str(path))
    else:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state_dict = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict):
        raise CheckpointConversionError(f"{path} holds no state dict; expected SAM2's {{'model': state_dict}} layout")
    expected = {key: tuple(value.shape) for key, value in predictor.state_dict().items()}
    mismatch = describe_mismatch(state_dict, expected)
    if mismatch:
        raise CheckpointConversionError(
            f"{path} does not match SAM 2.1 {variant!r}: {mismatch}; pass the variant the checkpoint was trained as"
        )
    predictor.load_state_dict(state_dict)
    logger.info("loaded SAM 2.1 %s weights from %s", variant, path)


def require_sam2() -> Any:
    """SAM2's `build_sam` module.

    Raises:
        `OcclusionBackendError`: sam2 (or a module it needs) cannot be imported; the message names the install
        command.
    """
    try:
        from sam2 import build_sam
    except ImportError as error:
        raise OcclusionBackendError(
            f"occlusion masks need SAM2, which is not installed ({error}); install it with "
            f"`{SAM2_INSTALL_COMMAND}` (see the README for the --no-deps install of sam2)"
        ) from error
    return build_sam


def _has_compiled_extension() -> bool:
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        return False
    return True
