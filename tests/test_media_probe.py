"""probe(): exact values on the real test clip and on synthetic clips written with known properties, plus bad input."""

import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import pytest
from media_fixtures import make_test_clip

from keydub.core.errors import MediaNotFoundError, UnsupportedMediaError
from keydub.core.media import MediaInfo, probe, read_frames, require_constant_frame_rate, snap_frame_rate


NTSC_24 = Fraction(24000, 1001)
NTSC_30 = Fraction(30000, 1001)
NTSC_60 = Fraction(60000, 1001)

# (rate, written timecode, its frame number computed by hand)
RATES = [
    (NTSC_24, "01:00:00:00", 86400),
    (NTSC_30, "01:00:00:00", 108000),
    (NTSC_30, "01:00:00;00", 107892),
    (Fraction(25), "01:00:00:00", 90000),
    (Fraction(50), "00:59:59:49", 179999),
    (NTSC_60, "01:00:00;00", 215784),
]
CONTAINERS = [("h264", ".mp4"), ("prores", ".mov"), ("ffv1", ".mkv")]


def test_real_clip_values_are_exact(talking_clip: Path) -> None:
    info = probe(talking_clip)
    assert info.frame_rate == Fraction(25) and isinstance(info.frame_rate, Fraction)
    assert (info.width, info.height) == (1080, 1920)
    # Independent count: the video packets in the file.
    with av.open(str(talking_clip)) as container:
        packets = sum(1 for packet in container.demux(video=0) if packet.size)
    assert info.frame_count == packets == 250
    assert info.duration == 10
    assert info.video_codec == "hevc" and info.pix_fmt == "yuv420p" and info.bit_depth == 8
    assert (info.color_primaries, info.color_transfer, info.color_matrix, info.color_range) == (
        "bt709",
        "bt709",
        "bt709",
        "tv",
    )
    assert info.rotation == 0 and not info.is_vfr
    assert info.start_timecode is None and info.start_frame == 0 and info.start_time == 0
    assert len(info.audio_streams) == 1
    audio = info.audio_streams[0]
    assert (audio.index, audio.codec, audio.sample_rate, audio.channels) == (1, "aac", 44100, 2)
    assert audio.layout == "stereo"
    assert audio.duration == Fraction(441353, 44100)


@pytest.mark.parametrize(("codec", "suffix"), CONTAINERS)
@pytest.mark.parametrize(("rate", "timecode", "start_frame"), RATES)
def test_synthetic_rates_and_timecodes_are_exact(
    tmp_path: Path, codec: str, suffix: str, rate: Fraction, timecode: str, start_frame: int
) -> None:
    path = make_test_clip(tmp_path / f"clip{suffix}", codec=codec, frame_rate=rate, frame_count=11, timecode=timecode)
    info = probe(path)
    assert info.frame_rate == rate
    assert info.frame_count == 11
    assert info.duration == 11 / rate
    assert info.start_timecode == timecode
    assert info.start_frame == start_frame
    assert info.is_drop_frame is (";" in timecode)
    assert not info.is_vfr
    assert (info.width, info.height) == (64, 48)
    assert info.timecode_at(0) == timecode


@pytest.mark.parametrize(
    ("codec", "suffix", "pix_fmt", "bit_depth"),
    [
        ("prores", ".mov", "yuv422p10le", 10),
        ("ffv1", ".mkv", "bgr0", 8),
        ("h264", ".mp4", "yuv444p", 8),
    ],
)
def test_odd_sizes_are_reported_exactly(tmp_path: Path, codec: str, suffix: str, pix_fmt: str, bit_depth: int) -> None:
    path = make_test_clip(
        tmp_path / f"odd{suffix}", codec=codec, pix_fmt=pix_fmt, width=321, height=241, frame_count=3
    )
    info = probe(path)
    assert (info.width, info.height, info.pix_fmt, info.bit_depth) == (321, 241, pix_fmt, bit_depth)


def test_colour_tags_rotation_and_drop_frame_flag(tmp_path: Path) -> None:
    # BT.2020 primaries, PQ transfer, BT.2020 non-constant matrix, full range: FFmpeg codes 9, 16, 9, 2.
    path = make_test_clip(
        tmp_path / "hdr.mp4",
        codec="h264",
        frame_rate=NTSC_30,
        timecode="00:10:00:00",
        drop_frame=True,
        colour_codes=(9, 16, 9, 2),
        rotation=270,
    )
    info = probe(path)
    assert (info.color_primaries, info.color_transfer, info.color_matrix, info.color_range) == (
        "bt2020",
        "smpte2084",
        "bt2020nc",
        "pc",
    )
    assert info.rotation == 270
    assert info.start_timecode == "00:10:00;00" and info.is_drop_frame and info.start_frame == 17982


def test_audio_streams_are_listed(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "sound.mov", frame_count=10, codec="prores", audio_rate=48000, audio_channels=2)
    (audio,) = probe(path).audio_streams
    assert (audio.index, audio.codec, audio.sample_rate, audio.channels) == (1, "pcm_s16le", 48000, 2)
    assert audio.duration == Fraction(10, 25)


def test_to_dict_is_json_and_round_trips(tmp_path: Path) -> None:
    info = probe(make_test_clip(tmp_path / "a.mp4", codec="h264", frame_rate=NTSC_24, audio_rate=44100))
    data = json.loads(json.dumps(info.to_dict()))
    assert data["frame_rate"] == "24000/1001" and data["duration"] == str(12 / NTSC_24)
    assert MediaInfo.from_dict(data) == info


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_is_detected_and_refused_with_the_fix(tmp_path: Path, suffix: str) -> None:
    path = make_test_clip(tmp_path / f"phone{suffix}", codec="h264", vfr=True, frame_count=12)
    info = probe(path)
    assert info.is_vfr and info.frame_count == 12
    with pytest.raises(UnsupportedMediaError, match=r"variable frame rate.*-fps_mode cfr -r 25 .*allow_vfr=True"):
        require_constant_frame_rate(info)
    with pytest.raises(UnsupportedMediaError, match="variable frame rate"):
        next(read_frames(path))


def test_constant_rate_with_container_rounding_is_not_vfr(tmp_path: Path) -> None:
    # Matroska stores 1 ms ticks: 59.94 fps frames land on 0, 17, 33, 50, ... ms.
    path = make_test_clip(tmp_path / "round.mkv", frame_rate=NTSC_60, frame_count=30)
    with av.open(str(path)) as container:
        ticks = sorted(packet.pts for packet in container.demux(video=0) if packet.size)
    assert ticks[:4] == [0, 17, 33, 50]
    info = probe(path)
    assert not info.is_vfr and info.frame_rate == NTSC_60


@pytest.mark.parametrize(
    ("declared", "exact"),
    [
        (Fraction(2997, 100), NTSC_30),
        (Fraction(19001, 317), NTSC_60),
        (Fraction(23976, 1000), NTSC_24),
        (Fraction(25), Fraction(25)),
        (Fraction(30), Fraction(30)),
        (Fraction(25, 2), Fraction(25, 2)),
    ],
)
def test_snap_frame_rate(declared: Fraction, exact: Fraction) -> None:
    assert snap_frame_rate(declared) == exact


# Bad input ---------------------------------------------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError, match="missing.mov does not exist"):
        probe(tmp_path / "missing.mov")


def test_folder(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaError, match="is a folder"):
        probe(tmp_path)


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.mov"
    path.write_text("not a video\n" * 100)
    with pytest.raises(UnsupportedMediaError, match="notes.mov is not a media file"):
        probe(path)


def test_audio_only_file(dub_speech: Path) -> None:
    with pytest.raises(UnsupportedMediaError, match="has no video stream"):
        probe(dub_speech)


def test_video_stream_without_frames(tmp_path: Path) -> None:
    path = tmp_path / "empty.mkv"
    with av.open(str(path), "w") as container:
        video = container.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "bgr0"
        audio = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame(format="s16", layout="mono", samples=800)
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(audio.encode(frame))
        container.mux(audio.encode())
    with pytest.raises(UnsupportedMediaError, match="has a video stream with no frames"):
        probe(path)


def test_mp4_cut_in_half_is_refused(tmp_path: Path) -> None:
    # FFmpeg puts the index (moov) at the end: half a file has no index at all.
    path = make_test_clip(tmp_path / "cut.mp4", codec="h264", frame_count=30, frames="noise")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UnsupportedMediaError, match="cut.mp4 is not a media file Keydub can read"):
        probe(path)


def test_faststart_mp4_cut_in_half_is_detected_from_its_index(tmp_path: Path) -> None:
    # With the index first, the file opens but its index points past the end.
    path = make_test_clip(tmp_path / "cut.mp4", codec="h264", frame_count=30, frames="noise", faststart=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UnsupportedMediaError, match="cut.mp4 is truncated: its index lists 30 frames"):
        probe(path)


def test_source_is_not_modified(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "clip.mov", codec="prores", audio_rate=48000)
    before = path.read_bytes()
    copy = shutil.copy2(path, tmp_path / "copy.mov")
    probe(path)
    list(read_frames(path))
    assert path.read_bytes() == before and Path(copy).stat().st_mtime == path.stat().st_mtime
