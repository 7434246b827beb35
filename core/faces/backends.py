"""Landmark backends by name: the one list of detectors, light to import (each class loads on first use)."""

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from keydub.core.errors import InvalidParameterError


if TYPE_CHECKING:
    from keydub.core.faces.detection import LandmarkBackend


# Name -> `module:class`; the first is the default (the KeySync paper's detector).
LANDMARK_BACKENDS: dict[str, str] = {
    "face-alignment": "keydub.core.faces.fan_backend:FaceAlignmentLandmarks",
    "dlib": "keydub.core.faces.dlib_backend:DlibLandmarks",
}


def landmark_backend_class(name: str) -> type:
    """The class of the landmark backend `name`.

    Raises:
        InvalidParameterError: unknown name.
    """
    if name not in LANDMARK_BACKENDS:
        raise InvalidParameterError(
            f"unknown landmark backend {name!r}; choose one of: {', '.join(sorted(LANDMARK_BACKENDS))}"
        )
    module, _, attribute = LANDMARK_BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


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
    backend_class = landmark_backend_class(name)
    accepted = [p for p in inspect.signature(backend_class).parameters]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"the {name!r} landmark backend has no option {', '.join(unknown)}; its options are: {', '.join(accepted)}"
        )
    return backend_class(**options)
