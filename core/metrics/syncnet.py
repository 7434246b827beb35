"""SyncNet audio-visual embeddings and the LSE-C / LSE-D lip-sync scores.

The network has the layout of the public `syncnet_v2.model` (Chung & Zisserman, "Out of time", ACCV 2016
workshops; the `joonson/syncnet_python` release), which every published LSE-C / LSE-D figure uses:

* a lip stream: 5 consecutive 224x224 colour face crops (BGR order, 0-255, as OpenCV reads them) through
  3D convolutions to a 512-d vector, then two linear layers to a 1024-d embedding;
* an audio stream: a 13x20 MFCC window (0.2 s, the same 5 video frames at 25 fps) through 2D convolutions to
  512-d, then two linear layers to 1024-d.

The submodule names (`netcnnlip`, `netfclip`, `netcnnaud`, `netfcaud`) and their layer positions are those of the
checkpoint's keys, so the released weights load into this module without renaming.

Scoring (`sync_score`) follows the release: for each video window, the Euclidean distance to the audio windows
shifted by -15..+15 frames (audio missing at the ends counts as a zero embedding), averaged over the video into
a curve of 31 mean distances. LSE-D is the curve's minimum, LSE-C its median minus its minimum, and the offset
`15 - argmin` in frames.
"""

import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..audio.framing import MODEL_SAMPLE_RATE
from ..errors import CheckpointConversionError, InvalidParameterError, WeightsNotFoundError
from ..state_dict import describe_mismatch
from .mfcc import MfccConfig, mfcc


logger = logging.getLogger(__name__)

SYNCNET_FRAME_RATE = 25
"""SyncNet was trained on 25 fps video: one video window is 5 frames, one audio window 20 MFCC frames (0.2 s)."""


VIDEO_WINDOW = 5
"""Frames per lip window."""

AUDIO_WINDOW = 20
"""MFCC frames per audio window (100 per second x 0.2 s)."""

MFCC_PER_FRAME = 4
"""MFCC frames per video frame (100 / 25): audio window `i` starts at MFCC frame `4 i`."""

CROP_SIZE = 224
"""Side of the face crops the lip stream reads."""

MAX_OFFSET = 15
"""Largest audio shift searched, in frames each way (`--vshift` of the release's scoring script)."""

INT16_SCALE = 32768.0
"""The release reads 16-bit WAV samples unscaled, and MFCC log energies depend on that scale."""

# Layer tables of the two convolutional trunks, in checkpoint order. ("conv", in, out, kernel, stride, padding)
# adds Conv + BatchNorm + ReLU (three positions in the Sequential); ("pool", kernel, stride, padding) adds one.
_AUDIO_TRUNK = (
    ("conv", 1, 64, (3, 3), (1, 1), (1, 1)),
    # A 1x1 max pool is the identity, but the checkpoint counts it, so it keeps the later layers' positions.
    ("pool", (1, 1), (1, 1), (0, 0)),
    ("conv", 64, 192, (3, 3), (1, 1), (1, 1)),
    ("pool", (3, 3), (1, 2), (0, 0)),
    ("conv", 192, 384, (3, 3), (1, 1), (1, 1)),
    ("conv", 384, 256, (3, 3), (1, 1), (1, 1)),
    ("conv", 256, 256, (3, 3), (1, 1), (1, 1)),
    ("pool", (3, 3), (2, 2), (0, 0)),
    ("conv", 256, 512, (5, 4), (1, 1), (0, 0)),
)
_LIP_TRUNK = (
    ("conv", 3, 96, (5, 7, 7), (1, 2, 2), (0, 0, 0)),
    ("pool", (1, 3, 3), (1, 2, 2), (0, 0, 0)),
    ("conv", 96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)),
    ("pool", (1, 3, 3), (1, 2, 2), (0, 1, 1)),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)),
    ("conv", 256, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1)),
    ("pool", (1, 3, 3), (1, 2, 2), (0, 0, 0)),
    ("conv", 256, 512, (1, 6, 6), (1, 1, 1), (0, 0, 0)),
)

CONVERSION_HINT = (
    "convert it once to safetensors in a Python where you trust the file (unpickling runs code stored in it): "
    "python -c \"import torch, safetensors.torch as st; m = torch.load('syncnet_v2.model', map_location='cpu', "
    "weights_only=False); sd = m.state_dict() if hasattr(m, 'state_dict') else m; "
    "st.save_file({k: v.contiguous() for k, v in sd.items()}, 'syncnet_v2.safetensors')\" "
    "and pass the .safetensors file instead"
)


_LAYERS = {2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d), 3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d)}


def _trunk(table: tuple[tuple, ...], dims: int, divisor: int) -> nn.Sequential:
    conv, norm, pool = _LAYERS[dims]
    layers: list[nn.Module] = []
    for kind, *spec in table:
        if kind == "conv":
            in_channels, out_channels, kernel, stride, padding = spec
            # The input's own channels (1 MFCC plane, 3 colours) never shrink.
            in_channels = in_channels if in_channels <= 3 else in_channels // divisor
            out_channels //= divisor
            layers += [conv(in_channels, out_channels, kernel, stride, padding), norm(out_channels), nn.ReLU()]
        else:
            kernel, stride, padding = spec
            layers.append(pool(kernel, stride, padding))
    return nn.Sequential(*layers)


def _head(embedding_dim: int, divisor: int) -> nn.Sequential:
    hidden = 512 // divisor
    layers = [nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, embedding_dim)]
    return nn.Sequential(*layers)


class SyncNet(nn.Module):
    """SyncNet: lip and audio embeddings in one space, close when the lips match the sound.

    Args:
        embedding_dim (`int`, defaults to 1024): size of both embeddings (1024 in `syncnet_v2.model`).
        channel_divisor (`int`, defaults to 1): divides the width of every hidden layer; 1 is the released
            network, larger values give small random networks with the same input sizes and windows for tests.
    """

    def __init__(self, embedding_dim: int = 1024, channel_divisor: int = 1) -> None:
        super().__init__()
        if channel_divisor < 1 or 96 % channel_divisor:
            raise InvalidParameterError(f"channel_divisor is {channel_divisor}; expected a divisor of 96 (1, 2, ...)")
        self.netcnnaud = _trunk(_AUDIO_TRUNK, dims=2, divisor=channel_divisor)
        self.netfcaud = _head(embedding_dim, channel_divisor)
        self.netcnnlip = _trunk(_LIP_TRUNK, dims=3, divisor=channel_divisor)
        self.netfclip = _head(embedding_dim, channel_divisor)

    def embed_audio(self, mfcc_windows: torch.Tensor) -> torch.Tensor:
        """Audio embeddings.

        Args:
            mfcc_windows (`torch.Tensor` of shape `(batch, 1, 13, 20)`): MFCC windows, coefficients by frames.

        Returns:
            `torch.Tensor` of shape `(batch, embedding_dim)`.
        """
        return self.netfcaud(self.netcnnaud(mfcc_windows).flatten(1))

    def embed_lips(self, face_windows: torch.Tensor) -> torch.Tensor:
        """Lip embeddings.

        Args:
            face_windows (`torch.Tensor` of shape `(batch, 3, 5, 224, 224)`): 5-frame BGR face crops, 0-255.

        Returns:
            `torch.Tensor` of shape `(batch, embedding_dim)`.
        """
        return self.netfclip(self.netcnnlip(face_windows).flatten(1))


def load_syncnet(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> SyncNet:
    """Load SyncNet weights from a local file, without running code stored in it.

    `syncnet_v2.model` as released is a pickled state dict, which `torch.load(weights_only=True)` reads safely.
    A file that holds anything else (a whole pickled model, custom classes) is refused with the one-off command
    that converts it to safetensors; a `.safetensors` file is read directly. Keys saved from the release's
    `SyncNetInstance` wrapper (prefix `__S__.`) are accepted, and so are checkpoints without BatchNorm step counters.

    Args:
        path (`str | os.PathLike`): the weights file (`syncnet_v2.model` or a `.safetensors` conversion).
        device (`str | torch.device`, defaults to `"cpu"`): where to put the model.

    Returns:
        `SyncNet` in eval mode.

    Raises:
        WeightsNotFoundError: the file does not exist.
        CheckpointConversionError: the file cannot be read safely or its tensors do not fit SyncNet.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"SyncNet weights {path} not found; download syncnet_v2.model from the joonson/syncnet_python release "
            "on a machine with network access and pass its local path"
        )
    state = _read_state_dict(path)
    state = {key.removeprefix("__S__."): value for key, value in state.items()}
    # Build on the meta device: the checkpoint replaces every tensor, so random initialisation would be wasted.
    with torch.device("meta"):
        model = SyncNet(*_network_size(state, path))
    expected = model.state_dict()
    # Checkpoints saved before PyTorch 0.4.1 have no BatchNorm step counters; evaluation never reads them.
    for key in expected:
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, torch.tensor(0))
    mismatch = describe_mismatch(state, {key: tuple(value.shape) for key, value in expected.items()})
    if mismatch:
        raise CheckpointConversionError(
            f"{path} does not hold SyncNet (syncnet_v2) weights: {mismatch}; pass the syncnet_v2.model of "
            "joonson/syncnet_python or its conversion"
        )
    model.load_state_dict(state, assign=True)
    return model.eval().to(device)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except SafetensorError as error:
            raise CheckpointConversionError(f"{path} is not a readable safetensors file ({error})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointConversionError(
            f"{path} cannot be read as plain tensors ({first_line}); {CONVERSION_HINT}"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise CheckpointConversionError(f"{path} does not hold a state dict of tensors; {CONVERSION_HINT}")
    return state


def _network_size(state: dict[str, torch.Tensor], path: Path) -> tuple[int, int]:
    """`(embedding_dim, channel_divisor)` of the network a state dict was saved from (1024 and 1 for the release)."""
    head, stem = state.get("netfclip.3.weight"), state.get("netcnnlip.0.weight")
    if head is None or stem is None or head.ndim != 2 or stem.ndim != 5 or stem.shape[0] == 0 or 96 % stem.shape[0]:
        raise CheckpointConversionError(
            f"{path} has no SyncNet lip stream (netcnnlip.0.weight, netfclip.3.weight); is it syncnet_v2.model?"
        )
    return int(head.shape[0]), 96 // int(stem.shape[0])


@dataclass(frozen=True)
class SyncScore:
    """SyncNet's verdict on one video and one audio track.

    Args:
        lse_d (`float`): LSE-D, the smallest mean embedding distance over the offsets (lower: better sync).
        lse_c (`float`): LSE-C, the median minus the smallest mean distance (higher: more confident sync).
        offset (`int`): the best audio offset in frames at 25 fps, as the release reports it (`15 - argmin`).
        mean_distances (`tuple[float, ...]`): mean distance at each audio shift from -15 to +15 frames.
        windows (`int`): 5-frame windows scored.
    """

    lse_d: float
    lse_c: float
    offset: int
    mean_distances: tuple[float, ...]
    windows: int

    def to_dict(self) -> dict[str, float | int | list[float]]:
        return {
            "lse_c": self.lse_c,
            "lse_d": self.lse_d,
            "offset": self.offset,
            "windows": self.windows,
            "mean_distances": list(self.mean_distances),
        }


def offset_distances(
    lip_embeddings: torch.Tensor, audio_embeddings: torch.Tensor, max_offset: int = MAX_OFFSET
) -> torch.Tensor:
    """Distance of each lip window to the audio windows shifted by `-max_offset..+max_offset`.

    Args:
        lip_embeddings (`torch.Tensor` of shape `(n, d)`): one per video window.
        audio_embeddings (`torch.Tensor` of shape `(n, d)`): one per audio window, aligned with the video.
        max_offset (`int`, defaults to 15): largest shift each way.

    Returns:
        `torch.Tensor` of shape `(n, 2 max_offset + 1)`: entry `[i, k]` is the distance between lip window `i`
        and audio window `i + k - max_offset`, with a zero embedding where that window does not exist (as the
        release does, so that scores stay comparable with published ones).
    """
    if lip_embeddings.shape != audio_embeddings.shape or lip_embeddings.ndim != 2:
        raise InvalidParameterError(
            f"lip embeddings {tuple(lip_embeddings.shape)} and audio embeddings {tuple(audio_embeddings.shape)} "
            "must both be (windows, dim)"
        )
    if max_offset < 0:
        raise InvalidParameterError(f"max_offset is {max_offset}; expected 0 or more frames")
    count = lip_embeddings.shape[0]
    padded = nn.functional.pad(audio_embeddings, (0, 0, max_offset, max_offset))
    shifts = torch.arange(2 * max_offset + 1)
    shifted = padded[torch.arange(count)[:, None] + shifts[None, :]]  # (n, shifts, d)
    # pairwise_distance adds 1e-6 to the difference, as in the release; it reduces over the last dimension.
    return nn.functional.pairwise_distance(lip_embeddings[:, None, :].expand_as(shifted), shifted)


def sync_score(distances: torch.Tensor | np.ndarray) -> SyncScore:
    """LSE-D, LSE-C and the offset from a `(windows, 2 max_offset + 1)` distance matrix (see `offset_distances`).

    The offset is negative when the sound comes later than the lips that match it.
    """
    matrix = torch.as_tensor(distances, dtype=torch.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] % 2 == 0:
        raise InvalidParameterError(
            f"distance matrix has shape {tuple(matrix.shape)}; expected (windows, 2 * max_offset + 1)"
        )
    curve = matrix.mean(dim=0)
    best = int(torch.argmin(curve))
    minimum = float(curve[best])
    return SyncScore(
        lse_d=minimum,
        lse_c=float(torch.median(curve)) - minimum,
        offset=(matrix.shape[1] - 1) // 2 - best,
        mean_distances=tuple(float(value) for value in curve),
        windows=int(matrix.shape[0]),
    )


def syncnet_mfcc(waveform: np.ndarray) -> np.ndarray:
    """SyncNet's audio features: MFCCs of 16 kHz audio in [-1, 1] scaled to 16-bit sample values.

    Returns:
        `np.ndarray` of shape `(13, frames)`, float32, 100 frames per second.
    """
    return mfcc(np.asarray(waveform, dtype=np.float64) * INT16_SCALE, MfccConfig()).T.astype(np.float32)


class SyncNetScorer:
    """Scores lip sync of 25 fps face crops against 16 kHz audio with a loaded `SyncNet`.

    Args:
        model (`SyncNet`): the network (see `load_syncnet`).
        batch_size (`int`, defaults to 20): windows per forward pass (memory, not results).
        max_offset (`int`, defaults to 15): largest audio shift searched, in frames each way.
    """

    def __init__(self, model: SyncNet, batch_size: int = 20, max_offset: int = MAX_OFFSET) -> None:
        if batch_size < 1:
            raise InvalidParameterError(f"batch_size is {batch_size}; expected 1 or more")
        self.model = model.eval()
        self.batch_size = batch_size
        self.max_offset = max_offset

    @torch.inference_mode()
    def score(self, crops: np.ndarray, waveform: np.ndarray) -> SyncScore:
        """Score face crops against audio.

        As in the release, the video and audio are cut to the shorter of the two (one frame per 640 samples) and
        windows start at frames `0 .. length - 6`, so a clip of `length` frames gives `length - 5` windows.

        Args:
            crops (`np.ndarray` of shape `(frames, 224, 224, 3)`): RGB uint8 face crops at 25 fps (see
                `keydub.core.metrics.crops.syncnet_face_crops`).
            waveform (`np.ndarray` of shape `(samples,)`): the audio under those frames, 16 kHz mono in [-1, 1].

        Returns:
            `SyncScore`.

        Raises:
            InvalidParameterError: crops of the wrong shape, or fewer than 6 frames of picture and audio.
        """
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
            raise InvalidParameterError(f"face crops have shape {crops.shape}; expected (frames, 224, 224, 3)")
        samples_per_frame = MODEL_SAMPLE_RATE // SYNCNET_FRAME_RATE
        length = min(len(crops), len(waveform) // samples_per_frame)
        windows = length - VIDEO_WINDOW
        if windows < 1:
            raise InvalidParameterError(
                f"SyncNet needs at least {VIDEO_WINDOW + 1} frames (0.24 s) of picture and audio; got {len(crops)} "
                f"frames and {len(waveform) / MODEL_SAMPLE_RATE:.3f} s of audio"
            )
        shifts = 2 * self.max_offset + 1
        if windows < shifts:
            # With fewer windows than shifts, most shifts compare lips with the zero padding only, which flattens
            # the curve: LSE-C tends to 0 and the offset to the search's edge, whatever the sync.
            logger.warning(
                "only %d SyncNet windows (%d frames at 25 fps) for %d audio shifts: LSE-C and the offset are not "
                "meaningful below %d frames (the SyncNet release scores face tracks of 4 s or more)",
                windows,
                length,
                shifts,
                shifts + VIDEO_WINDOW,
            )
        device = next(self.model.parameters()).device
        features = torch.from_numpy(syncnet_mfcc(waveform[: length * samples_per_frame]))
        lips, audio = [], []
        for first in range(0, windows, self.batch_size):
            starts = range(first, min(windows, first + self.batch_size))
            # RGB -> BGR: the release reads frames with OpenCV and the weights expect its channel order.
            faces = torch.stack([_face_window(crops[s : s + VIDEO_WINDOW]) for s in starts]).to(device)
            sounds = torch.stack(
                [features[None, :, MFCC_PER_FRAME * s : MFCC_PER_FRAME * s + AUDIO_WINDOW] for s in starts]
            ).to(device)
            lips.append(self.model.embed_lips(faces).float().cpu())
            audio.append(self.model.embed_audio(sounds).float().cpu())
        distances = offset_distances(torch.cat(lips), torch.cat(audio), self.max_offset)
        return sync_score(distances)


def _face_window(crops: np.ndarray) -> torch.Tensor:
    """`(5, 224, 224, 3)` RGB uint8 -> `(3, 5, 224, 224)` BGR float 0-255."""
    return torch.from_numpy(np.ascontiguousarray(crops[..., ::-1])).permute(3, 0, 1, 2).float()
