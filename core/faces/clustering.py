"""Grouping face embeddings into identities: average-linkage clustering cut at the same-person distance.

Average linkage merges two groups when the mean distance between their members is under the threshold, so one
odd face (turned, blurred) neither chains two people together, as single linkage would, nor stays out on its own
as easily as under complete linkage. Faces that are on screen together cannot be one person: their distance is
raised to `APART` before clustering, which keeps them apart unless their groups are otherwise overwhelmingly alike.
"""

from collections.abc import Iterable

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from keydub.core.errors import InvalidParameterError
from keydub.core.faces.recognition import embedding_distances


APART = 10.0
"""The distance given to two faces seen at the same time (far beyond any real embedding distance)."""


def cluster_embeddings(vectors: np.ndarray, threshold: float, apart: Iterable[tuple[int, int]] = ()) -> np.ndarray:
    """A cluster label for each embedding, 0, 1, ... numbered by each cluster's first member.

    Args:
        vectors (`np.ndarray`): `(n, d)` embeddings of one recognition backend.
        threshold (`float`): the largest mean distance between two groups that are merged (the backend's
            `same_person_distance`).
        apart (`Iterable[tuple[int, int]]`): pairs of rows that are on screen together, so not one person.

    Returns:
        `np.ndarray`: `(n,)` int labels.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2:
        raise InvalidParameterError(f"embeddings to cluster must be (n, d), got shape {vectors.shape}")
    if not threshold > 0:
        raise InvalidParameterError(f"the clustering distance must be > 0, got {threshold!r}")
    count = len(vectors)
    if count < 2:
        return np.zeros(count, dtype=np.int64)
    distances = embedding_distances(vectors, vectors)
    for a, b in apart:
        distances[a, b] = distances[b, a] = APART
    np.fill_diagonal(distances, 0.0)
    tree = linkage(squareform(distances, checks=False), method="average")
    raw = fcluster(tree, t=threshold, criterion="distance")
    # Renumber by first appearance, so the same faces in the same order always give the same labels.
    order = {label: index for index, label in enumerate(dict.fromkeys(raw))}
    return np.array([order[label] for label in raw], dtype=np.int64)
