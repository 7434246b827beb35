"""The landmark detectors by name: the one list the command line, job checks and the panel offer, and the door that
makes one (`get_landmark_backend`). Light to import: a detector's class loads only when one is made.
"""

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
    if name not in LANDMARK_BACKENDS:
        raise InvalidParameterError(
            f"unknown landmark backend {name!r}; choose one of: {', '.join(sorted(LANDMARK_BACKENDS))}"
        )
    module, _, attribute = LANDMARK_BACKENDS[name].partition(":")
    backend_class = getattr(importlib.import_module(module), attribute)
    accepted = [p for p in inspect.signature(backend_class).parameters]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"the {name!r} landmark backend has no option {', '.join(unknown)}; its options are: {', '.join(accepted)}"
        )
    return backend_class(**options)
