"""A render's short face segments share generation rounds when the U-Net batch size allows, and the picture equals
the one-segment-at-a-time render up to float rounding."""

import numpy as np
import pytest
from media_fixtures import make_test_clip
from test_flops import count_unet_frames
from test_render import FRAME_SIZE, changeable_pixels, drawn_face, request_for, write_wav
from tiny_models import save_tiny_weights

from keydub.core.media import read_frames
from keydub.core.model.pipeline import KeySyncPipeline
from keydub.core.progress import Stage
from keydub.core.render import render_clip
from keydub.core.render.path import segment_passes


OFFICIAL_STEPS = 11  # Euler steps of the official 10-step AYS schedule


def test_short_segments_join_a_pass_while_their_batches_fit_one_round():
    # Batches per segment: 1, 1, 3 (400 frames), 1, 1.
    segments = runs([10, 15, 400, 20, 20])
    assert segment_passes(segments, 3, 14) == [[0, 1], [2], [3, 4]]
    assert segment_passes(segments, 2, 14) == [[0, 1], [2], [3, 4]]
    assert segment_passes(segments, 1, 14) == [[0], [1], [2], [3], [4]]
    assert segment_passes(runs([157, 10]), 2, 14) == [[0, 1]]  # 157 frames are one batch (13 keyframes); 158 are two
    assert segment_passes(runs([158, 10]), 2, 14) == [[0], [1]]


def test_faces_on_the_same_frames_share_a_pass_whatever_their_length():
    # Two faces of one shot (400 and 300 frames, three batches each) and a later short segment of the first.
    segments = [(0, 400), (50, 350), (420, 440)]
    assert segment_passes(segments, 1, 14) == [[0, 1], [2]]
    assert segment_passes([(0, 10), (10, 20)], 1, 14) == [[0], [1]]  # touching is not overlapping


def runs(lengths: list[int]) -> list[tuple[int, int]]:
    """Back-to-back segments of these lengths, with a one-frame gap between them."""
    starts = [sum(lengths[:i]) + i for i in range(len(lengths))]
    return [(start, start + length) for start, length in zip(starts, lengths, strict=True)]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_tiny_weights(tmp_path_factory.mktemp("weights"), FRAME_SIZE)


@pytest.fixture(scope="module")
def two_segment_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_segments")
    clip = make_test_clip(folder / "source.mkv", width=96, height=80, frame_count=40, frames="noise")
    return clip, write_wav(folder / "dub.wav", 40 / 25)


def render(weights, clip, dub, output, unet_batch_size):
    pipe = KeySyncPipeline.from_pretrained(
        weights["keysync"], weights["vae"], weights["hubert"], weights["wavlm"], unet_batch_size=unet_batch_size
    )
    calls = count_unet_frames(pipe)
    events = []
    # The face is missing on frames 12-15: two segments, [0, 12) with one window and [16, 40) with two.
    render_clip(
        request_for(clip, dub, output),
        progress=events.append,
        pipeline=pipe,
        landmark_backend=drawn_face(40, missing=range(12, 16)),
    )
    return calls, events


def test_two_short_segments_render_in_one_round(tmp_path, weights, two_segment_clip):
    clip, dub = two_segment_clip
    apart, together = tmp_path / "apart.mkv", tmp_path / "together.mkv"
    apart_calls, _ = render(weights, clip, dub, apart, unet_batch_size=3)
    together_calls, events = render(weights, clip, dub, together, unet_batch_size=6)
    # One keyframe sampling per segment at 3 sequences per call; one for both at 6.
    assert apart_calls["keyframe"] == [3 * 14] * 2 * OFFICIAL_STEPS
    assert together_calls["keyframe"] == [6 * 14] * OFFICIAL_STEPS
    # Windows: 3 and 6 sequences per step apart; together their 9 sequences go in calls of 6 and 3.
    assert together_calls["interpolation"] == [6 * 14, 3 * 14] * OFFICIAL_STEPS
    steps = [(e.done, e.total) for e in events if e.stage == Stage.INTERPOLATION]
    assert steps == [(i, OFFICIAL_STEPS) for i in range(1, OFFICIAL_STEPS + 1)]

    sources, first, second = (list(read_frames(path)) for path in (clip, apart, together))
    assert len(first) == len(second) == 40
    changeable = changeable_pixels(sources[0].shape)
    for offset, (source, a, b) in enumerate(zip(sources, first, second, strict=True)):
        # Outside the mouth, and on the frames without a face, both are the source's own pixels.
        assert np.array_equal(b[~changeable], source[~changeable])
        if offset in range(12, 16):
            assert np.array_equal(b, source)
        # Inside, the same picture up to the rounding of other batch sizes (8-bit code values).
        difference = np.abs(a.astype(int) - b.astype(int))
        assert difference.max() <= 2, offset
    generated = np.mean([np.abs(a.astype(int) - s.astype(int)).max() for a, s in zip(first, sources, strict=True)])
    assert generated > 10  # the mouth really was regenerated
