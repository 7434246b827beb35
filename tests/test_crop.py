"""Crop windows, the crop warp and the paste-back: geometry, smoothing, borders, colour and a lossless round trip."""

import numpy as np
import pytest
from media_fixtures import make_test_clip

from keydub.core.compositing.crop import CropWindow, blend_region, crop_windows, face_scale, paste_back, warp_to_crop
from keydub.core.compositing.masks import leakproof_mask
from keydub.core.errors import InvalidParameterError
from keydub.core.media import probe, read_frames
from keydub.core.media.writer import VideoWriter


def synthetic_face(center_x: float, eye_y: float, unit: float, mouth_open: float = 0.0) -> np.ndarray:
    """68 iBUG landmarks of a frontal face with eye-centre distance `unit`, eyes centred on `(center_x, eye_y)`.

    Proportions follow dlib's landmarks on the real test clip: brows 0.5 u above the eyes, nose base 0.57 u,
    mouth 0.95 u and chin 1.75 u below them, jaw 2.1 u wide. `mouth_open` (in u) drops the lower lip and chin.
    """
    points = np.zeros((68, 2))
    jaw = np.linspace(np.pi, 0, 17)
    points[0:17] = np.stack([center_x + 1.05 * unit * np.cos(jaw), eye_y + 0.2 * unit + 1.55 * unit * np.sin(jaw)], 1)
    points[8:9, 1] += mouth_open * unit
    brows = np.concatenate([np.linspace(-0.9, -0.15, 5), np.linspace(0.15, 0.9, 5)])
    points[17:27] = np.stack([center_x + brows * unit, np.full(10, eye_y - 0.5 * unit)], 1)
    points[27:31] = np.stack([np.full(4, center_x), eye_y + np.linspace(-0.05, 0.45, 4) * unit], 1)
    points[31:36] = np.stack([center_x + np.linspace(-0.3, 0.3, 5) * unit, np.full(5, eye_y + 0.57 * unit)], 1)
    ring = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    for first, side in ((36, -0.5), (42, 0.5)):
        points[first : first + 6] = np.stack(
            [center_x + (side + 0.2 * np.cos(ring)) * unit, eye_y + 0.08 * np.sin(ring) * unit], 1
        )
    mouth_y = eye_y + 0.95 * unit
    for first, count, width, height in ((48, 12, 0.45, 0.15), (60, 8, 0.3, 0.05)):
        angles = np.linspace(np.pi, -np.pi, count, endpoint=False)
        lower = np.sin(angles) < 0
        ys = mouth_y - height * unit * np.sin(angles) + np.where(lower, mouth_open * unit, 0)
        points[first : first + count] = np.stack([center_x + width * unit * np.cos(angles), ys], 1)
    return points.astype(np.float32)


def smooth_texture(index: int, width: int, height: int, *, dtype: type = np.uint8) -> np.ndarray:
    """Low-frequency colour waves plus a little seeded noise: any changed pixel shows, resampling costs little."""
    peak = np.iinfo(dtype).max
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    waves = np.stack([np.sin(x / 11 + index), np.cos(y / 13 - index), np.sin((x + y) / 17 + 0.5 * index)], axis=-1)
    noise = np.random.default_rng(index).uniform(-0.03, 0.03, size=waves.shape)
    return np.clip((0.5 + 0.35 * waves + noise) * peak, 0, peak).round().astype(dtype)


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / error))


# ----------------------------------------------------------------------------------------------------------------
# Window geometry
# ----------------------------------------------------------------------------------------------------------------
def test_to_source_inverts_to_crop_and_the_matrices_are_inverse():
    window = CropWindow(center_x=301.7, center_y=455.2, size=377.3, output_size=512)
    points = np.random.default_rng(0).uniform(-100, 900, size=(5, 68, 2))
    np.testing.assert_allclose(window.to_source(window.to_crop(points)), points, rtol=0, atol=1e-9)
    full = np.vstack([window.matrix, [0, 0, 1]]) @ np.vstack([window.inverse_matrix, [0, 0, 1]])
    np.testing.assert_allclose(full, np.eye(3), atol=1e-12)
    # The square's pixel-edge corners land on the crop's pixel-edge corners (-0.5 and 511.5 in pixel centres).
    corners = np.array([[301.7 - 377.3 / 2 - 0.5, 455.2 - 377.3 / 2 - 0.5], [301.7 + 377.3 / 2 - 0.5] * 2])
    corners[1, 1] = 455.2 + 377.3 / 2 - 0.5
    np.testing.assert_allclose(window.to_crop(corners), [[-0.5, -0.5], [511.5, 511.5]], atol=1e-9)
    assert np.isnan(window.to_crop(np.full((1, 2), np.nan))).all()


def test_a_window_at_source_scale_is_an_exact_pixel_copy():
    frame = np.random.default_rng(1).integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    crop = warp_to_crop(frame, CropWindow(center_x=25, center_y=18, size=16, output_size=16))
    np.testing.assert_array_equal(crop, frame[10:26, 17:33])


def blob(width: int, height: int, x: float, y: float, sigma: float) -> np.ndarray:
    """A bright Gaussian spot centred on the pixel-centre point `(x, y)`, as a uint16 RGB image."""
    rows, cols = np.mgrid[0:height, 0:width]
    spot = np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))
    return np.repeat(np.rint(spot * 65535).astype(np.uint16)[..., None], 3, axis=-1)


def centroid(image: np.ndarray) -> np.ndarray:
    weights = image[..., 0].astype(np.float64)
    rows, cols = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return np.array([(weights * cols).sum(), (weights * rows).sum()]) / weights.sum()


@pytest.mark.parametrize("size", [41.3, 96.0, 150.7])  # crops upscaled, at scale 1.5, downscaled
def test_crop_and_paste_back_keep_points_where_the_matrices_say(size):
    """A spot lands in the crop where `to_crop` puts it and goes back to where it was (to 0.05 px)."""
    point = np.array([70.3, 61.8])
    frame = blob(140, 120, *point, sigma=4.0)
    window = CropWindow(center_x=72.9, center_y=58.4, size=size, output_size=64)
    crop = warp_to_crop(frame, window)
    np.testing.assert_allclose(centroid(crop), window.to_crop(point), atol=0.05 * max(1, window.scale))
    region = np.ones((64, 64), dtype=bool)
    background = np.zeros_like(frame)
    pasted = paste_back(background, crop, window, region, feather=0, color_match=False)
    np.testing.assert_allclose(centroid(pasted), point, atol=0.05)


@pytest.mark.parametrize(
    "bad", [dict(size=0), dict(size=float("nan")), dict(center_x=float("inf")), dict(output_size=0)]
)
def test_invalid_windows_are_refused(bad):
    values = dict(center_x=10.0, center_y=10.0, size=20.0, output_size=32) | bad
    with pytest.raises(InvalidParameterError):
        CropWindow(**values)


# ----------------------------------------------------------------------------------------------------------------
# Windows from landmarks
# ----------------------------------------------------------------------------------------------------------------
def test_windows_frame_the_whole_head_with_the_mouth_low_and_room_below_the_chin():
    face = synthetic_face(600, 700, 85)[None]
    (window,) = crop_windows(face)
    crop = window.to_crop(face[0])
    assert window.size == pytest.approx(4.1 * 85, rel=1e-6)
    assert 0.65 < crop[48:68, 1].mean() / 512 < 0.75  # mouth in the lower middle
    assert 0.85 < crop[8, 1] / 512 < 0.93  # the chin is inside, with neck below it
    assert crop[17:27, 1].min() / 512 > 0.3  # the brows well below the top edge: room for the forehead and hair
    assert abs(crop[:, 0].mean() - 256) < 3  # centred horizontally


def test_wide_open_mouth_never_cuts_the_chin():
    face = synthetic_face(600, 700, 85, mouth_open=1.2)[None]
    (window,) = crop_windows(face)
    chin = window.to_crop(face[0])[8, 1]
    assert chin <= 512 - 0.3 * 85 * window.scale + 1e-6


def test_windows_are_none_where_the_face_is_missing_and_runs_are_smoothed_separately():
    faces = np.stack(
        [synthetic_face(300, 300, 60)] * 5 + [np.full((68, 2), np.nan)] * 2 + [synthetic_face(700, 400, 80)] * 5
    )
    faces[3, 10] = np.nan  # one missing coordinate makes the whole frame missing
    windows = crop_windows(faces, output_size=256)
    assert [w is None for w in windows] == [False] * 3 + [True, False, True, True] + [False] * 5
    # Smoothing stays inside each run: the frames next to a gap keep their own run's position exactly, and a
    # one-frame run is a window of its own.
    assert windows[2].center_x == pytest.approx(windows[0].center_x)
    assert windows[4].center_x == pytest.approx(300.5) and windows[4].size == pytest.approx(4.1 * 60)
    assert windows[7].center_x == pytest.approx(700.5)
    assert windows[7].size == pytest.approx(4.1 * 80)
    assert windows[7].output_size == 256


def test_jittered_landmarks_give_stable_windows():
    frames = 100
    rng = np.random.default_rng(7)
    drift = np.linspace(0, 60, frames)  # a steady pan of 0.6 px per frame
    faces = np.stack([synthetic_face(400 + d, 500, 90) for d in drift])
    jittered = faces + rng.normal(0, 2.0, size=(frames, 1, 2)).astype(np.float32)  # per-frame detector jitter
    raw = crop_windows(jittered, smoothing=0)
    smooth = crop_windows(jittered)
    expected = 400 + drift + 0.5
    raw_error = np.array([w.center_x for w in raw]) - expected
    smooth_error = np.array([w.center_x for w in smooth]) - expected
    assert np.std(smooth_error) < 0.4 * np.std(raw_error)
    frame_to_frame = np.abs(np.diff([w.center_y for w in smooth]))
    assert frame_to_frame.max() < 0.5 * np.abs(np.diff([w.center_y for w in raw])).max()


def test_steady_motion_is_followed_without_lag_up_to_both_ends():
    # Zero phase and odd reflection at the run's ends: a linear pan and zoom come out exactly as measured.
    faces = np.stack([synthetic_face(400 + 0.6 * i, 500 - 0.3 * i, 90 + 0.2 * i) for i in range(30)])
    raw, smooth = crop_windows(faces, smoothing=0), crop_windows(faces, smoothing=3)
    for a, b in zip(raw, smooth, strict=True):
        assert (b.center_x, b.center_y, b.size) == pytest.approx((a.center_x, a.center_y, a.size), abs=1e-3)


def test_a_profile_face_keeps_its_size():
    frontal = synthetic_face(500, 500, 80)
    turned = frontal.copy()
    turned[:, 0] = 500 + (turned[:, 0] - 500) * 0.5  # eye distance halved, nose length kept
    assert face_scale(turned[None])[0] > 0.8 * face_scale(frontal[None])[0]


def test_bad_landmark_arrays_are_refused():
    with pytest.raises(InvalidParameterError, match="68, 2"):
        crop_windows(np.zeros((3, 5, 2)))
    with pytest.raises(InvalidParameterError, match="smoothing"):
        crop_windows(np.zeros((3, 68, 2)), smoothing=-1)


# ----------------------------------------------------------------------------------------------------------------
# Borders
# ----------------------------------------------------------------------------------------------------------------
def test_a_face_partly_out_of_frame_gives_a_replicated_crop_and_paste_back_writes_only_inside():
    frame = smooth_texture(0, 80, 60)
    window = CropWindow(center_x=40, center_y=52, size=32, output_size=32)  # rows 36..67 of a 60-row frame
    crop = warp_to_crop(frame, window)
    np.testing.assert_array_equal(crop[:24], frame[36:60, 24:56])
    for row in range(24, 32):  # below the frame: the last row, replicated
        np.testing.assert_array_equal(crop[row], frame[59, 24:56])
    region = np.zeros((32, 32), dtype=bool)
    region[10:, 4:28] = True
    generated = np.full_like(crop, 255)
    changed = blend_region(frame.shape, window, region, 4)
    pasted = paste_back(frame, generated, window, region, feather=4, color_match=False)
    np.testing.assert_array_equal(changed, blend_region(frame.shape, window, region, feather=4))
    assert pasted.shape == frame.shape
    np.testing.assert_array_equal(pasted[~changed], frame[~changed])
    assert changed[46:, 28:52].all() and changed.sum() == changed[45:, 27:53].sum()
    assert (pasted[59, 36:44] == 255).all()  # the frame's last row is deep inside the region: fully generated


def test_a_downscaled_crop_is_anti_aliased():
    # A one-pixel checkerboard seen at a quarter of its size must come out flat grey, not as a moire pattern.
    checker = ((np.indices((256, 256)).sum(axis=0) % 2) * 255).astype(np.uint8)
    frame = np.repeat(checker[..., None], 3, axis=-1)
    crop = warp_to_crop(frame, CropWindow(center_x=128, center_y=128, size=200, output_size=50))
    assert abs(crop.astype(float).mean() - 127.5) < 3 and crop.std() < 6


# ----------------------------------------------------------------------------------------------------------------
# Paste-back
# ----------------------------------------------------------------------------------------------------------------
def test_blend_region_is_the_warped_region_and_the_source_is_not_modified():
    frame = smooth_texture(2, 64, 48)
    before = frame.copy()
    window = CropWindow(center_x=30, center_y=24, size=32, output_size=32)
    region = np.zeros((32, 32), dtype=bool)
    region[12:30, 5:27] = True
    changed = blend_region(frame.shape, window, region)
    expected = np.zeros((48, 64), dtype=bool)
    expected[8 + 12 : 8 + 30, 14 + 5 : 14 + 27] = True
    np.testing.assert_array_equal(changed, expected)
    pasted = paste_back(frame, np.zeros((32, 32, 3), np.uint8), window, region)
    np.testing.assert_array_equal(frame, before)
    np.testing.assert_array_equal(pasted[~changed], frame[~changed])
    # The feather lies inside the region: the edge pixels are barely touched, the centre is the generated crop.
    assert np.abs(pasted[20, 19].astype(int) - frame[20, 19]).max() < 0.1 * frame[20, 19].max()
    assert np.abs(pasted[29, 30].astype(int) - frame[29, 30]).max() > 0.1 * frame[29, 30].max()


def test_colour_matching_moves_a_shifted_crop_toward_the_source():
    frame = smooth_texture(3, 160, 160)
    window = CropWindow(center_x=80, center_y=80, size=120, output_size=96)
    region = np.zeros((96, 96), dtype=bool)
    region[40:, 16:80] = True
    shifted = np.clip(warp_to_crop(frame, window).astype(int) + [18, -12, 10], 0, 255).astype(np.uint8)
    changed = blend_region(frame.shape, window, region)
    plain = paste_back(frame, shifted, window, region, color_match=False)
    matched = paste_back(frame, shifted, window, region)
    source_mean = frame[changed].mean(axis=0)
    plain_gap = np.abs(plain[changed].mean(axis=0) - source_mean)
    matched_gap = np.abs(matched[changed].mean(axis=0) - source_mean)
    assert (plain_gap > 5).all()
    assert (matched_gap < 0.3 * plain_gap).all()


def test_paste_back_refuses_mismatched_inputs():
    frame = np.zeros((40, 40, 3), np.uint8)
    window = CropWindow(20, 20, 16, 16)
    region = np.ones((16, 16), dtype=bool)
    with pytest.raises(InvalidParameterError, match="crop_to_pixels"):
        paste_back(frame, np.zeros((16, 16, 3), np.uint16), window, region)
    with pytest.raises(InvalidParameterError, match="region mask"):
        paste_back(frame, np.zeros((16, 16, 3), np.uint8), window, region[:8])
    with pytest.raises(InvalidParameterError, match="feather"):
        paste_back(frame, np.zeros((16, 16, 3), np.uint8), window, region, feather=-1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_identity_round_trip_through_ffv1_keeps_every_pixel_outside_the_blend_region(tmp_path, dtype):
    """Decode -> crop -> identity generator -> paste-back -> FFV1 -> decode: outside the region, bit-exact."""
    width, height, size = 128, 112, 64
    peak = np.iinfo(dtype).max
    clip = make_test_clip(
        tmp_path / "source.mkv",
        width=width,
        height=height,
        frame_count=4,
        frames=lambda i: smooth_texture(i, width, height, dtype=dtype),
    )
    info = probe(clip)
    # A face drifting right and growing: the crops are downscaled (faces larger than the crop) and shift by
    # fractions of a pixel, the hard case for exactness.
    faces = np.stack([synthetic_face(60 + 1.3 * i, 40 + 0.7 * i, 24 + i) for i in range(4)])
    windows = crop_windows(faces, output_size=size, smoothing=0)
    sources = list(read_frames(clip, high_bit_depth=True))
    assert sources[0].dtype == dtype
    output = tmp_path / "render.mkv"
    regions = []
    with VideoWriter(output, like=info, codec="ffv1") as writer:
        for source, window, face in zip(sources, windows, faces, strict=True):
            crop = warp_to_crop(source, window)
            region = leakproof_mask(window.to_crop(face), size)
            regions.append(region)
            writer.write(paste_back(source, crop, window, region))
    for source, written, window, region in zip(
        sources, read_frames(output, high_bit_depth=True), windows, regions, strict=True
    ):
        changed = blend_region(source.shape, window, region)
        assert 800 < changed.sum() < 0.5 * changed.size
        np.testing.assert_array_equal(written[~changed], source[~changed])
        assert psnr(written[changed], source[changed], peak) > 38
