"""VideoWriter: round trips keep count, rate, timecode, tags and pixels; audio fits the picture; writes are atomic."""

import dataclasses
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media_fixtures import make_test_clip, noise_pattern, read_index

from keydub.core.errors import InvalidParameterError, OutputExistsError, OutputNotWritableError
from keydub.core.media import (
    AudioSpec,
    BackgroundWriter,
    FrameReader,
    MediaInfo,
    VideoWriter,
    load_audio,
    probe,
    read_frames,
)


NTSC_24 = Fraction(24000, 1001)
NTSC_30 = Fraction(30000, 1001)


def copy_clip(
    source: Path,
    target: Path,
    *,
    codec: str,
    start: int = 0,
    end: int | None = None,
    audio: AudioSpec | None = None,
    high_bit_depth: bool = False,
) -> MediaInfo:
    """Decode `source[start:end]` and encode it to `target`; returns the probe of the result."""
    info = probe(source)
    with VideoWriter(target, like=info, codec=codec, audio=audio, first_source_frame=start) as writer:
        for frame in read_frames(source, start, end, high_bit_depth=high_bit_depth):
            writer.write(frame)
    return probe(target)


def files_in(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize(
    ("codec", "suffix"), [("prores", ".mov"), ("h264", ".mp4"), ("h264", ".mov"), ("ffv1", ".mkv")]
)
@pytest.mark.parametrize(
    ("rate", "timecode", "expected_timecode"),
    [
        (NTSC_24, "01:00:00:00", "01:00:00:04"),
        (NTSC_30, "00:00:59;28", "00:01:00;04"),  # crosses the dropped labels ;00 and ;01
        (Fraction(25), "10:00:00:00", "10:00:00:04"),
    ],
)
def test_round_trip_keeps_count_rate_timecode_and_frames(
    tmp_path: Path, codec: str, suffix: str, rate: Fraction, timecode: str, expected_timecode: str
) -> None:
    source = make_test_clip(
        tmp_path / "source.mov", codec="prores", frame_rate=rate, timecode=timecode, frame_count=16
    )
    result = copy_clip(source, tmp_path / f"render{suffix}", codec=codec, start=4, end=14)
    assert result.frame_count == 10
    assert result.frame_rate == rate
    assert result.start_timecode == expected_timecode
    assert result.is_drop_frame is (";" in timecode)
    assert [read_index(frame) for frame in read_frames(result.path)] == list(range(4, 14))
    assert files_in(tmp_path) == sorted(["source.mov", f"render{suffix}"])
    if suffix in (".mov", ".mp4"):
        # The timecode is a real QuickTime timecode track, which editors read, not only a metadata tag.
        with av.open(str(result.path)) as container:
            tracks = [stream.metadata.get("timecode") for stream in container.streams.data]
        assert tracks == [expected_timecode] and b"tmcd" in result.path.read_bytes()


def test_ffv1_round_trip_is_bit_exact_at_8_bits(tmp_path: Path) -> None:
    source = make_test_clip(tmp_path / "noise.mkv", codec="ffv1", frames="noise", frame_count=5)
    result = copy_clip(source, tmp_path / "copy.mkv", codec="ffv1")
    assert result.pix_fmt == "bgr0"
    for index, frame in enumerate(read_frames(result.path)):
        assert np.array_equal(frame, noise_pattern(index, 64, 48))


def test_ffv1_round_trip_is_bit_exact_at_16_bits(tmp_path: Path) -> None:
    source = make_test_clip(tmp_path / "noise16.mkv", codec="ffv1", frames="noise16", frame_count=3)
    result = copy_clip(source, tmp_path / "copy.mkv", codec="ffv1", high_bit_depth=True)
    assert result.pix_fmt == "gbrp16le" and result.bit_depth == 16
    for index, frame in enumerate(read_frames(result.path, high_bit_depth=True)):
        assert frame.dtype == np.uint16 and np.array_equal(frame, noise_pattern(index, 64, 48, dtype=np.uint16))


def test_odd_size_survives_prores_and_ffv1_and_is_refused_by_h264(tmp_path: Path) -> None:
    source = make_test_clip(tmp_path / "odd.mkv", codec="ffv1", width=321, height=241, frame_count=3)
    for codec, suffix in (("prores", ".mov"), ("ffv1", ".mkv")):
        result = copy_clip(source, tmp_path / f"copy{suffix}", codec=codec)
        assert (result.width, result.height, result.frame_count) == (321, 241, 3)
        assert [read_index(frame) for frame in read_frames(result.path)] == [0, 1, 2]
    with pytest.raises(InvalidParameterError, match="needs an even width and height, but the clip is 321x241"):
        VideoWriter(tmp_path / "copy.mp4", like=probe(source), codec="h264")
    assert "copy.mp4" not in files_in(tmp_path)


def test_colour_tags_rotation_and_pixel_values_carry_over(tmp_path: Path) -> None:
    source = make_test_clip(
        tmp_path / "tagged.mp4", codec="h264", colour_codes=(1, 1, 1, 1), rotation=90, frames="noise", frame_count=3
    )
    for codec, suffix in (("prores", ".mov"), ("h264", ".mp4")):
        result = copy_clip(source, tmp_path / f"copy{suffix}", codec=codec)
        tags = (result.color_primaries, result.color_transfer, result.color_matrix, result.color_range)
        assert tags == ("bt709", "bt709", "bt709", "tv") and result.rotation == 90
    ffv1 = copy_clip(source, tmp_path / "copy.mkv", codec="ffv1")
    assert (ffv1.color_primaries, ffv1.color_transfer, ffv1.rotation) == ("bt709", "bt709", 90)


def test_pixel_aspect_is_kept_or_refused(tmp_path: Path) -> None:
    source = make_test_clip(tmp_path / "square.mov", codec="prores", frame_count=2)
    anamorphic = dataclasses.replace(probe(source), pixel_aspect=Fraction(4, 3))
    for codec, suffix in (("prores", ".mov"), ("h264", ".mp4")):
        with VideoWriter(tmp_path / f"wide{suffix}", like=anamorphic, codec=codec) as writer:
            for frame in read_frames(source):
                writer.write(frame)
        assert probe(tmp_path / f"wide{suffix}").pixel_aspect == Fraction(4, 3)
    with pytest.raises(InvalidParameterError, match="cannot record the clip's 4/3 pixel aspect ratio"):
        VideoWriter(tmp_path / "wide.mkv", like=anamorphic, codec="ffv1")


def test_real_clip_through_prores_keeps_its_pixels(tmp_path: Path, talking_clip: Path) -> None:
    # Decode with the source's matrix, encode with the same: pixels outside any edit must not drift.
    result = copy_clip(talking_clip, tmp_path / "talking.mov", codec="prores", end=2)
    assert (result.width, result.height, result.frame_count, result.frame_rate) == (1080, 1920, 2, 25)
    with FrameReader(talking_clip) as source, FrameReader(result.path) as copy:
        before, after = source.frame(1).astype(int), copy.frame(1).astype(int)
    error = np.abs(after - before)
    assert error.mean() < 0.5 and np.percentile(error, 99.9) <= 3


def test_given_mono_audio_is_padded_to_the_picture(tmp_path: Path) -> None:
    source = make_test_clip(tmp_path / "source.mov", codec="prores", frame_rate=NTSC_24, frame_count=12)
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(4000) / 16000)).astype(np.float32)  # 0.25 s of 0.5 s
    result = copy_clip(source, tmp_path / "dub.mov", codec="prores", audio=AudioSpec.from_samples(tone, 16000))
    (audio,) = result.audio_streams
    assert (audio.codec, audio.sample_rate, audio.channels) == ("pcm_s24le", 16000, 1)
    written = load_audio(result.path, 16000)
    assert written.size == round(12 / NTSC_24 * 16000) == 8008
    assert np.abs(written[:4000] - tone).max() < 1e-6  # 24-bit PCM
    assert not written[4000:].any()


def test_given_stereo_audio_is_cut_to_the_picture_in_aac(tmp_path: Path) -> None:
    source = make_test_clip(tmp_path / "source.mov", codec="prores", frame_rate=NTSC_30, frame_count=15)
    times = np.arange(48000) / 48000
    stereo = np.stack([np.sin(2 * np.pi * 440 * times), np.zeros_like(times)], axis=1).astype(np.float32) * 0.5
    result = copy_clip(source, tmp_path / "dub.mp4", codec="h264", audio=AudioSpec.from_samples(stereo, 48000))
    (audio,) = result.audio_streams
    assert (audio.codec, audio.channels) == ("aac", 2)
    assert audio.duration == 15 / NTSC_30  # exact: the edit list is in a timescale that counts both
    written = load_audio(result.path, 48000)
    assert written.size == round(15 / NTSC_30 * 48000) == 24024
    projection = 2 * np.mean(written[2000:] * np.exp(-2j * np.pi * 440 * times[2000:24024]))
    assert abs(projection) == pytest.approx(0.25, abs=0.01) and abs(np.angle(projection * 1j)) < 0.02


def test_source_audio_is_copied_from_the_first_rendered_frame(tmp_path: Path) -> None:
    source = make_test_clip(
        tmp_path / "source.mov", codec="prores", frame_count=25, audio_rate=48000, audio_channels=2
    )
    info = probe(source)
    spec = AudioSpec.from_file(source, start=info.frame_time(10))
    result = copy_clip(source, tmp_path / "render.mov", codec="prores", start=10, end=20, audio=spec)
    (audio,) = result.audio_streams
    assert (audio.sample_rate, audio.channels) == (48000, 2)
    written = load_audio(result.path, 48000)
    original = load_audio(source, 48000, info.frame_time(10), Fraction(10, 25))
    assert written.size == original.size == 19200
    assert np.abs(written - original).max() < 1e-6


def test_a_wav_dub_without_a_channel_mask_is_written_to_aac_as_mono(tmp_path: Path) -> None:
    # The standard library's wave module writes no channel mask: FFmpeg reads an unordered "1 channels" layout,
    # which the AAC encoder refuses unless it is named.
    import wave

    samples = (np.sin(2 * np.pi * 330 * np.arange(16000) / 16000) * 12000).astype("<i2")
    with wave.open(str(tmp_path / "dub.wav"), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(16000)
        stream.writeframes(samples.tobytes())
    source = make_test_clip(tmp_path / "source.mov", codec="h264", frame_count=10)
    result = copy_clip(source, tmp_path / "dub.mp4", codec="h264", audio=AudioSpec.from_file(tmp_path / "dub.wav"))
    (audio,) = result.audio_streams
    assert (audio.codec, audio.channels, audio.layout) == ("aac", 1, "mono")
    written = load_audio(result.path, 16000)
    assert written.size == 6400 and np.abs(written[2000:6000] - samples[2000:6000] / 32768).max() < 0.05


# Atomic writes and refusals ----------------------------------------------------------------------------------
@pytest.fixture
def small_clip(tmp_path: Path) -> MediaInfo:
    return probe(make_test_clip(tmp_path / "source.mkv", frame_count=5, audio_rate=8000))


@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_an_exception_mid_write_leaves_no_file(
    tmp_path: Path, small_clip: MediaInfo, interruption: type[BaseException]
) -> None:
    with pytest.raises(interruption):
        with VideoWriter(tmp_path / "out.mov", like=small_clip, audio=AudioSpec.from_file(small_clip.path)) as writer:
            for index, frame in enumerate(read_frames(small_clip.path)):
                writer.write(frame)
                assert len(list(tmp_path.glob(".out~*.partial.mov"))) == 1
                if index == 2:
                    raise interruption()
    assert files_in(tmp_path) == ["source.mkv"]


def test_a_bad_frame_leaves_no_file(tmp_path: Path, small_clip: MediaInfo) -> None:
    with pytest.raises(InvalidParameterError, match=r"frame 0 is float32 \(48, 64, 3\).*uint8 or uint16"):
        with VideoWriter(tmp_path / "out.mov", like=small_clip) as writer:
            writer.write(np.zeros((48, 64, 3), dtype=np.float32))
    assert files_in(tmp_path) == ["source.mkv"]


def test_no_frames_is_refused(tmp_path: Path, small_clip: MediaInfo) -> None:
    with pytest.raises(InvalidParameterError, match="no frames were written to out.mov"):
        with VideoWriter(tmp_path / "out.mov", like=small_clip):
            pass
    assert files_in(tmp_path) == ["source.mkv"]


def test_existing_target_is_refused_and_kept(tmp_path: Path, small_clip: MediaInfo) -> None:
    target = tmp_path / "out.mov"
    target.write_bytes(b"an earlier render")
    with pytest.raises(OutputExistsError, match="out.mov already exists"):
        VideoWriter(target, like=small_clip)
    assert target.read_bytes() == b"an earlier render"
    with VideoWriter(target, like=small_clip, overwrite=True) as writer:
        writer.write(next(read_frames(small_clip.path)))
    assert probe(target).frame_count == 1 and files_in(tmp_path) == ["out.mov", "source.mkv"]


def test_target_created_during_the_render_is_not_replaced(tmp_path: Path, small_clip: MediaInfo) -> None:
    target = tmp_path / "out.mov"
    with pytest.raises(OutputExistsError, match="appeared while it was being rendered"):
        with VideoWriter(target, like=small_clip) as writer:
            writer.write(next(read_frames(small_clip.path)))
            target.write_bytes(b"someone else's file")
    assert target.read_bytes() == b"someone else's file" and files_in(tmp_path) == ["out.mov", "source.mkv"]


def test_writing_onto_the_source_is_refused_even_with_overwrite(small_clip: MediaInfo) -> None:
    with pytest.raises(InvalidParameterError, match="is also the source clip input"):
        VideoWriter(small_clip.path, like=small_clip, codec="ffv1", overwrite=True)
    assert probe(small_clip.path).frame_count == 5


def test_missing_folder(tmp_path: Path, small_clip: MediaInfo) -> None:
    with pytest.raises(OutputNotWritableError, match="does not exist; create it first"):
        VideoWriter(tmp_path / "renders" / "out.mov", like=small_clip)


@pytest.mark.parametrize(
    ("codec", "name", "needle"),
    [
        ("ffv1", "out.mov", "ffv1 cannot be written to a .mov file"),
        ("prores", "out.mp4", "use .mov or .mkv"),
        ("dnxhd", "out.mov", "unknown codec 'dnxhd'; choose one of prores, h264, ffv1"),
    ],
)
def test_codec_and_container_must_fit(
    tmp_path: Path, small_clip: MediaInfo, codec: str, name: str, needle: str
) -> None:
    with pytest.raises(InvalidParameterError, match=needle):
        VideoWriter(tmp_path / name, like=small_clip, codec=codec)
    assert files_in(tmp_path) == ["source.mkv"]


def test_audio_spec_needs_exactly_one_source() -> None:
    with pytest.raises(InvalidParameterError, match="either samples"):
        AudioSpec()
    with pytest.raises(InvalidParameterError, match="positive sample_rate"):
        AudioSpec(samples=np.zeros(10, dtype=np.float32))


# Encoding on a worker thread ---------------------------------------------------------------------------------
def test_background_writer_writes_every_frame_in_order(tmp_path: Path) -> None:
    source = probe(make_test_clip(tmp_path / "source.mkv", frame_count=12, frames="noise"))
    with VideoWriter(tmp_path / "out.mkv", like=source, codec="ffv1") as writer, BackgroundWriter(writer) as encoder:
        for frame in read_frames(source.path):
            encoder.write(frame)
    assert writer.frames_written == 12 and encoder.encode_seconds > 0
    for original, written in zip(read_frames(source.path), read_frames(tmp_path / "out.mkv"), strict=True):
        assert np.array_equal(original, written)


def test_background_writer_reports_an_encoding_error_and_leaves_no_file(tmp_path: Path, small_clip: MediaInfo) -> None:
    with pytest.raises(InvalidParameterError, match="frame 1 is uint8 \\(10, 10, 3\\)"):
        with VideoWriter(tmp_path / "out.mov", like=small_clip) as writer, BackgroundWriter(writer) as encoder:
            frames = read_frames(small_clip.path)
            encoder.write(next(frames))
            encoder.write(np.zeros((10, 10, 3), dtype=np.uint8))
            for frame in frames:
                encoder.write(frame)
    assert files_in(tmp_path) == ["source.mkv"]


def test_background_writer_interrupted_leaves_no_file(tmp_path: Path, small_clip: MediaInfo) -> None:
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(tmp_path / "out.mov", like=small_clip) as writer, BackgroundWriter(writer) as encoder:
            for index, frame in enumerate(read_frames(small_clip.path)):
                encoder.write(frame)
                if index == 2:
                    raise KeyboardInterrupt
    assert files_in(tmp_path) == ["source.mkv"]
