"""The landmark detectors by name: the one list the command line, job checks and the panel offer.

Plain data, light to import: a detector's class loads only when one is made (`keydub.core.faces.get_landmark_backend`).
"""

import importlib

from keydub.core.errors import InvalidParameterError


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
