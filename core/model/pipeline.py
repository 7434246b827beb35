"""KeySyncPipeline: masked face crops + dub audio -> regenerated face crops, streamed chunk by chunk.

The two-stage KeySync algorithm (`keysync-architecture.md` §3-§6): keyframes every 13 frames from the keyframe
model, then the 12 frames between consecutive keyframes from the interpolation model, both sampled in latent space
with the clean latents of the input written back outside the mask. The clip is processed one round at a time: one
keyframe batch (13 keyframes and the windows they close, about 170 frames) or, when the U-Net batch size allows, a
few consecutive ones, possibly of several clips (`generate_many`); memory does not grow with the clip's length.

Memory. For the whole clip the pipeline keeps only the projected audio tokens of both stages, one vector of the
U-Nets' context size per frame and stage (2 x 1024 values: 4 KiB per frame in bf16, 8 KiB in fp32), besides the
caller's waveform. Latents are kept for one round (per keyframe batch at most 170 grid positions x 64 KiB at 512x512
in float32, about 11 MiB, plus the sampler's per-window tensors), pixels for one encoder or decoder chunk.
"""

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLTemporalDecoder
from diffusers.models.attention_processor import AttnProcessor2_0
from safetensors.torch import load_file
from torch.nn.attention import SDPBackend, sdpa_kernel

from keydub.core.audio.features import HubertFeatures, WavLMFeatures
from keydub.core.cancel import CancelToken, cancellable
from keydub.core.errors import InvalidParameterError, WeightsNotFoundError
from keydub.core.model.audio_projector import AudioProjector
from keydub.core.model.convert import resolve_keysync
from keydub.core.model.planner import DubbingPlan, KeyframeBatch, RoundItem, plan_dubbing, plan_rounds
from keydub.core.model.sampler import (
    GUIDANCE_BRANCHES,
    GuidedModel,
    StepCallback,
    ays_sigmas,
    check_sigmas,
    sample,
)
from keydub.core.model.sampling import SamplingConfig
from keydub.core.model.unet import KeySyncUNet
from keydub.core.model.vae import (
    DEFAULT_DECODE_CHUNK_SIZE,
    DEFAULT_ENCODE_CHUNK_SIZE,
    decode_latents,
    encode_frames,
    spatial_factor,
)
from keydub.core.progress import ProgressCallback, Stage, Unit, report
from keydub.core.weight_files import LEARNED_MASK_FILE, PROJECTOR_FOLDER, UNET_FOLDER
from keydub.core.weights import resolve_weights


# Tensor name inside the converted `learned_mask.safetensors` (the interpolation model's `z_m`).
LEARNED_MASK_KEY = "learned_mask"
# Attention kernels allowed on CUDA: the fused flash, memory-efficient and cuDNN ones. The math fallback (which
# materialises the 4096 x 4096 spatial attention matrix at 512 px) is left out, so a shape none of these kernels
# takes fails loudly instead of running slowly.
CUDA_ATTENTION_BACKENDS = (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION)
# The fused kernels put the attention batch on a CUDA grid axis of at most 65535 blocks (pytorch/pytorch#146704);
# the temporal attention's batch is sequences x latent height x width, which caps the sequences per call.
CUDA_GRID_AXIS_LIMIT = 65535
# Activation memory per 14-frame sequence in a U-Net call at 64x64 latents in a 2-byte dtype (bf16/fp16): the
# full-size U-Net in bf16 on a CPU peaked 1.02 GB above its weights for one sequence and 2.32 GB for two, so
# 1.3 GB per added sequence. It scales with latent area and element size; `benchmarks/gpu_check.py` measures
# the GPU's figure.
ACTIVATION_BYTES_PER_SEQUENCE = 1.3e9
ACTIVATION_REFERENCE_AREA = 64 * 64
# Activation memory of SVD's VAE per 512x512 frame in float32: peaks measured above the weights on a CPU, 1.25 GB to
# decode one frame (2.42 GB for two) and 0.67 GB to encode one (1.34 GB for two). A 14-frame decoder call would need
# about 17 GB, so on CUDA the chunk sizes are capped to what fits under `memory_budget`.
VAE_DECODE_BYTES_PER_FRAME = 1.25e9
VAE_ENCODE_BYTES_PER_FRAME = 0.67e9
VAE_REFERENCE_AREA = 512 * 512
# Peak GPU memory the automatic U-Net batch size and the VAE chunks keep the pipeline under (weights included).
DEFAULT_MEMORY_BUDGET = 12 * 2**30

PipelineStepCallback = Callable[["KeySyncPipeline", int, float, dict[str, Any]], dict[str, Any] | None]
"""`(pipeline, step, sigma, callback_kwargs) -> dict | None`: `KeySyncPipeline.__call__`'s `callback_on_step_end`."""


class FrameSource(Protocol):
    """Frames or masks the pipeline reads slice by slice (a tensor, or a disk-backed cache)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice) -> torch.Tensor: ...


class AudioFeatures(Protocol):
    """`keydub.core.audio.HubertFeatures` / `WavLMFeatures`: waveform -> `[num_frames, 2, 768]` tokens."""

    model: torch.nn.Module

    def __call__(
        self, waveform_16k: np.ndarray, num_frames: int, frame_rate: Fraction, progress: ProgressCallback | None = None
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class SpanLatents:
    """Clean scaled latents and latent-resolution masks of consecutive grid positions.

    Args:
        start (`int`): the first grid position held.
        latents (`torch.Tensor`): `[n, 4, h, w]` float32 clean latents (positions past the clip hold the last frame).
        masks (`torch.Tensor`): `[n, 1, h, w]` bool, `True` where the lower face is regenerated.
    """

    start: int
    latents: torch.Tensor
    masks: torch.Tensor

    def select(self, positions: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents and masks of `positions` (all inside the span)."""
        index = torch.tensor([p - self.start for p in positions], device=self.latents.device)
        return self.latents[index], self.masks[index]


@dataclass(frozen=True)
class DubbingInput:
    """One clip to regenerate (a face segment of a render): its crops, masks and dub audio.

    Args:
        frames (`FrameSource`): float `[n, 3, H, W]` crops in [-1, 1] (see `KeySyncPipeline.__call__`).
        masks (`FrameSource`): `[n, 1, H, W]` pixel masks, 1 (or > 0.5) where to regenerate.
        audio_waveform (`np.ndarray`): the dub, mono float at 16 kHz, starting at the clip's first frame.
        identity_index (`int`, defaults to 0): the frame whose full face conditions identity.
    """

    frames: FrameSource
    masks: FrameSource
    audio_waveform: np.ndarray
    identity_index: int = 0


@dataclass(frozen=True)
class BatchConditioning:
    """Everything one keyframe batch of one clip is sampled from.

    Args:
        plan (`DubbingPlan`): the clip's plan.
        batch (`KeyframeBatch`): the batch.
        span (`SpanLatents`): clean latents and masks of the batch's grid positions (`batch.span`).
        identity (`SpanLatents`): the clip's identity frame.
        keyframe_audio, interpolation_audio (`torch.Tensor`): the clip's projected audio tokens of each stage,
            `[num_frames, context]`.
    """

    plan: DubbingPlan
    batch: KeyframeBatch
    span: SpanLatents
    identity: SpanLatents
    keyframe_audio: torch.Tensor
    interpolation_audio: torch.Tensor


class KeySyncPipeline:
    r"""Two-stage KeySync lip-sync generation on 512x512 face crops (any size the weights allow).

    Components:
        vae ([`AutoencoderKLTemporalDecoder`]): SVD's VAE; kept in float32 by default like the official first stage.
        keyframe_unet ([`KeySyncUNet`]): 8 input channels (noisy latent | identity latent).
        interpolation_unet ([`KeySyncUNet`]): 9 input channels (noisy latent | keyframe/`z_m` condition | indicator).
        keyframe_audio_projector, interpolation_audio_projector ([`AudioProjector`]): per-frame token projections.
        keyframe_audio, interpolation_audio (`AudioFeatures`): HuBERT and WavLM feature extractors.
        learned_mask (`torch.Tensor`): the interpolation model's learned `z_m`, `[4, h, w]`; fixes the latent size.

    Args:
        unet_batch_size (`int` or `"auto"`, defaults to `"auto"`): most 14-frame sequences per U-Net call. A guided
            step evaluates three sequences (the guidance branches) per keyframe batch or window, all in one batch split
            into calls of this size; 3 gives the official single batched call for keyframes. A larger size also
            groups `unet_batch_size // 3` consecutive keyframe batches into one round (`keyframe_batches_per_round`),
            so the keyframe calls fill up too. `"auto"` takes as many as fit under `memory_budget` next to the
            weights already on the GPU (`auto_unet_batch_size`), and 3 on a CPU.
        encode_chunk_size (`int`, defaults to 16): most frames per VAE encoder call.
        decode_chunk_size (`int`, defaults to 14): most frames per VAE decoder call (each frame is decoded alone).
        memory_budget (`int`, defaults to 12 GiB): bytes of GPU memory the pipeline plans for: on CUDA the VAE
            chunks shrink to fit it (`frames_per_vae_call`), and `unet_batch_size="auto"` fills it.

    Every attention runs through PyTorch's `scaled_dot_product_attention` (diffusers' `AttnProcessor2_0`); on
    CUDA only its fused kernels are allowed (`CUDA_ATTENTION_BACKENDS`). Results do not depend on the three batch
    sizes beyond float rounding of differently sized matrix products.
    """

    def __init__(
        self,
        vae: AutoencoderKLTemporalDecoder,
        keyframe_unet: KeySyncUNet,
        interpolation_unet: KeySyncUNet,
        keyframe_audio_projector: AudioProjector,
        interpolation_audio_projector: AudioProjector,
        keyframe_audio: AudioFeatures,
        interpolation_audio: AudioFeatures,
        learned_mask: torch.Tensor,
        *,
        unet_batch_size: int | Literal["auto"] = "auto",
        encode_chunk_size: int = DEFAULT_ENCODE_CHUNK_SIZE,
        decode_chunk_size: int = DEFAULT_DECODE_CHUNK_SIZE,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> None:
        latent_channels = vae.config.latent_channels
        expected = {
            "keyframe_unet in_channels": (keyframe_unet.config.in_channels, 2 * latent_channels),
            "interpolation_unet in_channels": (interpolation_unet.config.in_channels, 2 * latent_channels + 1),
            "interpolation_unet num_frames": (interpolation_unet.config.num_frames, keyframe_unet.config.num_frames),
            "learned_mask channels": (learned_mask.shape[0], latent_channels),
            "keyframe_audio_projector out_features": (
                keyframe_audio_projector.config.out_features,
                keyframe_unet.config.cross_attention_dim,
            ),
            "interpolation_audio_projector out_features": (
                interpolation_audio_projector.config.out_features,
                interpolation_unet.config.cross_attention_dim,
            ),
        }
        for name, (found, wanted) in expected.items():
            if found != wanted:
                raise InvalidParameterError(f"KeySync components do not fit together: {name} is {found}, not {wanted}")
        if learned_mask.ndim != 3:
            raise InvalidParameterError(f"learned_mask must be [channels, h, w], got {tuple(learned_mask.shape)}")
        for name, value in (
            ("unet_batch_size", 1 if unet_batch_size == "auto" else unet_batch_size),
            ("encode_chunk_size", encode_chunk_size),
            ("decode_chunk_size", decode_chunk_size),
            ("memory_budget", memory_budget),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"{name} must be a positive integer, got {value!r}")
        self.vae = vae.eval()
        self.keyframe_unet = keyframe_unet.eval()
        self.interpolation_unet = interpolation_unet.eval()
        self.keyframe_audio_projector = keyframe_audio_projector.eval()
        self.interpolation_audio_projector = interpolation_audio_projector.eval()
        self.keyframe_audio = keyframe_audio
        self.interpolation_audio = interpolation_audio
        self.learned_mask = learned_mask.float()
        self.unet_batch_size = unet_batch_size
        self.encode_chunk_size = encode_chunk_size
        self.decode_chunk_size = decode_chunk_size
        self.memory_budget = memory_budget
        for unet in (keyframe_unet, interpolation_unet):
            unet.set_attn_processor(AttnProcessor2_0())
        # What actually runs each U-Net: the module itself, or its torch.compile wrapper.
        self._unet_calls = {id(keyframe_unet): keyframe_unet, id(interpolation_unet): interpolation_unet}

    @classmethod
    def from_pretrained(
        cls,
        weights: str | os.PathLike | None = None,
        vae: str | os.PathLike | None = None,
        hubert: str | os.PathLike | None = None,
        wavlm: str | os.PathLike | None = None,
        *,
        torch_dtype: torch.dtype | Literal["auto"] = "auto",
        device: str | torch.device = "cpu",
        vae_dtype: torch.dtype = torch.float32,
        compile: bool = False,
        progress: ProgressCallback | None = None,
        unet_batch_size: int | Literal["auto"] = "auto",
        encode_chunk_size: int = DEFAULT_ENCODE_CHUNK_SIZE,
        decode_chunk_size: int = DEFAULT_DECODE_CHUNK_SIZE,
    ) -> "KeySyncPipeline":
        r"""Load every component through `keydub.core.weights` (local folders, the weights config file, or the
        Hugging Face hub, converting the official checkpoints once on first use).

        Args:
            weights (`str` or `os.PathLike`, *optional*): a folder holding the converted `keyframe/` and
                `interpolation/` models (as `keydub convert-weights` writes them), or the official repository id;
                `None` uses the weights config, then `toninio19/keysync`.
            vae, hubert, wavlm (`str` or `os.PathLike`, *optional*): local model folders or hub ids overriding the
                defaults (SVD's VAE, `facebook/hubert-base-ls960`, `microsoft/wavlm-base-plus`).
            torch_dtype (`torch.dtype` or `"auto"`, defaults to `"auto"`): precision of the U-Nets and audio
                projectors; `"auto"` is `torch.bfloat16` on CUDA (`default_dtype`) and `torch.float32` elsewhere.
            device (`str` or `torch.device`, defaults to `"cpu"`): where everything runs.
            vae_dtype (`torch.dtype`, defaults to `torch.float32`): precision of the VAE (the official first stage
                always runs in float32).
            compile (`bool`, defaults to `False`): run the U-Nets through `torch.compile`.
            progress (`ProgressCallback`, *optional*): receives checkpoint conversion progress.
            unet_batch_size, encode_chunk_size, decode_chunk_size (`int`): memory knobs, see the class.

        Raises:
            [`WeightsNotFoundError`]: a component is neither local nor downloadable; the message says how to get it.
        """
        models = {name: resolve_keysync(name, weights, progress=progress) for name in ("keyframe", "interpolation")}
        learned_mask_file = models["interpolation"] / LEARNED_MASK_FILE
        if not learned_mask_file.is_file():
            raise WeightsNotFoundError(
                f"{models['interpolation']} has no {LEARNED_MASK_FILE}: it is not an interpolation model; convert "
                "interpolation_dub.pt with `keydub convert-weights` and point to the folder it writes"
            )
        dtype = default_dtype(device) if torch_dtype == "auto" else torch_dtype
        loaded = {"torch_dtype": dtype, "use_safetensors": True}
        pipe = cls(
            vae=AutoencoderKLTemporalDecoder.from_pretrained(
                resolve_weights("vae", vae), torch_dtype=vae_dtype, use_safetensors=True
            ),
            keyframe_unet=KeySyncUNet.from_pretrained(models["keyframe"] / UNET_FOLDER, **loaded),
            interpolation_unet=KeySyncUNet.from_pretrained(models["interpolation"] / UNET_FOLDER, **loaded),
            keyframe_audio_projector=AudioProjector.from_pretrained(models["keyframe"] / PROJECTOR_FOLDER, **loaded),
            interpolation_audio_projector=AudioProjector.from_pretrained(
                models["interpolation"] / PROJECTOR_FOLDER, **loaded
            ),
            keyframe_audio=HubertFeatures.from_pretrained(hubert, device=device),
            interpolation_audio=WavLMFeatures.from_pretrained(wavlm, device=device),
            learned_mask=load_file(learned_mask_file)[LEARNED_MASK_KEY],
            unet_batch_size=unet_batch_size,
            encode_chunk_size=encode_chunk_size,
            decode_chunk_size=decode_chunk_size,
        ).to(device)
        if compile:
            pipe.enable_torch_compile()
        return pipe

    # ----------------------------------------------------------------------------------------------------------
    # Placement
    # ----------------------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where the U-Nets run."""
        return self.keyframe_unet.device

    @property
    def dtype(self) -> torch.dtype:
        """The U-Nets' precision."""
        return self.keyframe_unet.dtype

    @property
    def window_length(self) -> int:
        """Frames per model sequence (14)."""
        return self.keyframe_unet.config.num_frames

    @property
    def frame_size(self) -> tuple[int, int]:
        """Pixel height and width the weights work at (the learned `z_m` fixes the latent size)."""
        factor = spatial_factor(self.vae)
        return self.learned_mask.shape[1] * factor, self.learned_mask.shape[2] * factor

    def to(
        self,
        device: str | torch.device | None = None,
        torch_dtype: torch.dtype | None = None,
        *,
        vae_dtype: torch.dtype | None = None,
    ) -> "KeySyncPipeline":
        """Move every component; `torch_dtype` applies to the U-Nets and projectors, `vae_dtype` to the VAE.

        Args:
            device (`str` or `torch.device`, *optional*): target device.
            torch_dtype (`torch.dtype`, *optional*): `torch.float32`, `torch.bfloat16` or `torch.float16`.
            vae_dtype (`torch.dtype`, *optional*): the VAE's precision; keep float32 (the default everywhere) for
                the official full-precision encode and decode.
        """
        # Plain `nn.Module.to`: diffusers' `ModelMixin.to` warns about "modules to keep in float32" on every dtype
        # cast even when a model has none, and these models are not quantised, so the cast is the same.
        for module in (
            self.keyframe_unet,
            self.interpolation_unet,
            self.keyframe_audio_projector,
            self.interpolation_audio_projector,
        ):
            torch.nn.Module.to(module, device=device, dtype=torch_dtype)
        torch.nn.Module.to(self.vae, device=device, dtype=vae_dtype)
        for features in (self.keyframe_audio, self.interpolation_audio):
            features.model.to(device=device)
        if device is not None:
            self.learned_mask = self.learned_mask.to(device)
        return self

    def enable_torch_compile(self, **compile_kwargs: Any) -> None:
        """Run both U-Nets through `torch.compile(unet, dynamic=False, **compile_kwargs)` (e.g. `mode="max-autotune"`).

        Shapes are static: one graph per number of sequences in a call (with `unet_batch_size=3` every call has 3,
        so each U-Net compiles once; a larger size adds one graph per remainder size the rounds leave, never more
        than the batch size). The first call of each shape is slow while it compiles; the weights stay shared
        with the eager modules.
        """
        options = {"dynamic": False, **compile_kwargs}
        for unet in (self.keyframe_unet, self.interpolation_unet):
            self._unet_calls[id(unet)] = torch.compile(unet, **options)

    def enable_channels_last(self) -> None:
        """Store the U-Nets' and the VAE's convolution weights channels-last (NHWC), the layout tensor-core
        convolutions prefer on CUDA; activations follow the weights' layout. Results equal the default layout's up to
        float rounding; whether it is faster is measured by `benchmarks/gpu_check.py`."""
        for model in (self.keyframe_unet, self.interpolation_unet, self.vae):
            for module in model.modules():
                # Only 2D convolutions: the temporal (3D) convolutions' 5-D weights have no channels-last form.
                if isinstance(module, torch.nn.Conv2d):
                    module.weight.data = module.weight.data.to(memory_format=torch.channels_last)

    def frames_per_vae_call(self, requested: int, bytes_per_frame: float) -> int:
        """`requested` frames per VAE call, fewer on CUDA when their activations would not fit under
        `memory_budget` next to what is already allocated (results do not depend on it: frames are independent)."""
        if self.vae.device.type != "cuda":
            return requested
        available = self.memory_budget - torch.cuda.memory_allocated(self.vae.device)
        element_size = torch.empty((), dtype=self.vae.dtype).element_size()
        return vae_frames_that_fit(requested, available, bytes_per_frame, self.frame_size, element_size)

    def sequences_per_unet_call(self) -> int:
        """`unet_batch_size`, with `"auto"` resolved for the pipeline's device (see `auto_unet_batch_size`)."""
        if self.unet_batch_size != "auto":
            return self.unet_batch_size
        if self.device.type != "cuda":
            return len(GUIDANCE_BRANCHES)
        free, _ = torch.cuda.mem_get_info(self.device)
        available = min(free, self.memory_budget - torch.cuda.memory_allocated(self.device))
        return auto_unet_batch_size(
            available, tuple(self.learned_mask.shape[-2:]), torch.empty((), dtype=self.dtype).element_size()
        )

    # ----------------------------------------------------------------------------------------------------------
    # The algorithm
    # ----------------------------------------------------------------------------------------------------------
    def __call__(
        self,
        frames: FrameSource,
        masks: FrameSource,
        audio_waveform: np.ndarray,
        *,
        frame_rate: Fraction,
        identity_index: int = 0,
        sampling: SamplingConfig = SamplingConfig(),
        generator: torch.Generator | None = None,
        output_type: Literal["pt", "latent"] = "pt",
        progress: ProgressCallback | None = None,
        callback_on_step_end: "PipelineStepCallback | None" = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[tuple[int, torch.Tensor]]:
        r"""Regenerate the masked lower face of every frame so the lips follow `audio_waveform`.

        Inputs are checked at once (the audio's length when the iterator starts, by the feature extractors); the
        work happens as the returned iterator is consumed.

        Args:
            frames (`FrameSource`): `len()` and slicing giving float `[n, 3, H, W]` crops in [-1, 1], `H, W` =
                `frame_size`. Read a chunk at a time, so it may be backed by a disk cache.
            masks (`FrameSource`): the same for `[n, 1, H, W]` pixel masks, 1 (or > 0.5) where to regenerate.
            audio_waveform (`np.ndarray`): the dub, mono float at 16 kHz, starting at the clip's first frame.
            frame_rate (`Fraction`): the clip's exact frame rate; audio tokens are taken at each frame's time.
            identity_index (`int`, defaults to 0): the frame whose full face (mouth included) conditions identity;
                the official model uses the first frame.
            sampling (`SamplingConfig`, defaults to the official settings): steps or a custom sigma schedule, the
                audio and identity guidance scales and the seed (a fresh CPU generator per clip).
            generator (`torch.Generator`, *optional*): a CPU generator to draw the noise from instead of the seed,
                in a fixed order (per keyframe batch, then per window), so results are reproducible.
            output_type (`str`, defaults to `"pt"`): `"pt"` for decoded frames, `"latent"` for scaled latents.
            progress (`ProgressCallback`, *optional*): receives `"audio features"` windows, then every denoising
                step of `"keyframes"` and `"interpolation"` (unit `"steps"`; each total is `planned_steps(...)`,
                known before the first step).
            callback_on_step_end (`PipelineStepCallback`, *optional*): called after every denoising step as
                `callback(pipeline, step, sigma, callback_kwargs)`, diffusers-style: `step` counts the stage's steps
                from 0, `sigma` is the noise level the step started from, `callback_kwargs` holds `"stage"`
                (`"keyframes"` or `"interpolation"`), `"latents"` and `"denoised"` (the guided x0-prediction of
                every sequence of the round, for previews). A returned dict with `"latents"` replaces the latents
                the next step starts from.
            cancel (`CancelToken`, *optional*): checked after every denoising step and at every progress point;
                a cancelled token stops generation within one step with `RenderInterruptedError`.

        Returns:
            `Iterator[tuple[int, torch.Tensor]]`: `(first_frame_index, chunk)` in frame order, covering every frame
            exactly once; `chunk` is float32 on the CPU, `[n, 3, H, W]` in [-1, 1] (`"pt"`) or `[n, 4, h, w]`.

        Examples:

        ```py
        >>> pipe = KeySyncPipeline.from_pretrained(torch_dtype=torch.bfloat16, device="cuda")
        >>> for start, crops in pipe(frames, masks, waveform, frame_rate=Fraction(25)):
        ...     paste_back(start, crops)
        ```
        """
        chunks = self.generate_many(
            [DubbingInput(frames, masks, audio_waveform, identity_index)],
            frame_rate=frame_rate,
            sampling=sampling,
            generator=generator,
            output_type=output_type,
            progress=progress,
            callback_on_step_end=callback_on_step_end,
            cancel=cancel,
        )
        return _without_clip_index(chunks)

    def generate_many(
        self,
        clips: Sequence[DubbingInput],
        *,
        frame_rate: Fraction,
        sampling: SamplingConfig = SamplingConfig(),
        generator: torch.Generator | None = None,
        output_type: Literal["pt", "latent"] = "pt",
        progress: ProgressCallback | None = None,
        callback_on_step_end: "PipelineStepCallback | None" = None,
        cancel: CancelToken | None = None,
        batches_per_round: int | None = None,
        starts: Sequence[int] | None = None,
    ) -> Iterator[tuple[int, int, torch.Tensor]]:
        r"""Regenerate several clips (the face segments of a render) in one pass, their U-Net calls shared.

        The clips' keyframe batches are sampled in rounds (`plan_rounds`): a round's keyframes in one guided
        sampling and its windows in another, so a short clip fills the U-Net calls a long one leaves part empty.
        Each clip draws its noise from its own generator seeded with `seed`, in the order a run of that clip alone
        draws it, so a clip's result equals its own `__call__` up to the float rounding of differently sized
        batches.

        Args:
            clips (`Sequence[DubbingInput]`): the clips, at least one, all at `frame_rate`.
            batches_per_round (`int`, *optional*): keyframe batches per round; by default as many as fill one U-Net
                call (`keyframe_batches_per_round`).
            starts (`Sequence[int]`, *optional*): each clip's first frame on a common clock, for clips shown at the
                same time (the faces of one shot): their batches are then generated in time order (`plan_rounds`),
                so their chunks come out side by side instead of clip after clip.
            frame_rate, sampling, output_type, progress, callback_on_step_end, cancel: as in `__call__`; the step
                totals count the rounds of every clip, and every clip draws its noise from `sampling.seed`.
            generator (`torch.Generator`, *optional*): a CPU generator instead of the seed, for one clip only (the
                clips' draws must not depend on each other).

        Returns:
            `Iterator[tuple[int, int, torch.Tensor]]`: `(clip_index, first_frame_index, chunk)`, clip by clip (round
            by round with `starts`) and in frame order within each clip, covering every frame of every clip exactly
            once.
        """
        if generator is not None:
            if len(clips) > 1:
                raise InvalidParameterError(
                    "a torch.Generator serves one clip only (each clip seeds its own generator); pass a seed instead"
                )
            generators = [generator]
        else:
            generators = [torch.Generator().manual_seed(sampling.seed) for _ in clips]
        if not clips:
            raise InvalidParameterError("there is no clip to generate; pass at least one")
        # 0. Check inputs before any model work.
        self.check_settings(frame_rate, output_type)
        plans = [
            plan_dubbing(
                self.check_inputs(clip.frames, clip.masks, clip.audio_waveform),
                identity_index=clip.identity_index,
                window_length=self.window_length,
            )
            for clip in clips
        ]
        schedule = _schedule(sampling)
        for generator in generators:
            if generator.device.type != "cpu":
                raise InvalidParameterError(
                    f"the generator must be a CPU torch.Generator (noise is drawn on the CPU so results do not "
                    f"depend on the device), got one on {generator.device}"
                )
        # 1. Plan the rounds: keyframe batches of every clip, in order, as many per round as fill a U-Net call.
        rounds = plan_rounds(plans, batches_per_round or self.keyframe_batches_per_round(), starts)
        progress = cancellable(progress, cancel)
        step_callbacks = self._step_callbacks(len(rounds), schedule, progress, callback_on_step_end, cancel)
        return self._generate(
            clips, plans, generators, rounds, frame_rate, schedule, sampling, output_type, progress, step_callbacks
        )

    def keyframe_batches_per_round(self) -> int:
        """Keyframe batches sampled together: as many as fill one U-Net call with their three guidance branches
        (`sequences_per_unet_call() // 3`, at least 1; 1 with the default batch size of 3, the official order)."""
        return max(1, self.sequences_per_unet_call() // len(GUIDANCE_BRANCHES))

    def planned_steps(
        self,
        num_frames: int | Sequence[int],
        sampling: SamplingConfig = SamplingConfig(),
        batches_per_round: int | None = None,
        starts: Sequence[int] | None = None,
    ) -> int:
        """Denoising steps each of the keyframe and interpolation stages runs for clips of `num_frames` frames
        generated together (`starts` as in `generate_many`): the schedule's steps times the rounds (one sampler call
        per round and stage)."""
        schedule = _schedule(sampling)
        counts = [num_frames] if isinstance(num_frames, int) else list(num_frames)
        plans = [plan_dubbing(count, window_length=self.window_length) for count in counts]
        rounds = plan_rounds(plans, batches_per_round or self.keyframe_batches_per_round(), starts)
        return (len(schedule) - 1) * len(rounds)

    @torch.inference_mode()
    def _generate(
        self,
        clips: Sequence[DubbingInput],
        plans: Sequence[DubbingPlan],
        generators: Sequence[torch.Generator],
        rounds: tuple[tuple[RoundItem, ...], ...],
        frame_rate: Fraction,
        sigmas: tuple[float, ...],
        sampling: SamplingConfig,
        output_type: str,
        progress: ProgressCallback | None,
        step_callbacks: dict[str, StepCallback],
    ) -> Iterator[tuple[int, int, torch.Tensor]]:
        # Per clip, while it has batches left: its audio tokens, identity latent and the last keyframe so far.
        started: dict[int, tuple[torch.Tensor, torch.Tensor, SpanLatents]] = {}
        keyframes: dict[int, dict[int, torch.Tensor]] = {}
        for items in rounds:
            batches = []
            for item in items:
                clip, plan = clips[item.clip], plans[item.clip]
                if item.clip not in started:
                    # 2. Audio: per-frame HuBERT tokens for keyframes, WavLM tokens for interpolation, projected.
                    # 3. Identity: the identity frame's clean latent (condition and dummy slot of every batch).
                    started[item.clip] = (
                        *self.encode_audio(clip.audio_waveform, plan.num_frames, frame_rate, progress),
                        self.encode_span(
                            clip.frames, clip.masks, plan, range(plan.identity_index, plan.identity_index + 1)
                        ),
                    )
                    keyframes[item.clip] = {}
                keyframe_audio, interpolation_audio, identity = started[item.clip]
                # 4. Clean latents and masks of every grid position this batch's keyframes and windows use.
                span = self.encode_span(clip.frames, clip.masks, plan, item.batch.span)
                batches.append(
                    BatchConditioning(plan, item.batch, span, identity, keyframe_audio, interpolation_audio)
                )
            # Noise in the order a clip generated alone draws it: per batch its keyframes, then its windows.
            keyframe_noise, window_noise = [], []
            for item, batch in zip(items, batches, strict=True):
                keyframe_noise.append(self._noise(1, batch.span.latents, generators[item.clip]))
                window_noise.append(self._noise(len(item.batch.windows), batch.span.latents, generators[item.clip]))
            # 5. Keyframes of the whole round: one guided sampling of every batch's 14 slots.
            generated = self.generate_keyframes(
                batches, torch.cat(keyframe_noise), sigmas, sampling, step_callbacks[Stage.KEYFRAMES]
            )
            # Per batch: its keyframes and the one before them (the previous batch's last keyframe, which opens its
            # first window); of a clip's earlier keyframes only that one is kept between batches.
            batch_keyframes = []
            for item, new in zip(items, generated, strict=True):
                opening = item.batch.windows[0].start
                earlier = keyframes[item.clip]
                keyframes[item.clip] = {opening: earlier[opening], **new} if opening in earlier else dict(new)
                batch_keyframes.append(keyframes[item.clip])
            # 6. Interpolation: every window of the round, whose two keyframes now exist, in one guided sampling.
            windows = self.interpolate_between_keyframes(
                batches,
                batch_keyframes,
                torch.cat(window_noise),
                sigmas,
                sampling,
                step_callbacks[Stage.INTERPOLATION],
            )
            # 7. Decode each window's new frames and hand them over, clip by clip and in frame order.
            for item, batch_windows in zip(items, windows, strict=True):
                for window, latents in zip(item.batch.windows, batch_windows, strict=True):
                    new = latents[window.output_start - window.start : window.output_stop - window.start]
                    chunk = new if output_type == "latent" else self.decode_latents(new)
                    yield item.clip, window.output_start, chunk.cpu()
                if item.batch is plans[item.clip].batches[-1]:
                    del started[item.clip], keyframes[item.clip]

    # ----------------------------------------------------------------------------------------------------------
    # Stages
    # ----------------------------------------------------------------------------------------------------------
    def check_settings(self, frame_rate: Fraction, output_type: str) -> None:
        """Validate the settings shared by every clip of a call."""
        if isinstance(frame_rate, float) or not isinstance(frame_rate, Fraction | int) or frame_rate <= 0:
            raise InvalidParameterError(
                f"frame_rate must be a positive Fraction (e.g. Fraction(24000, 1001)), got {frame_rate!r}"
            )
        if output_type not in ("pt", "latent"):
            raise InvalidParameterError(f'output_type must be "pt" or "latent", got {output_type!r}')

    def check_inputs(self, frames: FrameSource, masks: FrameSource, audio_waveform: np.ndarray) -> int:
        """Validate one clip's inputs as far as possible without running a model; returns its number of frames."""
        num_frames = len(frames)
        if num_frames < 1:
            raise InvalidParameterError("the clip has no frames; pass at least one face crop")
        if len(masks) != num_frames:
            raise InvalidParameterError(
                f"there are {len(masks)} masks for {num_frames} frames; pass exactly one mask per frame"
            )
        height, width = self.frame_size
        first_frame, first_mask = frames[0:1], masks[0:1]
        if tuple(first_frame.shape) != (1, 3, height, width) or not first_frame.is_floating_point():
            raise InvalidParameterError(
                f"frames must be float tensors [n, 3, {height}, {width}] in [-1, 1] (the size these weights work "
                f"at), got {first_frame.dtype} {tuple(first_frame.shape)} for the first frame; crop and resize first"
            )
        if tuple(first_mask.shape) != (1, 1, height, width):
            raise InvalidParameterError(
                f"masks must be [n, 1, {height}, {width}] like the frames, got {tuple(first_mask.shape)}"
            )
        waveform = np.asarray(audio_waveform)
        if waveform.ndim != 1 or not np.issubdtype(waveform.dtype, np.floating) or waveform.size == 0:
            raise InvalidParameterError(
                f"audio_waveform must be a non-empty mono float array at 16 kHz, got {waveform.dtype} {waveform.shape}"
            )
        return num_frames

    def encode_audio(
        self, waveform: np.ndarray, num_frames: int, frame_rate: Fraction, progress: ProgressCallback | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame conditioning tokens of both stages, `[num_frames, context]` each in the U-Nets' dtype."""
        projected = []
        for features, projector in (
            (self.keyframe_audio, self.keyframe_audio_projector),
            (self.interpolation_audio, self.interpolation_audio_projector),
        ):
            tokens = features(waveform, num_frames, Fraction(frame_rate), progress)
            tokens = tokens.to(device=projector.device, dtype=projector.dtype)
            projected.append(projector(tokens[None])[0].to(self.dtype))
        return projected[0], projected[1]

    def encode_span(self, frames: FrameSource, masks: FrameSource, plan: DubbingPlan, positions: range) -> SpanLatents:
        """Encode the frames under consecutive grid positions (reading `encode_chunk_size` frames at a time) and
        bring their masks to latent resolution (nearest, as the official code: latent `(i, j)` = pixel `(8i, 8j)`)."""
        first, last = plan.source(positions.start), plan.source(positions.stop - 1)
        chunk_size = self.frames_per_vae_call(self.encode_chunk_size, VAE_ENCODE_BYTES_PER_FRAME)
        latents, latent_masks = [], []
        for start in range(first, last + 1, chunk_size):
            stop = min(start + chunk_size, last + 1)
            latents.append(encode_frames(self.vae, frames[start:stop], chunk_size=chunk_size))
            pixel_masks = masks[start:stop].to(device=self.vae.device, dtype=torch.float32)
            latent_masks.append(F.interpolate(pixel_masks, size=latents[-1].shape[-2:], mode="nearest") > 0.5)
        # Positions past the clip hold the last frame (see `planner`).
        index = torch.tensor([plan.source(p) - first for p in positions], device=self.vae.device)
        return SpanLatents(
            start=positions.start,
            latents=torch.cat(latents)[index].to(self.device),
            masks=torch.cat(latent_masks)[index].to(self.device),
        )

    def generate_keyframes(
        self,
        batches: Sequence[BatchConditioning],
        noise: torch.Tensor,
        sigmas: tuple[float, ...],
        sampling: SamplingConfig,
        step_callback: StepCallback | None = None,
    ) -> list[dict[int, torch.Tensor]]:
        """Sample the keyframes of several batches in one guided sampling, one 14-slot sequence per batch: slot 0
        is the clip's identity frame, then the batch's keyframes, then padding.

        The condition channels are the identity frame's *unscaled* latent on every slot (zeros without condition).

        Args:
            batches (`Sequence[BatchConditioning]`): the batches, of one clip or several.
            noise (`torch.Tensor`): `[len(batches), 14, 4, h, w]` standard normal noise.

        Returns:
            `list[dict[int, torch.Tensor]]`: per batch, keyframe position -> generated scaled latent `[4, h, w]`.
        """
        clean, mask, audio, condition = [], [], [], []
        for conditioning in batches:
            plan, batch, identity = conditioning.plan, conditioning.batch, conditioning.identity
            slot_latents, slot_masks = conditioning.span.select(batch.slots[1:])
            clean.append(torch.cat([identity.latents, slot_latents]))
            mask.append(torch.cat([identity.masks, slot_masks]))
            audio.append(conditioning.keyframe_audio[[plan.source(p) for p in batch.slots]])
            condition.append((identity.latents / self.vae.config.scaling_factor).expand_as(clean[-1]))
        clean, mask, condition = torch.stack(clean), torch.stack(mask), torch.stack(condition)
        model = self._guided_model(self.keyframe_unet, condition, torch.zeros_like(condition), torch.stack(audio))
        latents = sample(model, noise, clean, mask, sigmas, **sampling.guidance(), callback_on_step_end=step_callback)
        return [
            {position: sequence[1 + k] for k, position in enumerate(conditioning.batch.keyframes)}
            for conditioning, sequence in zip(batches, latents, strict=True)
        ]

    def interpolate_between_keyframes(
        self,
        batches: Sequence[BatchConditioning],
        keyframes: Sequence[dict[int, torch.Tensor]],
        noise: torch.Tensor,
        sigmas: tuple[float, ...],
        sampling: SamplingConfig,
        step_callback: StepCallback | None = None,
    ) -> list[torch.Tensor]:
        """Sample the interpolation windows of several batches in one guided sampling.

        Condition per frame (§4): `[start / 0.18215, z_m x 12, end / 0.18215]` (4 channels) and the indicator
        `[1, 0 x 12, 1]` (1 channel); without condition the keyframe latents are zeros and `z_m` and the indicator
        stay. After sampling, each window's first and last frames are set to the keyframes exactly.

        Args:
            batches (`Sequence[BatchConditioning]`): the batches whose windows are sampled.
            keyframes (`Sequence[dict[int, torch.Tensor]]`): per batch, its clip's generated keyframes by position
                (each window's two keyframes among them).
            noise (`torch.Tensor`): `[windows, 14, 4, h, w]` standard normal noise, the batches' windows in order.

        Returns:
            `list[torch.Tensor]`: per batch, `[len(batch.windows), 14, 4, h, w]` scaled latents.
        """
        clean, mask, audio, starts, ends = [], [], [], [], []
        for conditioning, clip_keyframes in zip(batches, keyframes, strict=True):
            plan = conditioning.plan
            for window in conditioning.batch.windows:
                window_latents, window_masks = conditioning.span.select(window.positions)
                clean.append(window_latents)
                mask.append(window_masks)
                audio.append(conditioning.interpolation_audio[[plan.source(p) for p in window.positions]])
                starts.append(clip_keyframes[window.start])
                ends.append(clip_keyframes[window.stop - 1])
        clean, mask, starts, ends = torch.stack(clean), torch.stack(mask), torch.stack(starts), torch.stack(ends)
        scale = self.vae.config.scaling_factor
        middle = self.learned_mask.to(clean.device).expand(len(clean), self.window_length - 2, -1, -1, -1)
        indicator = torch.zeros(len(clean), self.window_length, 1, *clean.shape[-2:], device=clean.device)
        indicator[:, [0, -1]] = 1.0
        condition = torch.cat([torch.cat([starts[:, None] / scale, middle, ends[:, None] / scale], 1), indicator], 2)
        unconditional = torch.cat(
            [torch.cat([torch.zeros_like(starts[:, None]), middle, torch.zeros_like(ends[:, None])], 1), indicator], 2
        )
        model = self._guided_model(self.interpolation_unet, condition, unconditional, torch.stack(audio))
        latents = sample(model, noise, clean, mask, sigmas, **sampling.guidance(), callback_on_step_end=step_callback)
        latents[:, 0], latents[:, -1] = starts, ends
        return list(latents.split([len(conditioning.batch.windows) for conditioning in batches]))

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> frames in [-1, 1], one frame per decoder video (official `decoding_t 1`)."""
        chunk_size = self.frames_per_vae_call(self.decode_chunk_size, VAE_DECODE_BYTES_PER_FRAME)
        return decode_latents(self.vae, latents, chunk_size=chunk_size).clamp(-1.0, 1.0)

    # ----------------------------------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------------------------------
    def _step_callbacks(
        self,
        num_rounds: int,
        sigmas: tuple[float, ...],
        progress: ProgressCallback | None,
        callback_on_step_end: "PipelineStepCallback | None",
        cancel: CancelToken | None,
    ) -> dict[str, StepCallback]:
        """The sampler's per-step callback of each stage: the caller's callback, step progress, cancel check."""
        total = (len(sigmas) - 1) * num_rounds
        done = {Stage.KEYFRAMES: 0, Stage.INTERPOLATION: 0}

        def for_stage(stage: str) -> StepCallback:
            def after_step(step: int, sigma: float, tensors: dict[str, torch.Tensor]) -> dict[str, Any] | None:
                outputs = None
                if callback_on_step_end is not None:
                    outputs = callback_on_step_end(self, done[stage], sigma, {"stage": stage, **tensors})
                done[stage] += 1
                report(progress, stage, done[stage], total, unit=Unit.STEPS)
                if cancel is not None:  # again: a progress callback may have cancelled (a Stop button)
                    cancel.raise_if_cancelled()
                return outputs

            return after_step

        return {stage: for_stage(stage) for stage in done}

    def _noise(self, num_sequences: int, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Standard normal latents drawn on the CPU one sequence at a time, so the stream of random numbers does not
        depend on the device or on how sequences are batched."""
        shape = (self.window_length, *like.shape[-3:])
        noise = [torch.randn(shape, generator=generator, dtype=torch.float32) for _ in range(num_sequences)]
        return torch.stack(noise).to(like.device)

    def _guided_model(
        self, unet: KeySyncUNet, condition: torch.Tensor, unconditional: torch.Tensor, audio: torch.Tensor
    ) -> GuidedModel:
        """Wrap a U-Net as the sampler's three-branch model (`GUIDANCE_BRANCHES` order, official §6.5):
        unconditional (no condition channels, no audio), reference (condition, no audio), full (both).

        The three branches of every sequence form one batch of `3 * B` sequences (condition channels and audio
        assembled once, in the U-Net's dtype), evaluated in calls of at most `sequences_per_unet_call()` sequences.
        """
        dtype = unet.dtype
        branch_conditions = torch.cat([unconditional, condition, condition]).to(dtype)
        branch_audio = torch.cat([torch.zeros_like(audio), torch.zeros_like(audio), audio]).to(dtype)
        unet_call, per_call = self._unet_calls[id(unet)], self.sequences_per_unet_call()

        def model(scaled: torch.Tensor, c_noise: float) -> torch.Tensor:
            noisy = scaled.to(dtype).repeat(len(GUIDANCE_BRANCHES), 1, 1, 1, 1)
            sample_input = torch.cat([noisy, branch_conditions], dim=2)
            # A tensor, not a float: torch.compile specialises on Python numbers, so a float noise level would
            # recompile the U-Net at every step.
            noise_level = torch.tensor(c_noise, dtype=torch.float32, device=scaled.device)
            with self._attention_kernels():
                outputs = [
                    unet_call(sample_input[rows], noise_level, branch_audio[rows])
                    for rows in (slice(first, first + per_call) for first in range(0, len(sample_input), per_call))
                ]
            return torch.cat(outputs).float().reshape(len(GUIDANCE_BRANCHES), *scaled.shape)

        return model

    def _attention_kernels(self):
        """The SDPA kernels allowed while a U-Net runs: the fused ones on CUDA, PyTorch's choice elsewhere."""
        if self.device.type == "cuda":
            return sdpa_kernel(list(CUDA_ATTENTION_BACKENDS))
        return contextlib.nullcontext()


def _schedule(sampling: SamplingConfig) -> tuple[float, ...]:
    """The noise levels of a sampling run: the custom schedule, or the AYS one for its steps."""
    return ays_sigmas(sampling.steps) if sampling.sigmas is None else check_sigmas(sampling.sigmas)


def default_dtype(device: str | torch.device) -> torch.dtype:
    """The U-Nets' precision for `device` when none is asked for: bfloat16 on CUDA (every tensor-core GPU since
    Ampere runs it at full rate, and its float32 range needs no loss scaling), float32 elsewhere."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


def auto_unet_batch_size(available_bytes: int, latent_size: tuple[int, int], element_size: int) -> int:
    """Sequences per U-Net call that fit in `available_bytes` of activation memory.

    Args:
        available_bytes (`int`): GPU memory free for activations (budget minus what is already allocated).
        latent_size (`tuple[int, int]`): latent height and width (64 x 64 for 512 px crops).
        element_size (`int`): bytes per element of the U-Net dtype (2 for bf16/fp16, 4 for fp32).

    Returns:
        `int`: at least 1, at most what the fused attention kernels' grid takes
        (`CUDA_GRID_AXIS_LIMIT // (height * width)`: 15 at 64 x 64).
    """
    area = latent_size[0] * latent_size[1]
    per_sequence = ACTIVATION_BYTES_PER_SEQUENCE * area / ACTIVATION_REFERENCE_AREA * element_size / 2
    return max(1, min(int(available_bytes // per_sequence), CUDA_GRID_AXIS_LIMIT // area))


def vae_frames_that_fit(
    requested: int, available_bytes: int, bytes_per_frame: float, frame_size: tuple[int, int], element_size: int
) -> int:
    """At most `requested` frames whose VAE activations (`bytes_per_frame` at 512x512 in float32, scaled by area
    and element size) fit in `available_bytes`; at least 1."""
    per_frame = bytes_per_frame * frame_size[0] * frame_size[1] / VAE_REFERENCE_AREA * element_size / 4
    return max(1, min(requested, int(available_bytes // per_frame)))


def _without_clip_index(
    chunks: Iterator[tuple[int, int, torch.Tensor]],
) -> Iterator[tuple[int, torch.Tensor]]:
    """A one-clip generation's chunks as `(first_frame_index, chunk)`; closing it closes the generation."""
    with contextlib.closing(chunks):
        for _, start, chunk in chunks:
            yield start, chunk
