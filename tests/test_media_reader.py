"""Frame-exact reading: frame i is frame i after any seek, exact counts, bit depths, range and truncation errors."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media_fixtures import make_test_clip, noise_pattern, read_index

from keydub.core.errors import InvalidParameterError, UnsupportedMediaError
from keydub.core.media import FrameReader, probe, read_frames
from keydub.core.media.cursor import SKIP_MARGIN_FRAMES
from keydub.core.media.keyframes import build_keyframe_index


RANGES = [(0, 30), (17, 23), (29, 30), (5, 6), (12, 20), (0, 1), (23, 24)]


@pytest.mark.parametrize(
    ("codec", "suffix", "gop"),
    [
        ("h264", ".mp4", 30),  # one keyframe: every read decodes from frame 0, through B-frame reordering
        ("h264", ".mp4", 8),  # seeks land on the keyframe before the wanted frame
        ("h264", ".mkv", 8),
        ("prores", ".mov", None),
        ("ffv1", ".mkv", None),
    ],
)
def test_frame_i_is_frame_i_after_any_seek(tmp_path: Path, codec: str, suffix: str, gop: int | None) -> None:
    path = make_test_clip(
        tmp_path / f"clip{suffix}", codec=codec, frame_count=30, gop=gop, frame_rate=Fraction(30000, 1001)
    )
    with FrameReader(path) as reader:
        for start, end in RANGES:
            frames = list(reader.read(start, end))
            assert [read_index(frame) for frame in frames] == list(range(start, end))
            assert all(frame.shape == (48, 64, 3) and frame.dtype == np.uint8 for frame in frames)
        assert read_index(reader.frame(21)) == 21


def test_frames_far_past_the_keyframe_are_exact_with_non_reference_frames_skipped(tmp_path: Path) -> None:
    # One keyframe for 120 frames of B-frame H.264: a read at frame 100 skips the non-reference frames before
    # frame 100 - SKIP_MARGIN_FRAMES, and every frame it returns must be the one a read from the start gives.
    path = make_test_clip(tmp_path / "long.mp4", codec="h264", frame_count=120, gop=120)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        decoded = sum(1 for packet in container.demux(stream) for _ in stream.decode(packet))
    assert decoded < 100, "the clip has non-reference frames to skip"
    assert 100 - SKIP_MARGIN_FRAMES > 40, "a read at frame 100 skips some of them"
    whole = list(read_frames(path))
    with FrameReader(path) as reader:
        for start, end in [(100, 104), (70, 71), (119, 120), (40, 45)]:
            frames = list(reader.read(start, end))
            assert all(np.array_equal(a, b) for a, b in zip(frames, whole[start:end], strict=True))


def test_long_gop_seek_really_starts_at_a_later_keyframe(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "gop.mp4", codec="h264", frame_count=30, gop=8)
    with av.open(str(path)) as container:
        keyframes = [packet.pts for packet in container.demux(video=0) if packet.is_keyframe]
    assert len(keyframes) >= 3  # so reading frame 20 exercises a mid-clip seek
    assert [read_index(frame) for frame in read_frames(path, 20, 25)] == [20, 21, 22, 23, 24]


def keyframes_from_packets(path: Path) -> list[int]:
    """Frame indices of the keyframe packets, read here with PyAV alone."""
    info = probe(path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(
            round((packet.pts * stream.time_base - info.start_time) * info.frame_rate)
            for packet in container.demux(stream)
            if packet.is_keyframe and packet.pts is not None
        )


def test_the_keyframe_index_holds_the_keyframe_packets(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "gop.mp4", codec="h264", frame_count=30, gop=8)
    keyframes = keyframes_from_packets(path)
    assert len(keyframes) >= 3 and keyframes[0] == 0
    index = build_keyframe_index(path, probe(path))
    assert list(index.frames) == keyframes
    assert index.keyframe_before(keyframes[1]) == keyframes[1]
    assert index.keyframe_before(keyframes[1] - 1) == 0
    assert index.keyframe_before(29) == keyframes[-1]


def test_a_jump_after_an_open_decoder_continues_it_and_frames_stay_exact(tmp_path: Path) -> None:
    # 120 frames of B-frame H.264 with a 120-frame GOP (the encoder adds a keyframe at scene changes): the jumps
    # below all fall in the last GOP, where a seek decodes from its keyframe `base`.
    path = make_test_clip(tmp_path / "long.mp4", codec="h264", frame_count=120, gop=120)
    whole = list(read_frames(path))
    with FrameReader(path, decoders=3) as reader:
        index = reader.keyframe_index(timeout=10)
        assert list(index.frames) == keyframes_from_packets(path)
        base = index.frames[-1]
        assert base + 46 < 120
        # (frame, seeks so far): +36 and +16 open two decoders; +41 and +21 go on from them (no keyframe between);
        # +6 opens the third; +2 is before all three, so the oldest (standing at +42) seeks; +46 continues the one
        # standing furthest on before it (+22), +4 the one left at +3.
        jumps = [(36, 1), (16, 2), (41, 2), (21, 2), (6, 3), (2, 4), (46, 4), (4, 4)]
        for offset, seeks in jumps:
            assert np.array_equal(reader.frame(base + offset), whole[base + offset]), offset
            assert reader.seek_count == seeks, offset
        frames = list(reader.read(base + 11, base + 19))  # the decoder left at +7 goes on, into a range
        assert reader.seek_count == 4
        assert all(np.array_equal(a, b) for a, b in zip(frames, whole[base + 11 : base + 19], strict=True))


def test_a_decoder_before_the_keyframe_of_a_jump_is_not_continued(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "gop.mp4", codec="h264", frame_count=30, gop=8)
    second, third = keyframes_from_packets(path)[1:3]
    with FrameReader(path, decoders=2) as reader:
        reader.keyframe_index(timeout=10)
        # (frame, seeks so far): the first decoder stops just before keyframe `second`, so a jump past that
        # keyframe seeks (landing on the keyframe decodes less), even with a decoder free to continue.
        jumps = [(second - 2, 1), (third + 1, 2), (second + 1, 3), (second + 3, 3), (third + 3, 3)]
        for frame, seeks in jumps:
            assert read_index(reader.frame(frame)) == frame
            assert reader.seek_count == seeks, frame


def test_stepping_frame_by_frame_decodes_on_without_seeking(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "long.mp4", codec="h264", frame_count=60, gop=60)
    with FrameReader(path) as reader:  # one decoder, no keyframe index: the next frame still goes on
        abandoned = reader.read(30, 60)
        assert read_index(next(abandoned)) == 30
        del abandoned  # a read dropped half-way leaves its decoder where it stood
        assert [read_index(reader.frame(i)) for i in range(31, 41)] == list(range(31, 41))
        assert reader.seek_count == 1
        assert read_index(reader.frame(35)) == 35 and reader.seek_count == 2  # backwards: a seek


def test_an_intra_only_clip_is_not_indexed_and_reads_exactly(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "clip.mov", codec="prores", frame_count=12)
    with FrameReader(path, decoders=2) as reader:
        assert reader.keyframe_index(timeout=10) is None  # every frame is a keyframe: a seek lands on it
        assert [read_index(reader.frame(i)) for i in (7, 3, 4, 8, 11)] == [7, 3, 4, 8, 11]
        assert reader.seek_count == 3  # 4 and 8 go on from 3 and 7


def test_a_reader_without_decoders_is_refused(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "clip.mkv", codec="ffv1", frame_count=2)
    with pytest.raises(InvalidParameterError, match="at least 1 decoder, not 0"):
        FrameReader(path, decoders=0)


def test_real_clip_first_and_last_frames(talking_clip: Path) -> None:
    with av.open(str(talking_clip)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    with FrameReader(talking_clip) as reader:
        assert np.array_equal(reader.frame(0), first)
        last = list(reader.read(245))  # to the clip's end: exactly 5 frames
    assert len(last) == 5 and last[0].shape == (1920, 1080, 3)


def test_sixteen_bit_frames_come_back_exactly(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "deep.mkv", codec="ffv1", frames="noise16", frame_count=4)
    with FrameReader(path) as reader:
        deep = reader.frame(2, high_bit_depth=True)
        shallow = reader.frame(2)
    expected = noise_pattern(2, 64, 48, dtype=np.uint16)
    assert deep.dtype == np.uint16 and np.array_equal(deep, expected)
    assert shallow.dtype == np.uint8
    assert np.array_equal(shallow, ((expected.astype(np.uint32) + 128) // 257).astype(np.uint8))


def test_ten_bit_source_reads_on_the_full_16_bit_scale(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "ten.mov", codec="prores", frame_count=2)
    frame = next(read_frames(path, 1, 2, high_bit_depth=True))
    assert frame.dtype == np.uint16 and read_index(frame) == 1
    assert frame.max() > 65000 and frame.min() < 500  # white blocks near 65535, black near 0


def test_eight_bit_source_ignores_high_bit_depth(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "eight.mkv", codec="ffv1", frames="noise", frame_count=2)
    frame = next(read_frames(path, high_bit_depth=True))
    assert frame.dtype == np.uint8 and np.array_equal(frame, noise_pattern(0, 64, 48))


def test_rotation_is_reported_not_applied(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "turned.mov", codec="prores", rotation=90, frame_count=2)
    assert probe(path).rotation == 90
    assert next(read_frames(path)).shape == (48, 64, 3)


def test_variable_frame_rate_reads_in_presentation_order_when_allowed(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "vfr.mkv", vfr=True, frame_count=12)
    frames = list(read_frames(path, 3, 9, allow_vfr=True))
    assert [read_index(frame) for frame in frames] == [3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (5, 3), (0, 13), (12, 13)])
def test_range_outside_the_clip_is_refused_at_once(tmp_path: Path, start: int, end: int) -> None:
    path = make_test_clip(tmp_path / "clip.mkv", frame_count=12)
    with FrameReader(path) as reader, pytest.raises(InvalidParameterError, match=r"outside clip.mkv.*\[0, 12\)"):
        reader.read(start, end)


def test_empty_range_yields_nothing(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "clip.mkv", frame_count=12)
    assert list(read_frames(path, 4, 4)) == []


@pytest.mark.parametrize(("codec", "suffix"), [("ffv1", ".mkv"), ("h264", ".mov")])
def test_truncated_file_stops_early_and_is_reported(tmp_path: Path, codec: str, suffix: str) -> None:
    # Probed while complete, cut before reading (a copy still running, a network drive dropping out).
    path = make_test_clip(tmp_path / f"clip{suffix}", codec=codec, frame_count=20, frames="noise", faststart=True)
    info = probe(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    with pytest.raises(UnsupportedMediaError, match=r"ended at frame \d+ while 20 frames were probed"):
        list(read_frames(path, info=info))
    second = next(read_frames(path, 1, 2, info=info))
    with FrameReader(path, info=info, decoders=2) as reader:
        with pytest.raises(UnsupportedMediaError, match="ended at frame"):
            reader.frame(19)
        # The reader recovers: the next read seeks (the decoder that ran into the end stands nowhere) and is exact.
        assert np.array_equal(reader.frame(1), second) and reader.seek_count == 2
