"""Still pictures: reading a reference photo as RGB, and writing a PNG atomically (contact sheets)."""

import os
from pathlib import Path

import cv2
import numpy as np

from keydub.core.errors import InvalidParameterError, MediaNotFoundError, UnsupportedMediaError
from keydub.core.files import write_bytes_atomically


# A photo of a face is a few MB; a file far larger is not one, and decoding it would cost gigabytes.
MAX_IMAGE_BYTES = 64 * 2**20


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file (PNG, JPEG, TIFF, BMP, WebP) as an RGB uint8 `(height, width, 3)` array.

    Raises:
        `MediaNotFoundError`: the file does not exist. `UnsupportedMediaError`: it is too large or not a picture.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaNotFoundError(f"image {path} does not exist; check the path")
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise UnsupportedMediaError(f"image {path} is {size} bytes; a face picture is at most {MAX_IMAGE_BYTES}")
    picture = cv2.imdecode(np.frombuffer(path.read_bytes(), dtype=np.uint8), cv2.IMREAD_COLOR)
    if picture is None:
        raise UnsupportedMediaError(f"{path} is not a picture Keydub can read; use a PNG or JPEG file")
    return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)


def write_png(path: str | os.PathLike[str], image_rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as a PNG, atomically (a temporary name, then renamed); returns the path."""
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidParameterError(f"a PNG is written from an RGB uint8 image, got {image.dtype} {image.shape}")
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InvalidParameterError(f"the {image.shape[1]}x{image.shape[0]} image cannot be encoded as a PNG")
    write_bytes_atomically(path, encoded.tobytes())
    return Path(path)
