"""68-point landmarks with face-alignment: the S3FD detector and the 2D-FAN-4 network, as KeySync uses them.

face-alignment fetches its weights from the network on first use. Keydub resolves both files itself before
building the model: an explicit path, else the torch hub cache (`$TORCH_HOME/hub/checkpoints`), else a download
into that cache unless offline mode (`HF_HUB_OFFLINE` or `KEYDUB_OFFLINE`) is set. Weights are read with
`torch.load(weights_only=True)`.
"""

import inspect
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from keydub.core.devices import resolve_device
from keydub.core.errors import InvalidParameterError, LandmarkBackendError
from keydub.core.faces.detection import Box, FaceDetection, check_frame, check_long_side, shrink_for_detection
from keydub.core.weights import REGISTRY


INSTALL_HINT = 'install it with: pip install "keydub[landmarks]"'
# The release files, as the weights registry lists them (`keydub weights download s3fd fan` fetches them too).
FAN_FILE, FAN_URL = REGISTRY["fan"].weight_files[0], REGISTRY["fan"].url
S3FD_FILE, S3FD_URL = REGISTRY["s3fd"].weight_files[0], REGISTRY["s3fd"].url
OFFLINE_VARIABLES = ("KEYDUB_OFFLINE", "HF_HUB_OFFLINE")


def is_offline() -> bool:
    """Whether the environment forbids downloads (`KEYDUB_OFFLINE` or `HF_HUB_OFFLINE` set to a true value)."""
    return any(os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"} for name in OFFLINE_VARIABLES)


def hub_checkpoint_dir() -> Path:
    """Where torch hub, and so face-alignment, keeps downloaded weights (honours `TORCH_HOME`)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_weights(path: str | Path | None, file_name: str, url: str, what: str) -> Path:
    """The local file of one face-alignment weight: `path` if given, else the hub cache, downloading if allowed.

    Raises:
        LandmarkBackendError: the given path does not exist, or the file is not cached and downloading is off or
            fails; the message names the file and how to get it.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise LandmarkBackendError(f"the {what} weights file {path} does not exist; download it from {url}")
        return path
    cached = hub_checkpoint_dir() / file_name
    if cached.is_file():
        return cached
    fetch_hint = (
        f'download {url} to {cached} (or pass its path), or choose the "dlib" landmark backend, which needs no '
        "download"
    )
    if is_offline():
        raise LandmarkBackendError(
            f"the {what} weights {file_name} are not in {cached.parent} and offline mode is on; {fetch_hint}"
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        # torch hub downloads to a temporary file in the same folder and renames it when complete.
        torch.hub.download_url_to_file(url, str(cached), progress=False)
    except OSError as error:
        raise LandmarkBackendError(f"could not download the {what} weights ({error}); {fetch_hint}") from error
    return cached


class FaceAlignmentLandmarks:
    """The `"face-alignment"` landmark backend (S3FD + 2D-FAN-4), the detector of the KeySync paper.

    Args:
        device (`str | None`): torch device; `"cuda"` when available, else `"cpu"`.
        fan_path (`str | Path | None`): the 2D-FAN-4 weights (`2DFAN4-11f355bf06.pth.tar`); by default from the
            torch hub cache.
        detector_path (`str | Path | None`): the S3FD weights (`s3fd-619a316812.pth`); by default from the
            torch hub cache.
        score_threshold (`float`, defaults to 0.5): the least S3FD face probability (face-alignment's default).
        detect_long_side (`int | None`, defaults to `None`): run S3FD on a copy whose long side is at most this
            many pixels; `None` detects at full resolution like KeySync. Landmarks are always fitted at full
            resolution.
    """

    name = "face-alignment"

    def __init__(
        self,
        *,
        device: str | None = None,
        fan_path: str | Path | None = None,
        detector_path: str | Path | None = None,
        score_threshold: float = 0.5,
        detect_long_side: int | None = None,
    ) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise InvalidParameterError(
                f"face-alignment score_threshold is a probability in [0, 1], got {score_threshold}"
            )
        self.detect_long_side = check_long_side(detect_long_side)
        try:
            import face_alignment
        except ImportError as error:
            raise LandmarkBackendError(
                f"the face-alignment landmark backend is not installed; {INSTALL_HINT}"
            ) from error
        if not hasattr(face_alignment.FaceAlignment, "_load_native"):
            raise LandmarkBackendError(
                "the installed face-alignment is older than 1.5 (whose weights Keydub loads); upgrade it with: "
                'pip install -U "face-alignment>=1.5"'
            )
        fan_file = resolve_weights(fan_path, FAN_FILE, FAN_URL, "2D-FAN-4 landmark")
        detector_file = resolve_weights(detector_path, S3FD_FILE, S3FD_URL, "S3FD face detector")
        self.device = str(resolve_device(device or "auto"))
        self._model = _local_face_alignment(face_alignment, fan_file)(
            face_alignment.LandmarksType.TWO_D,
            device=self.device,
            flip_input=False,
            face_detector="sfd",
            face_detector_kwargs={"path_to_detector": str(detector_file), "filter_threshold": score_threshold},
            # torch.compile would write a cache under the home folder and compile for minutes on first use.
            **_compile_off(face_alignment.FaceAlignment),
        )

    def detect(self, frame_rgb: np.ndarray) -> list[FaceDetection]:
        """Every face of an RGB uint8 frame with its 68 landmarks in source pixels, best score first."""
        frame = check_frame(frame_rgb)
        return self.fit_landmarks(frame, self.find_faces(frame))

    def detect_batch(self, frames_rgb: Sequence[np.ndarray]) -> list[list[FaceDetection]]:
        """`detect` of each frame, with S3FD run on all of them in one call (frames of one size)."""
        frames = [check_frame(frame) for frame in frames_rgb]
        return [
            self.fit_landmarks(frame, faces)
            for frame, faces in zip(frames, self.find_faces_batch(frames), strict=True)
        ]

    @torch.inference_mode()
    def find_faces(self, frame_rgb: np.ndarray) -> list[tuple[Box, float]]:
        """S3FD face boxes `(x0, y0, x1, y1)` in source pixels with their probabilities, best first."""
        small, scale = shrink_for_detection(check_frame(frame_rgb), self.detect_long_side)
        return _in_source_pixels(self._model.face_detector.detect_from_image(small.copy()), scale)

    @torch.inference_mode()
    def find_faces_batch(self, frames_rgb: Sequence[np.ndarray]) -> list[list[tuple[Box, float]]]:
        """`find_faces` of each frame, as one S3FD forward pass over the batch.

        On a GPU this is several times faster than frame by frame; activations grow with the batch and the
        detection size (`detect_long_side`), so keep batches small at full resolution. Frames of different sizes
        cannot share a pass and are detected one by one.
        """
        frames = [check_frame(frame) for frame in frames_rgb]
        if len({frame.shape for frame in frames}) != 1:
            return [self.find_faces(frame) for frame in frames]
        shrunk = [shrink_for_detection(frame, self.detect_long_side) for frame in frames]
        batch = torch.from_numpy(np.stack([small for small, _ in shrunk])).permute(0, 3, 1, 2).to(self.device)
        box_lists = self._model.face_detector.detect_from_batch(batch)
        return [_in_source_pixels(boxes, scale) for boxes, (_, scale) in zip(box_lists, shrunk, strict=True)]

    @torch.inference_mode()
    def fit_landmarks(self, frame_rgb: np.ndarray, faces: list[tuple[Box, float]]) -> list[FaceDetection]:
        """68 2D-FAN-4 landmarks at full resolution for each given face box."""
        frame = check_frame(frame_rgb)
        if not faces:
            return []
        # float64, as its own detector returns: face-alignment writes these values into float tensors.
        boxes = [np.array([*box, score], dtype=np.float64) for box, score in faces]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            points = self._model.get_landmarks_from_image(frame, detected_faces=boxes)
        return [
            FaceDetection(box=box, score=score, landmarks=np.asarray(face, dtype=np.float32)[:, :2])
            for (box, score), face in zip(faces, points, strict=True)
        ]


def _in_source_pixels(boxes: Sequence[np.ndarray], scale: float) -> list[tuple[Box, float]]:
    """S3FD `[x0, y0, x1, y1, score]` rows on the reduced copy as source-pixel boxes with scores, best first."""
    faces = [(tuple(float(v) / scale for v in box[:4]), float(box[4])) for box in boxes]
    return sorted(faces, key=lambda face: -face[1])


def _compile_off(face_alignment_class: type) -> dict[str, bool]:
    """`{"compile": False}` where the installed face-alignment has the option (1.5 and later)."""
    return {"compile": False} if "compile" in inspect.signature(face_alignment_class).parameters else {}


def _local_face_alignment(face_alignment, fan_file: Path) -> type:
    """A `FaceAlignment` that loads 2D-FAN-4 from `fan_file` instead of downloading it by URL."""

    class LocalFaceAlignment(face_alignment.FaceAlignment):
        def _load_native(self, network_name, network_size, device, dtype):
            network = face_alignment.models.FAN(network_size)
            network.load_state_dict(torch.load(fan_file, map_location=device, weights_only=True))
            return network.to(device, dtype=dtype).eval()

    return LocalFaceAlignment
