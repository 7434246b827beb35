"""Landmark backends by name (the names: `keydub.core.landmark_backends`)."""

import inspect
from typing import Any

from keydub.core.errors import InvalidParameterError
from keydub.core.faces.detection import LandmarkBackend
from keydub.core.landmark_backends import landmark_backend_class


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
    backend_class = landmark_backend_class(name)
    accepted = [p for p in inspect.signature(backend_class).parameters]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"the {name!r} landmark backend has no option {', '.join(unknown)}; its options are: {', '.join(accepted)}"
        )
    return backend_class(**options)
