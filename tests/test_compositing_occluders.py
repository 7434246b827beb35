"""Occluder masks in the render: the paper's latent rule and an exact paste-back, through a real FFV1 round trip.

The occluder masks come from the session with the stand-in segmenter of `test_occlusion_masker` (known masks), so
what is checked here is the mask algebra and the pixels, not SAM2.
"""

import numpy as np
import pytest
from media_fixtures import make_test_clip
from test_occlusion_masker import HEIGHT, RED, WIDTH, ColourSegmenter, painted, scene

from keydub.core.compositing import crop
from keydub.core.media import probe
from keydub.core.media.reader import read_frames
from keydub.core.media.writer import VideoWriter
from keydub.core.occlusion import (
    OcclusionMaskCache,
    OcclusionMasker,
    OcclusionPrompt,
    latent_mask_without_occluders,
    occluder_crop_mask,
    occluder_masks_for_range,
    paste_back_with_occluders,
)


CROP = 48  # a crop of 48 source pixels seen at 48: a pure translation, so every mapping is exact
LATENT = 6  # 48 / 8, as 512 -> 64


@pytest.fixture
def shot(tmp_path):
    """An FFV1 clip of the synthetic scene, its window's occluder masks (the red square), and the crop window."""
    clip = make_test_clip(tmp_path / "shot.mkv", width=WIDTH, height=HEIGHT, frame_count=8, frames=scene)
    masker = OcclusionMasker(ColourSegmenter(image_size=WIDTH), identity="colour-v1")
    prompts = [OcclusionPrompt(1, 2, ((25.0, 25.0),), (1,))]
    occluders = occluder_masks_for_range(clip, (1, 7), prompts, masker=masker, cache=OcclusionMaskCache(tmp_path))
    window = crop.CropWindow(center_x=40, center_y=32, size=CROP, output_size=CROP)
    return clip, occluders, window


def test_latent_mask_is_the_region_minus_the_occluder_sampled_nearest(shot):
    _, occluders, window = shot
    x0, y0 = 40 - CROP // 2, 32 - CROP // 2
    region = np.zeros((CROP, CROP), dtype=bool)
    region[14:44, 6:42] = True  # the lower face, hand-drawn in crop pixels
    for frame in range(1, 7):
        source_occluder = occluders.union(frame)
        np.testing.assert_array_equal(source_occluder, painted(RED, frame))
        occluder = occluder_crop_mask(source_occluder, window)
        np.testing.assert_array_equal(occluder, source_occluder[y0 : y0 + CROP, x0 : x0 + CROP])
        # Nearest sampling to the latent grid picks crop pixel 8*i in each direction; the rule is applied after.
        picks = np.arange(LATENT) * (CROP // LATENT)
        expected = region[np.ix_(picks, picks)] & ~occluder[np.ix_(picks, picks)]
        result = latent_mask_without_occluders(region, occluder, LATENT)
        np.testing.assert_array_equal(result, expected)
        assert result.sum() < region[np.ix_(picks, picks)].sum()  # the occluder did take latent pixels away


@pytest.mark.parametrize(
    ("window", "feather"),
    [
        (crop.CropWindow(center_x=40, center_y=32, size=CROP, output_size=CROP), 16.0),
        # Scaled and off the pixel grid, with a short feather: the warped blend weights reach across the
        # occluder's edge by a fraction of a pixel, which the paste-back must undo.
        (crop.CropWindow(center_x=41.3, center_y=33.6, size=37.7, output_size=CROP), 1.0),
    ],
    ids=["pixel-exact", "scaled"],
)
def test_occluder_pixels_come_back_exactly_after_paste_back_and_ffv1(shot, tmp_path, window, feather):
    clip, occluders, _ = shot
    info = probe(clip)
    region = np.zeros((CROP, CROP), dtype=bool)
    region[14:46, 4:44] = True
    generated = np.zeros((CROP, CROP, 3), dtype=np.uint8)
    generated[:] = (200, 30, 220)  # a "new mouth" no source pixel has
    output = tmp_path / "render.mkv"
    sources = list(read_frames(clip, 1, 7))
    with VideoWriter(output, like=info, codec="ffv1", first_source_frame=1) as writer:
        for frame, source in zip(range(1, 7), sources, strict=True):
            before = source.copy()
            pasted = paste_back_with_occluders(
                source, generated, window, region, occluders.union(frame), feather=feather
            )
            np.testing.assert_array_equal(source, before)  # the source frame is not modified
            writer.write(pasted)
    for frame, (source, written) in enumerate(zip(sources, read_frames(output), strict=True), start=1):
        occluder = occluders.union(frame)
        assert occluder.sum() == 144
        np.testing.assert_array_equal(written[occluder], source[occluder])
        changed = np.any(written != source, axis=-1)
        assert changed.sum() > 500 and not (changed & occluder).any()
        # Deep inside the region and away from the occluder, the generated mouth shows.
        assert np.any(written[45, 45] != source[45, 45])
