"""A drawn 68-point face and a stand-in landmark backend that reports it, for render tests on synthetic clips.

Synthetic clips have no real face for a detector to find; these tests check the render path (ranges, crops,
paste-back, audio, timecode), so a backend that reports a known face where the test put it is what they need.
"""

from collections.abc import Callable

import numpy as np

from keydub.core.faces import FaceDetection


def template_landmarks(center_x: float, center_y: float, size: float, mouth_open: float = 0.0) -> np.ndarray:
    """68 iBUG points of a frontal face `size` pixels wide centred on `(center_x, center_y)`.

    `mouth_open` is the inner lips' half-gap as a share of `size` (0: closed).
    """
    points = np.zeros((68, 2), dtype=np.float64)
    jaw = np.linspace(0, np.pi, 17)
    points[0:17] = np.stack([-0.5 * np.cos(jaw), -0.1 + 0.65 * np.sin(jaw)], axis=1)
    points[17:22] = np.stack([np.linspace(-0.4, -0.08, 5), np.full(5, -0.35)], axis=1)
    points[22:27] = np.stack([np.linspace(0.08, 0.4, 5), np.full(5, -0.35)], axis=1)
    points[27:31] = np.stack([np.zeros(4), np.linspace(-0.25, 0.05, 4)], axis=1)
    points[31:36] = np.stack([np.linspace(-0.1, 0.1, 5), np.full(5, 0.1)], axis=1)
    eye = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    for first, x in ((36, -0.22), (42, 0.22)):
        points[first : first + 6] = np.stack([x + 0.08 * np.cos(eye), -0.2 + 0.03 * np.sin(eye)], axis=1)
    outer = np.linspace(np.pi, -np.pi, 12, endpoint=False)
    points[48:60] = np.stack([0.2 * np.cos(outer), 0.3 + (0.08 + mouth_open) * np.sin(-outer)], axis=1)
    inner = np.linspace(np.pi, -np.pi, 8, endpoint=False)
    points[60:68] = np.stack([0.12 * np.cos(inner), 0.3 + (0.005 + mouth_open) * np.sin(-inner)], axis=1)
    return (points * size + [center_x, center_y]).astype(np.float32)


class DrawnFaceBackend:
    """A landmark backend for clips of `frame_size` `(height, width)`.

    On the n-th frame of that size it is shown, it reports `face(n)` (nothing where that is `None`); on any other
    image (a generated face crop) it reports a face filling the image's middle.
    """

    name = "drawn"

    def __init__(self, face: Callable[[int], np.ndarray | None], frame_size: tuple[int, int]) -> None:
        self._face = face
        self._frame_size = frame_size
        self._frames_seen = 0

    def detect(self, frame_rgb: np.ndarray) -> list[FaceDetection]:
        if frame_rgb.shape[:2] == self._frame_size:
            landmarks = self._face(self._frames_seen)
            self._frames_seen += 1
        else:
            height, width = frame_rgb.shape[:2]
            landmarks = template_landmarks(width / 2, height * 0.45, width * 0.6)
        if landmarks is None:
            return []
        x0, y0 = landmarks.min(axis=0)
        x1, y1 = landmarks.max(axis=0)
        return [FaceDetection(box=(float(x0), float(y0), float(x1), float(y1)), score=1.0, landmarks=landmarks)]


class IndexedFaceBackend:
    """A landmark backend for clips whose frames spell their index (`media_fixtures.index_pattern`): on source
    frame `i` it reports the faces `faces(i)` (a list of landmark arrays), whatever order frames come in; on any
    other image (a generated crop) a face filling its middle. Counts the source frames it was shown.

    Args:
        faces (`Callable[[int], list[np.ndarray]]`): the faces on each source frame.
        frame_size (`tuple[int, int]`): the clip's `(height, width)`.
        name (`str`, defaults to `"indexed"`): the backend's name (it keys analysis caches).
    """

    def __init__(
        self, faces: Callable[[int], list[np.ndarray]], frame_size: tuple[int, int], name: str = "indexed"
    ) -> None:
        self._faces = faces
        self._frame_size = frame_size
        self.name = name
        self.source_frames_seen = 0

    def detect(self, frame_rgb: np.ndarray) -> list[FaceDetection]:
        from media_fixtures import read_index

        if frame_rgb.shape[:2] == self._frame_size:
            self.source_frames_seen += 1
            faces = self._faces(read_index(frame_rgb))
        else:
            height, width = frame_rgb.shape[:2]
            faces = [template_landmarks(width / 2, height * 0.45, width * 0.6)]
        return [_detection(landmarks) for landmarks in faces]


def _detection(landmarks: np.ndarray) -> FaceDetection:
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    return FaceDetection(box=(float(x0), float(y0), float(x1), float(y1)), score=1.0, landmarks=landmarks)
