"""Convert the official KeySync checkpoints to safetensors folders in our diffusers layout.

The official `keyframe_dub.pt` / `interpolation_dub.pt` (keysync-architecture.md §8.1-8.2) are DeepSpeed model
states: a dict whose `"module"` entry maps `_forward_module.<name>` to tensors. Of those tensors we keep

- `model.diffusion_model.*`: the sgm `VideoUNet`, renamed to diffusers' `UNetSpatioTemporalConditionModel`
  (the same architecture, §8.3) by the rule set below;
- `conditioner.embedders.2.linear.{weight,bias}`: the audio projector (§2.3);
- `model.learned_mask`: the interpolation model's learned latent `z_m` (§4), absent from keyframe checkpoints.

Everything else (the unused conditioner autoencoder, the sgm VAE, training leftovers) is counted per prefix,
recorded and deliberately not converted. The U-Net configuration is read from the tensor shapes, the expected
diffusers keys come from a meta-device model of that configuration, and every expected key is mapped back to
its official name: the conversion only succeeds when that map is one-to-one and its image is exactly the set of
official U-Net tensors, with equal shapes. A missing, extra or misshapen tensor is a `CheckpointConversionError`
naming it.

The rules are written from the diffusers side (one generic rule per block kind, with the official block
index computed from the layer count) rather than as a list of official names, so single-layer blocks cannot be
skipped the way diffusers' own SVD conversion script misplaces `output_blocks.{i}.0.time_mixer.mix_factor`
(§8.4).

Output (`DIR/<kind>/`): `unet/` (config.json + diffusion_pytorch_model.safetensors, for `KeySyncUNet`),
`audio_projector/` (for `AudioProjector`), `learned_mask.safetensors` (interpolation only, key `learned_mask`)
and `keydub_conversion.json` (source hash, tensor counts, what was ignored). Load the U-Net with `KeySyncUNet`,
not the plain diffusers class: the official ResBlock GroupNorms use eps 1e-5 everywhere, where diffusers' SVD
blocks use 1e-6 in some of them (§8.4b); the tensors are the same either way.
"""

import json
import logging
import os
import pickle
import re
import shutil
import tempfile
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import diffusers
import torch
from accelerate import init_empty_weights
from diffusers import UNetSpatioTemporalConditionModel
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from keydub.core import __version__
from keydub.core.errors import (
    CheckpointConversionError,
    OutputExistsError,
    OutputNotWritableError,
    WeightsNotFoundError,
)
from keydub.core.files import apply_umask_modes, describe_contents, sha256_file
from keydub.core.model.audio_projector import AudioProjector
from keydub.core.progress import ProgressCallback, report
from keydub.core.state_dict import describe_mismatch
from keydub.core.weight_files import (
    LEARNED_MASK_FILE,
    PROJECTOR_FOLDER,
    RECORD_FILE,
    UNET_FOLDER,
    conversion_folder,
    conversion_matches,
    first_line,
)
from keydub.core.weights import cached_sha256, keydub_cache_dir, resolve_weights


logger = logging.getLogger(__name__)

KeySyncKind = Literal["keyframe", "interpolation"]
KINDS: tuple[KeySyncKind, ...] = ("keyframe", "interpolation")

WRAPPER_PREFIX = "_forward_module."  # added by DeepSpeed/Lightning around the DiffusionEngine
UNET_PREFIX = "model.diffusion_model."
LEARNED_MASK_KEY = "model.learned_mask"
PROJECTOR_PREFIX = "conditioner.embedders.2.linear."

KEYSYNC_NUM_FRAMES = 14  # frames per U-Net window in both stages (§3.1, §4)
KEYSYNC_LATENT_SIZE = 64  # 512x512 crops through the f8 VAE (§1.1)

WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"
RECORD_FORMAT = 1

_LISTED_IN_ERRORS = 5  # how many names of each kind of mismatch an error message spells out

# diffusers name -> official name, inside one SpatioTemporalResBlock (sgm VideoResBlock). The spatial half is
# the sgm ResBlock itself, the temporal half its `time_stack`.
_RESNET_PARTS = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_RESNET_HALVES = {"spatial_res_block": "", "temporal_res_block": "time_stack."}

# diffusers name -> official name, inside one TransformerSpatioTemporalModel (sgm SpatialVideoTransformer);
# everything not listed (norm, proj_in/out, transformer_blocks.*, time_mixer) keeps its name.
_ATTENTION_PARTS = {
    "temporal_transformer_blocks.": "time_stack.",
    "time_pos_embed.linear_1.": "time_pos_embed.0.",
    "time_pos_embed.linear_2.": "time_pos_embed.2.",
}

_TOP_LEVEL = {
    "conv_in.": "input_blocks.0.0.",
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}

_SLOTS = {"resnets": 0, "attentions": 1}  # position inside an official input/output block
_BLOCK_KEY = re.compile(r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)$")
_MID_KEY = re.compile(r"^mid_block\.(resnets|attentions)\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class ConvertedKeySync:
    """One official KeySync checkpoint in our layout, ready to be written.

    Args:
        kind (`str`): `"keyframe"` or `"interpolation"`.
        unet_config (`dict`): `UNetSpatioTemporalConditionModel` / `KeySyncUNet` configuration read from shapes.
        unet (`dict[str, torch.Tensor]`): U-Net tensors under diffusers names.
        audio_projector (`dict[str, torch.Tensor]`): `AudioProjector` tensors (`linear.weight`, `linear.bias`).
        learned_mask (`torch.Tensor`, *optional*): the interpolation model's learned latent, `[4, 64, 64]`.
        ignored (`dict[str, int]`): official tensors left out on purpose, counted per name prefix.
    """

    kind: KeySyncKind
    unet_config: dict[str, Any]
    unet: dict[str, torch.Tensor]
    audio_projector: dict[str, torch.Tensor]
    learned_mask: torch.Tensor | None
    ignored: dict[str, int] = field(default_factory=dict)

    @property
    def audio_projector_config(self) -> dict[str, int]:
        in_features = self.audio_projector["linear.weight"].shape[1]
        out_features = self.audio_projector["linear.weight"].shape[0]
        return {"in_features": in_features, "out_features": out_features}


# Reading ---------------------------------------------------------------------------------------------------
def load_official_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read an official checkpoint's tensors, unwrapped and without the `_forward_module.` prefix.

    Accepts the DeepSpeed `.pt` (tensors under `"module"`), a Lightning `.ckpt` (under `"state_dict"`), a bare
    state dict, or a `.safetensors` file, as the official `init_from_ckpt` does. Pickled files are read with
    `torch.load(weights_only=True)`: nothing but tensors and plain containers is ever unpickled.
    """
    path = Path(path)
    loaded = load_tensor_file(path)
    if isinstance(loaded, Mapping) and "module" in loaded:
        loaded = loaded["module"]
    elif isinstance(loaded, Mapping) and "state_dict" in loaded:
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not any(isinstance(value, torch.Tensor) for value in loaded.values()):
        found = sorted(map(str, loaded))[:10] if isinstance(loaded, Mapping) else type(loaded).__name__
        raise CheckpointConversionError(
            f"{path} holds no state dict (looked under 'module' and 'state_dict'; found {found}); pass the "
            "official keyframe_dub.pt or interpolation_dub.pt"
        )
    return {_strip_wrapper(name): value for name, value in loaded.items() if isinstance(value, torch.Tensor)}


def load_tensor_file(path: str | os.PathLike) -> Any:
    """The one guarded door for every checkpoint file: safetensors, or a PyTorch file read tensors-only.

    A PyTorch file is read with `torch.load(weights_only=True)` (memory-mapped when its format allows), so a pickle
    is never executed; every way the file can be wrong becomes one `CheckpointConversionError` naming the file
    and what to do, never torch's, safetensors' or pickle's own message as a traceback.

    Raises:
        `WeightsNotFoundError`: nothing (or no file) at `path`.
        `CheckpointConversionError`: unreadable, empty, truncated, not a checkpoint, or holding Python objects.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(
            f"checkpoint {path} does not exist or is not a file; download it with `keydub weights download "
            "keyframe interpolation` or pass the path of keyframe_dub.pt / interpolation_dub.pt"
        )
    if not os.access(path, os.R_OK):
        raise CheckpointConversionError(f"{path} cannot be read by this user; check its permissions (chmod a+r)")
    if path.stat().st_size == 0:
        raise CheckpointConversionError(f"{path} is empty (0 bytes); download or copy the checkpoint again")
    if path.suffix == ".safetensors":
        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointConversionError(
                f"{path} is not a complete safetensors file: it is {describe_contents(path)} ({first_line(error)}); "
                "it may be truncated or another kind of file: download or convert it again"
            ) from error
    try:
        # torch warns about pickle protocols on its way to refusing a file; the refusal below says what matters.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                # mmap keeps a multi-GB checkpoint out of RAM until each tensor is written out.
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as error:
                if "mmap" not in str(error):
                    raise
                # torch's legacy (non-zip) format cannot be memory-mapped; read it whole, just as guarded.
                return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if _WEIGHTS_ONLY_REFUSAL not in str(error):
            raise CheckpointConversionError(
                f"{path} is not a PyTorch checkpoint: it is {describe_contents(path)} ({first_line(error)}); pass "
                "the official .pt file"
            ) from error
        raise CheckpointConversionError(
            f"{path} contains Python objects besides tensors ({_unsafe_globals(path, error)}); Keydub only loads "
            "tensors. If you trust the file, re-save its state dict alone (torch.save(ckpt['module'], ...)) and "
            "convert that"
        ) from error
    except Exception as error:  # the unpickler, fed arbitrary bytes, can fail with any exception type
        raise CheckpointConversionError(
            f"cannot read {path} as a PyTorch checkpoint: it is {describe_contents(path)} ({type(error).__name__}: "
            f"{first_line(error)}); it may be truncated or another kind of file: download it again"
        ) from error


# The start of torch's message when `weights_only` met something other than tensors and plain containers.
_WEIGHTS_ONLY_REFUSAL = "Weights only load failed"


def _unsafe_globals(path: Path, error: Exception) -> str:
    """The classes a refused pickle names: torch's own list for zip files, else the line of the error naming one."""
    try:
        return ", ".join(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # legacy (non-zip) files cannot be listed; the error message names the first global
        lines = [line.strip() for line in str(error).splitlines() if "GLOBAL" in line or "global" in line]
        return lines[0] if lines else "not only tensors"


def _strip_wrapper(name: str) -> str:
    return name[len(WRAPPER_PREFIX) :] if name.startswith(WRAPPER_PREFIX) else name


# Configuration from shapes ---------------------------------------------------------------------------------
def infer_unet_config(unet: Mapping[str, torch.Tensor], attention_head_dim: int = 64) -> dict[str, Any]:
    """Read the `UNetSpatioTemporalConditionModel` configuration from official U-Net tensor shapes.

    Args:
        unet (`Mapping[str, torch.Tensor]`): official U-Net tensors, names without `model.diffusion_model.`.
        attention_head_dim (`int`, defaults to `64`): channels per attention head (sgm `num_head_channels`);
            the only value shapes cannot tell.

    Returns:
        `dict`: keyword arguments for `UNetSpatioTemporalConditionModel` (and `KeySyncUNet`).
    """
    conv_in = _shape(unet, "input_blocks.0.0.weight")
    levels: list[list[int]] = [[]]  # input block indices of the res blocks of each level
    block_indices = sorted({int(name.split(".")[1]) for name in unet if name.startswith("input_blocks.")})
    for index in block_indices[1:]:
        if f"input_blocks.{index}.0.op.weight" in unet:
            levels.append([])
        else:
            levels[-1].append(index)
    layers = {len(level) for level in levels}
    if len(layers) != 1 or 0 in layers:
        raise CheckpointConversionError(
            f"the U-Net input blocks do not form levels of equal depth (res blocks per level: "
            f"{[len(level) for level in levels]}); this is not an SVD/KeySync U-Net"
        )
    channels = [_shape(unet, f"input_blocks.{level[0]}.0.out_layers.3.weight")[0] for level in levels]
    with_attention = [f"input_blocks.{level[0]}.1.norm.weight" in unet for level in levels]
    # A level without transformers has no depth of its own; diffusers reads the middle block's from the last.
    middle_depth = _transformer_depth(unet, "middle_block.1.")
    depths = [
        _transformer_depth(unet, f"input_blocks.{level[0]}.1.") if attn else middle_depth
        for level, attn in zip(levels, with_attention, strict=True)
    ]
    for width in channels:
        if width % attention_head_dim:
            raise CheckpointConversionError(
                f"block width {width} is not a multiple of attention_head_dim={attention_head_dim}; pass the "
                "head size the checkpoint was trained with (64 for KeySync)"
            )
    cross_attention = next((name for name in unet if name.endswith("attn2.to_k.weight")), None)
    if cross_attention is None:
        raise CheckpointConversionError("the U-Net has no cross-attention (no '*.attn2.to_k.weight' tensor)")
    return {
        "sample_size": KEYSYNC_LATENT_SIZE,
        "in_channels": conv_in[1],
        "out_channels": _shape(unet, "out.2.weight")[0],
        "down_block_types": [
            "CrossAttnDownBlockSpatioTemporal" if attn else "DownBlockSpatioTemporal" for attn in with_attention
        ],
        "up_block_types": [
            "CrossAttnUpBlockSpatioTemporal" if attn else "UpBlockSpatioTemporal" for attn in with_attention[::-1]
        ],
        "block_out_channels": channels,
        "projection_class_embeddings_input_dim": _shape(unet, "label_emb.0.0.weight")[1],
        "layers_per_block": layers.pop(),
        "cross_attention_dim": unet[cross_attention].shape[1],
        "transformer_layers_per_block": depths[0] if len(set(depths)) == 1 else depths,
        "num_attention_heads": [width // attention_head_dim for width in channels],
        "num_frames": KEYSYNC_NUM_FRAMES,
    }


def _shape(unet: Mapping[str, torch.Tensor], name: str) -> tuple[int, ...]:
    if name not in unet:
        raise CheckpointConversionError(
            f"missing tensor {UNET_PREFIX}{name}, needed to read the U-Net configuration; the file is not a "
            "complete KeySync checkpoint"
        )
    return tuple(unet[name].shape)


def _transformer_depth(unet: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"transformer_blocks\.(\d+)\.")
    return len({match.group(1) for name in unet if (match := pattern.match(name))})


# Key map -----------------------------------------------------------------------------------------------------
def expected_unet_shapes(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Names and shapes of every tensor of a diffusers U-Net with `config`, built on the meta device."""
    with init_empty_weights():
        model = UNetSpatioTemporalConditionModel(**config)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def official_unet_key(name: str, config: Mapping[str, Any]) -> str:
    """Official sgm `VideoUNet` name (without `model.diffusion_model.`) of a diffusers U-Net tensor name."""
    for ours, theirs in _TOP_LEVEL.items():
        if name.startswith(ours):
            return theirs + name[len(ours) :]
    stride = config["layers_per_block"] + 1  # official blocks per level: res(+attn) blocks, then the resampler
    if match := _BLOCK_KEY.match(name):
        side, block, part, layer, rest = match.groups()
        block, layer = int(block), int(layer)
        if side == "down_blocks":
            if part == "downsamplers":
                return f"input_blocks.{1 + block * stride + stride - 1}.0.op.{rest.removeprefix('conv.')}"
            return f"input_blocks.{1 + block * stride + layer}.{_SLOTS[part]}.{_official_inner(part, rest)}"
        if part == "upsamplers":
            # The upsampler follows the last res block's transformer when the level has one.
            slot = 2 if config["up_block_types"][block].startswith("CrossAttn") else 1
            return f"output_blocks.{block * stride + stride - 1}.{slot}.{rest}"
        return f"output_blocks.{block * stride + layer}.{_SLOTS[part]}.{_official_inner(part, rest)}"
    if match := _MID_KEY.match(name):
        part, layer, rest = match.groups()
        slot = 1 if part == "attentions" else 2 * int(layer)  # res block, transformer, res block
        return f"middle_block.{slot}.{_official_inner(part, rest)}"
    raise CheckpointConversionError(f"no conversion rule for the diffusers U-Net tensor {name}")


def _official_inner(part: str, rest: str) -> str:
    """Official name inside one res block (`part == "resnets"`) or one spatio-temporal transformer."""
    if part == "resnets":
        half, _, tail = rest.partition(".")
        if half in _RESNET_HALVES:
            layer, _, parameter = tail.partition(".")
            return f"{_RESNET_HALVES[half]}{_RESNET_PARTS.get(layer, layer)}.{parameter}"
        return rest  # time_mixer.mix_factor
    for ours, theirs in _ATTENTION_PARTS.items():
        if rest.startswith(ours):
            return theirs + rest[len(ours) :]
    return rest


def official_unet_key_map(config: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """Map every diffusers U-Net tensor of `config` to its official name, checking the map is one-to-one.

    Returns:
        `tuple[dict[str, str], dict[str, tuple[int, ...]]]`: diffusers name -> official name, and the expected
        shape of each diffusers tensor.
    """
    shapes = expected_unet_shapes(config)
    key_map = {name: official_unet_key(name, config) for name in shapes}
    clashes = [name for name, count in Counter(key_map.values()).items() if count > 1]
    if clashes:
        raise CheckpointConversionError(f"the key map sends several U-Net tensors to {_listing(clashes)}")
    return key_map, shapes


# Conversion --------------------------------------------------------------------------------------------------
def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor], kind: KeySyncKind, *, attention_head_dim: int = 64
) -> ConvertedKeySync:
    """Split and rename an official KeySync state dict (names without `_forward_module.`).

    Args:
        state_dict (`Mapping[str, torch.Tensor]`): from `load_official_state_dict`; meta tensors work too.
        kind (`str`): `"keyframe"` or `"interpolation"`.
        attention_head_dim (`int`, defaults to `64`): channels per attention head.

    Returns:
        [`ConvertedKeySync`]: the tensors under our names (the same tensor objects, not copies).
    """
    if kind not in KINDS:
        raise CheckpointConversionError(f"unknown KeySync model kind {kind!r}; use one of {', '.join(KINDS)}")
    official_unet: dict[str, torch.Tensor] = {}
    projector: dict[str, torch.Tensor] = {}
    learned_mask = None
    ignored: Counter[str] = Counter()
    unexpected_model: list[str] = []
    for name, tensor in state_dict.items():
        if name.startswith(UNET_PREFIX):
            official_unet[name[len(UNET_PREFIX) :]] = tensor
        elif name == LEARNED_MASK_KEY:
            learned_mask = tensor
        elif name.startswith(PROJECTOR_PREFIX):
            projector["linear." + name[len(PROJECTOR_PREFIX) :]] = tensor
        elif name.startswith("model."):
            unexpected_model.append(name)
        else:
            ignored[_ignored_group(name)] += 1
    if unexpected_model:
        raise CheckpointConversionError(
            f"{len(unexpected_model)} unexpected network tensors beside the U-Net ({_listing(unexpected_model)}); "
            "this is not a KeySync checkpoint"
        )
    _check_kind(kind, learned_mask, official_unet)
    _check_projector(projector)

    config = infer_unet_config(official_unet, attention_head_dim)
    key_map, shapes = official_unet_key_map(config)
    _check_unet_tensors(official_unet, key_map, shapes)
    unet = {ours: official_unet[theirs] for ours, theirs in key_map.items()}
    logger.info("converted %s U-Net: %d tensors; ignored %s", kind, len(unet), dict(ignored))
    return ConvertedKeySync(kind, config, unet, projector, learned_mask, dict(sorted(ignored.items())))


def _ignored_group(name: str) -> str:
    """Prefix under which an ignored tensor is counted: `conditioner.embedders.0`, `first_stage_model`, ..."""
    parts = name.split(".")
    depth = 3 if parts[0] == "conditioner" else 1
    return ".".join(parts[:depth])


def _check_kind(kind: KeySyncKind, learned_mask: torch.Tensor | None, unet: Mapping[str, torch.Tensor]) -> None:
    in_channels = unet["input_blocks.0.0.weight"].shape[1] if "input_blocks.0.0.weight" in unet else "?"
    if kind == "interpolation" and learned_mask is None:
        raise CheckpointConversionError(
            f"no {LEARNED_MASK_KEY} tensor, so this is not an interpolation checkpoint (U-Net input channels: "
            f"{in_channels}); pass interpolation_dub.pt as the interpolation model"
        )
    if kind == "keyframe" and learned_mask is not None:
        raise CheckpointConversionError(
            f"this checkpoint has {LEARNED_MASK_KEY} (U-Net input channels: {in_channels}), so it is the "
            "interpolation model; pass keyframe_dub.pt as the keyframe model"
        )
    if learned_mask is not None and learned_mask.ndim != 3:
        raise CheckpointConversionError(
            f"{LEARNED_MASK_KEY} has shape {list(learned_mask.shape)}, expected [channels, height, width]"
        )


def _check_projector(projector: Mapping[str, torch.Tensor]) -> None:
    for name in ("linear.weight", "linear.bias"):
        if name not in projector:
            raise CheckpointConversionError(
                f"missing tensor {PROJECTOR_PREFIX}{name.removeprefix('linear.')} (the audio projector); the file "
                "is not a complete KeySync checkpoint"
            )
    weight, bias = projector["linear.weight"], projector["linear.bias"]
    extra = sorted(set(projector) - {"linear.weight", "linear.bias"})
    if extra or weight.ndim != 2 or tuple(bias.shape) != (weight.shape[0],):
        raise CheckpointConversionError(
            f"the audio projector {PROJECTOR_PREFIX}* is not one Linear layer (weight {list(weight.shape)}, "
            f"bias {list(bias.shape)}, other tensors {extra})"
        )


def _check_unet_tensors(
    official: Mapping[str, torch.Tensor], key_map: Mapping[str, str], shapes: Mapping[str, tuple[int, ...]]
) -> None:
    expected = {f"{UNET_PREFIX}{theirs}": shapes[ours] for ours, theirs in key_map.items()}
    targets = {f"{UNET_PREFIX}{theirs}": f" (-> {ours} {list(shapes[ours])})" for ours, theirs in key_map.items()}
    found = {f"{UNET_PREFIX}{name}": tensor for name, tensor in official.items()}
    mismatch = describe_mismatch(found, expected, notes=targets)
    if mismatch:
        raise CheckpointConversionError(
            f"the U-Net tensors do not match the KeySync layout: {mismatch}. Use the official keyframe_dub.pt / "
            "interpolation_dub.pt, downloaded completely"
        )


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED_IN_ERRORS])
    return shown + ", ..." if len(names) > _LISTED_IN_ERRORS else shown


# Writing -----------------------------------------------------------------------------------------------------
def write_converted(converted: ConvertedKeySync, folder: Path, source: Mapping[str, Any]) -> None:
    """Write `converted` into the empty or new `folder` (not atomic by itself; see `convert_keysync_checkpoint`).

    Args:
        converted ([`ConvertedKeySync`]): what to write.
        folder (`Path`): destination, `DIR/<kind>` or a temporary folder renamed to it afterwards.
        source (`Mapping[str, Any]`): provenance stored in `keydub_conversion.json` (path, sha256, size).
    """
    unet_folder = folder / UNET_FOLDER
    unet_folder.mkdir(parents=True, exist_ok=True)
    unet_config = {"_class_name": "KeySyncUNet", "_diffusers_version": diffusers.__version__, **converted.unet_config}
    (unet_folder / "config.json").write_text(json.dumps(unet_config, indent=2) + "\n")
    save_file(_standalone(converted.unet), unet_folder / WEIGHTS_FILE, metadata={"format": "pt"})

    projector = AudioProjector(**converted.audio_projector_config)
    projector.load_state_dict(converted.audio_projector, strict=True)
    projector.save_pretrained(folder / PROJECTOR_FOLDER, safe_serialization=True)

    if converted.learned_mask is not None:
        save_file({"learned_mask": converted.learned_mask.contiguous()}, folder / LEARNED_MASK_FILE)

    record = {
        "format": RECORD_FORMAT,
        "kind": converted.kind,
        "keydub_version": __version__,
        "source": dict(source),
        "unet": {
            "tensors": len(converted.unet),
            "parameters": sum(tensor.numel() for tensor in converted.unet.values()),
            "dtype": str(next(iter(converted.unet.values())).dtype).removeprefix("torch."),
        },
        "audio_projector": {"tensors": len(converted.audio_projector), **converted.audio_projector_config},
        "learned_mask": None if converted.learned_mask is None else list(converted.learned_mask.shape),
        "ignored": converted.ignored,
    }
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")


def _standalone(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors safetensors can write: a tensor that views a shared or larger storage is copied out."""
    seen: set[int] = set()
    result = {}
    for name, tensor in tensors.items():
        storage = tensor.untyped_storage()
        whole = tensor.is_contiguous() and storage.nbytes() == tensor.numel() * tensor.element_size()
        if not whole or storage.data_ptr() in seen:
            tensor = tensor.contiguous().clone()
        seen.add(tensor.untyped_storage().data_ptr())
        result[name] = tensor
    return result


def convert_keysync_checkpoint(
    path: str | os.PathLike,
    kind: KeySyncKind,
    out_dir: str | os.PathLike,
    *,
    attention_head_dim: int = 64,
    source_sha256: str | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Convert one official checkpoint into `out_dir/<kind>/`, atomically.

    Everything is written into a temporary folder inside `out_dir` and renamed to `out_dir/<kind>` at the end,
    so an interrupted conversion leaves nothing behind. An existing `out_dir/<kind>` is never replaced.

    Args:
        path (`str` or `os.PathLike`): `keyframe_dub.pt` or `interpolation_dub.pt` (or the same tensors as a
            `.ckpt`, bare state dict or `.safetensors`).
        kind (`str`): `"keyframe"` or `"interpolation"`.
        out_dir (`str` or `os.PathLike`): folder that receives `<kind>/`; created if needed.
        attention_head_dim (`int`, defaults to `64`): channels per attention head of the U-Net.
        source_sha256 (`str`, *optional*): the file's SHA-256 when the caller already knows it.
        progress (`ProgressCallback`, *optional*): receives `"hash"`, `"load"` and `"write"` stages.

    Returns:
        `Path`: the new `out_dir/<kind>` folder.
    """
    path, out_dir = Path(path), Path(out_dir)
    target = out_dir / kind
    if target.exists():
        raise OutputExistsError(f"{target} already exists; remove it or convert into another folder")
    state_dict = load_official_state_dict(path)
    report(progress, "load", 1, 1)
    converted = convert_state_dict(state_dict, kind, attention_head_dim=attention_head_dim)
    source = {
        "file": path.name,
        "sha256": source_sha256 or sha256_file(path, progress),
        "bytes": path.stat().st_size,
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{kind}.", suffix=".partial", dir=out_dir))
    except OSError as error:
        raise OutputNotWritableError(f"cannot create a folder in {out_dir}: {error}") from error
    try:
        write_converted(converted, scratch, source)
        # mkdtemp's 0700 and safetensors' 0600 would keep the model from the other users of a render node.
        apply_umask_modes(scratch)
        report(progress, "write", 1, 1)
        os.replace(scratch, target)  # fails rather than merge if another conversion got there first
    except OSError as error:
        if target.exists():
            raise OutputExistsError(f"{target} appeared while converting; keeping the existing one") from error
        raise OutputNotWritableError(f"cannot write the converted {kind} model into {out_dir}: {error}") from error
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


# Conversion on first use -------------------------------------------------------------------------------------
def resolve_keysync(
    kind: KeySyncKind,
    source: str | os.PathLike | None = None,
    *,
    download: bool = True,
    progress: ProgressCallback | None = None,
) -> Path:
    """The converted folder of the `kind` model: found by `keydub.core.weights.resolve_weights`, and when that finds
    an official checkpoint file, converted into the cache once and reused from there.

    Args:
        kind (`str`): `"keyframe"` or `"interpolation"`.
        source, download, progress: as for `resolve_weights`; `progress` also receives the conversion stages.
    """
    found = resolve_weights(kind, source, download=download, progress=progress)
    return converted_checkpoint(kind, found, progress) if found.is_file() else found


def converted_checkpoint(kind: KeySyncKind, checkpoint: Path, progress: ProgressCallback | None = None) -> Path:
    """The converted folder of an official checkpoint, converting it into the cache on first use."""
    digest = cached_sha256(checkpoint, progress)
    target = conversion_folder(keydub_cache_dir(), kind, digest)
    if conversion_matches(target, digest):
        return target
    if target.exists():  # an older or damaged folder in our own cache: rebuild it
        logger.warning("replacing the cached conversion %s, which does not match %s", target, checkpoint)
        shutil.rmtree(target)
    logger.info("converting %s into %s (once)", checkpoint, target)
    try:
        return convert_keysync_checkpoint(checkpoint, kind, target.parent, source_sha256=digest, progress=progress)
    except OutputExistsError:
        if conversion_matches(target, digest):  # another process converted the same file meanwhile
            return target
        raise
