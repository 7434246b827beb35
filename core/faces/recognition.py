"""Who a face is: the protocol every face-recognition backend follows, and distances between its embeddings.

A recognition backend turns a face (a frame and the face's 68 landmarks) into an embedding, a vector whose
Euclidean distance to another face's embedding is small for the same person and large for different people.
Each backend states the distance below which two faces are taken for one person (`same_person_distance`), since
the scale is the model's own.
"""

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from keydub.core.errors import InvalidParameterError


@runtime_checkable
class RecognitionBackend(Protocol):
    """A face-recognition model: all that track embeddings, the cast and `keydub cast` need.

    Attributes:
        name (`str`): the backend's registry name; it keys cached embeddings.
        embedding_size (`int`): the length of one embedding.
        same_person_distance (`float`): the Euclidean distance below which two embeddings are one person.
    """

    name: str
    embedding_size: int
    same_person_distance: float

    def embed(self, frame_rgb: np.ndarray, landmarks: Sequence[np.ndarray]) -> np.ndarray:
        """`(len(landmarks), embedding_size)` float32 embeddings of the faces of an RGB uint8 frame whose `(68, 2)`
        source-pixel landmarks are given (iBUG 300-W order)."""
        ...


def embedding_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between every row of `a` `(n, d)` and every row of `b` `(m, d)`, as `(n, m)` float64."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape[1] != b.shape[1]:
        raise InvalidParameterError(
            f"face embeddings of length {a.shape[1]} and {b.shape[1]} cannot be compared; they come from different "
            "face-recognition backends: compute both with the same one"
        )
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
