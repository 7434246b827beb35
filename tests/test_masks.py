"""The leakage-proof box mask (exactly the official rule), its latent sampling (exactly torch's) and occluders."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_crop import synthetic_face

from keydub.core.compositing import crop
from keydub.core.compositing.masks import combine_with_occluders, latent_mask, leakproof_mask, overlay_mask, paste_back
from keydub.core.errors import InvalidParameterError


def official_box_mask(landmarks: np.ndarray, size: int, nose_index: int = 28, box_expand: float = 0.0) -> np.ndarray:
    """The reference: the rectangle's corners truncated to int32 and filled with `cv2.drawContours`."""
    expand = int(box_expand * size) if 0 <= box_expand < 1 else box_expand
    top = landmarks[nose_index, 1] - expand
    left, right = landmarks[:, 0].min(), landmarks[:, 0].max()
    corners = np.array([[left, top], [left, size], [right, size], [right, top]]).astype(np.int32)
    mask = np.zeros((size, size), dtype=np.uint8)
    cv2.drawContours(mask, [corners[None]], -1, color=1, thickness=cv2.FILLED)
    return mask.astype(bool)


def test_mask_on_hand_made_landmarks_is_the_hand_computed_rectangle():
    landmarks = np.full((68, 2), 30.0)
    landmarks[:, 0] = np.linspace(12.7, 40.2, 68)  # left edge trunc(12.7) = 12, right edge trunc(40.2) = 40
    landmarks[28, 1] = 21.9  # top edge trunc(21.9) = 21
    mask = leakproof_mask(landmarks, 64)
    expected = np.zeros((64, 64), dtype=bool)
    expected[21:, 12:41] = True  # both edge columns and the top row are inside; down to the bottom edge
    np.testing.assert_array_equal(mask, expected)
    # box_expand below 1 is a fraction of the crop (0.05 * 64 = 3.2 -> 3 px), from 1 on it is pixels.
    np.testing.assert_array_equal(np.flatnonzero(leakproof_mask(landmarks, 64, box_expand=0.05).any(axis=1))[0], 18)
    np.testing.assert_array_equal(np.flatnonzero(leakproof_mask(landmarks, 64, box_expand=5).any(axis=1))[0], 16)


@pytest.mark.parametrize("seed", range(6))
def test_mask_matches_the_official_contour_fill(seed):
    rng = np.random.default_rng(seed)
    size = 128
    # Faces anywhere, including partly outside the crop on each side.
    face = synthetic_face(rng.uniform(-10, 140), rng.uniform(-20, 120), rng.uniform(10, 40))
    face = face + rng.normal(0, 1.5, face.shape)
    expand = [0.0, 0.04, 3.0][seed % 3]
    np.testing.assert_array_equal(
        leakproof_mask(face, size, box_expand=expand), official_box_mask(face, size, box_expand=expand)
    )


def test_mask_of_a_cropped_face_covers_nose_to_bottom_edge():
    face = synthetic_face(600, 700, 85)
    (window,) = crop.crop_windows(face[None])
    landmarks = window.to_crop(face)
    mask = leakproof_mask(landmarks)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert rows[0] == int(landmarks[28, 1]) and rows[-1] == 511
    assert cols[0] == int(landmarks[:, 0].min()) and cols[-1] == int(landmarks[:, 0].max())
    assert mask[rows[0] :, cols[0] : cols[-1] + 1].all()  # filled, no holes


def test_mask_refuses_missing_landmarks():
    face = synthetic_face(50, 50, 20)
    face[5] = np.nan
    with pytest.raises(InvalidParameterError, match="68 finite landmarks"):
        leakproof_mask(face, 128)
    with pytest.raises(InvalidParameterError, match="box_expand"):
        leakproof_mask(synthetic_face(50, 50, 20), 128, box_expand=-0.1)


@pytest.mark.parametrize(
    ("height", "width", "latent"),
    [(512, 512, 64), (48, 48, 6), (100, 100, 64), (37, 91, 13), (32, 32, 64), (640, 480, 64), (7, 7, 7)],
)
def test_latent_mask_equals_torch_nearest_interpolation(height, width, latent):
    pixels = np.random.default_rng(height * width).random((height, width)) > 0.5
    expected = F.interpolate(torch.from_numpy(pixels)[None, None].float(), size=(latent, latent), mode="nearest")
    np.testing.assert_array_equal(latent_mask(pixels, latent), expected[0, 0].numpy() > 0.5)


def test_latent_mask_of_a_512_crop_takes_every_eighth_pixel():
    pixels = np.zeros((512, 512), dtype=bool)
    pixels[300:, 100:400] = True
    result = latent_mask(pixels)
    expected = np.zeros((64, 64), dtype=bool)
    expected[38:, 13:50] = True  # pixel row 8i >= 300 from i = 38; column 8j in [100, 400) for j = 13 to 49
    np.testing.assert_array_equal(result, expected)


def test_occluders_are_taken_out_of_the_region():
    region = np.zeros((8, 8), dtype=bool)
    region[4:, 2:6] = True
    occluder = np.zeros((8, 8), dtype=bool)
    occluder[5:7, 4:8] = True
    combined = combine_with_occluders(region, occluder)
    assert combined.sum() == region.sum() - 4
    assert not (combined & occluder).any() and not (combined & ~region).any()
    with pytest.raises(InvalidParameterError, match="does not match"):
        combine_with_occluders(region, occluder[:4])


def test_paste_back_is_shared_with_the_crop_module():
    assert paste_back is crop.paste_back


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_overlay_tints_the_mask_and_nothing_else(dtype):
    peak = np.iinfo(dtype).max
    frame = np.full((6, 8, 3), peak // 2, dtype=dtype)
    mask = np.zeros((6, 8), dtype=bool)
    mask[2:5, 3:7] = True
    tinted = overlay_mask(frame, mask, opacity=0.5)
    np.testing.assert_array_equal(tinted[~mask], frame[~mask])
    half = peak // 2
    expected = np.rint([half + 0.5 * (peak - half), half / 2, half / 2]).astype(dtype)
    np.testing.assert_array_equal(tinted[mask], np.broadcast_to(expected, (12, 3)))
    assert frame.max() == half  # the input is not modified
    with pytest.raises(InvalidParameterError, match="does not match"):
        overlay_mask(frame, mask[:3])
