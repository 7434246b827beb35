"""Landmark backends by name."""

import inspect
from typing import Any

from keydub.core.errors import InvalidParameterError
from keydub.core.faces.detection import LandmarkBackend
from keydub.core.faces.dlib_backend import DlibLandmarks
from keydub.core.faces.fan_backend import FaceAlignmentLandmarks


BACKENDS: dict[str, type] = {
    DlibLandmarks.name: DlibLandmarks,
    FaceAlignmentLandmarks.name: FaceAlignmentLandmarks,
}


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
    if name not in BACKENDS:
        raise InvalidParameterError(f"unknown landmark backend {name!r}; choose one of: {', '.join(sorted(BACKENDS))}")
    backend_class = BACKENDS[name]
    accepted = [p for p in inspect.signature(backend_class).parameters]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"the {name!r} landmark backend has no option {', '.join(unknown)}; its options are: {', '.join(accepted)}"
        )
    return backend_class(**options)
