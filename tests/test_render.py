"""End-to-end renders with tiny random-initialised KeySync weights, saved and loaded the way users load them."""

import json
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from face_fixtures import DrawnFaceBackend, template_landmarks
from media_fixtures import make_test_clip
from tiny_models import save_tiny_weights, tiny_weight_flags, tiny_weight_options

from keydub.core.compositing.crop import blend_region, crop_windows
from keydub.core.compositing.masks import leakproof_mask
from keydub.core.errors import AudioError, MediaNotFoundError, NoFaceFoundError, OutputExistsError
from keydub.core.media import probe, read_frames
from keydub.core.model.pipeline import KeySyncPipeline
from keydub.core.render import RenderRequest, render_clip
from keydub.core.render.options import RenderOptions, option_specs


FRAME_SIZE = 64  # the tiny weights' crop size
WIDTH, HEIGHT = 96, 80
FACE = template_landmarks(48, 36, 36)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    return save_tiny_weights(tmp_path_factory.mktemp("weights"), FRAME_SIZE)


@pytest.fixture(scope="module")
def pipeline(weights) -> KeySyncPipeline:
    return KeySyncPipeline.from_pretrained(weights["keysync"], weights["vae"], weights["hubert"], weights["wavlm"])


def write_wav(path: Path, seconds: float, *, rate: int = 16000, channels: int = 1, frequency: float = 220.0) -> Path:
    """A 16-bit PCM WAV of a sine (silence when `frequency` is 0)."""
    times = np.arange(round(seconds * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * frequency * times) if frequency else np.zeros_like(times)
    samples = np.repeat((tone * 32767).astype("<i2")[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return path


def request_for(
    clip: Path, audio: Path, output: Path, weights: dict[str, Path] | None = None, **options
) -> RenderRequest:
    """A request on the CPU in float32 to FFV1 with dlib landmarks; `options` are request fields or render options."""
    sources = {} if weights is None else tiny_weight_options(weights)
    chosen = {"codec": "ffv1", "device": "cpu", "dtype": "float32", "landmark_backend": "dlib", **sources, **options}
    fields = {name: chosen.pop(name) for name in list(chosen) if name not in option_specs()}
    return RenderRequest(video=clip, audio=audio, output=output, options=RenderOptions(**chosen), **fields)


def drawn_face(frame_count: int, missing: range = range(0)) -> DrawnFaceBackend:
    return DrawnFaceBackend(lambda i: None if i in missing else FACE, (HEIGHT, WIDTH))


def changeable_pixels(frame_shape: tuple[int, ...]) -> np.ndarray:
    """Where a render of the drawn face may change pixels: the feathered mouth region, pasted back."""
    window = crop_windows(FACE[None].repeat(3, axis=0), output_size=FRAME_SIZE)[1]
    mask = leakproof_mask(window.to_crop(FACE), FRAME_SIZE)
    return blend_region(frame_shape, window, mask)


@pytest.mark.parametrize(
    ("rate", "timecode", "drop_frame"),
    [
        (Fraction(24000, 1001), "01:00:00:00", False),
        (Fraction(25), "10:00:00:00", False),
        (Fraction(30000, 1001), "01:00:00;00", True),
        (Fraction(50), "00:59:59:00", False),
    ],
)
def test_render_keeps_frames_rate_timecode_and_every_pixel_outside_the_mouth(
    rate, timecode, drop_frame, tmp_path, weights, pipeline
):
    clip = make_test_clip(
        tmp_path / "source.mkv",
        width=WIDTH,
        height=HEIGHT,
        frame_rate=rate,
        frame_count=31,
        frames="noise",
        timecode=timecode,
        drop_frame=drop_frame,
    )
    dub = write_wav(tmp_path / "dub.wav", 2.0)
    output = tmp_path / "out.mkv"

    result = render_clip(request_for(clip, dub, output, weights), pipeline=pipeline, landmark_backend=drawn_face(31))

    source_info, out_info = probe(clip), probe(output)
    assert result.frame_count == out_info.frame_count == 31
    assert out_info.frame_rate == rate
    assert out_info.start_timecode == source_info.start_timecode == timecode
    audio = out_info.audio_streams[0]
    # Within one audio frame (1024 samples): Matroska stores times in whole milliseconds.
    assert abs(audio.duration - Fraction(31) / rate) <= Fraction(1024, audio.sample_rate)
    region = changeable_pixels((HEIGHT, WIDTH, 3))
    changed = 0
    for source_frame, out_frame in zip(read_frames(clip), read_frames(output), strict=True):
        assert np.array_equal(source_frame[~region], out_frame[~region])
        changed += int((source_frame[region] != out_frame[region]).any())
    assert changed == 31  # the generator really wrote into every frame's mouth region
    assert result.report["frames"]["generated"] == 31 and not result.passed_through


def test_render_through_a_range_with_missing_faces_passes_them_through(tmp_path, pipeline):
    clip = make_test_clip(
        tmp_path / "source.mkv", width=WIDTH, height=HEIGHT, frame_count=40, frames="noise", timecode="01:00:00:00"
    )
    dub = write_wav(tmp_path / "dub.wav", 0.5)  # shorter than the range: padded with silence
    output = tmp_path / "out.mkv"
    report_path = tmp_path / "qc.json"
    # Range [5, 35): the face is missing on range frames 10-14 (a turned head), splitting it in two segments. The
    # whole clip is tracked (so track ids are the clip's): those are clip frames 15-19.
    request = request_for(clip, dub, output, start_frame=5, end_frame=35, report=report_path)

    result = render_clip(request, pipeline=pipeline, landmark_backend=drawn_face(40, missing=range(15, 20)))

    info = probe(output)
    assert info.frame_count == 30 and info.start_timecode == "01:00:00:05"
    assert result.passed_through == tuple((frame, "no face") for frame in range(15, 20))
    sources = list(read_frames(clip, 5, 35))
    outputs = list(read_frames(output))
    for offset in range(10, 15):
        assert np.array_equal(sources[offset], outputs[offset])
    report = json.loads(report_path.read_text())
    assert report == json.loads(json.dumps(result.report))
    assert report["face"]["segments"] == [[5, 15], [20, 35]]
    assert report["face"]["identity_frames"] == [5, 20]
    assert report["audio"]["padded_seconds"] == pytest.approx(30 / 25 - 0.5)
    assert len(report["mouth"]["mar"]) == 30 and report["mouth"]["mar"][12] is None
    assert set(report["timings_seconds"]) >= {"landmarks", "generate", "paste back", "encode"}


def test_render_of_a_ten_bit_portrait_odd_sized_clip_keeps_its_depth(tmp_path, pipeline):
    width, height = 81, 121
    face = template_landmarks(40, 60, 40)
    clip = make_test_clip(
        tmp_path / "source.mov", width=width, height=height, frame_count=15, codec="prores", frames="noise16"
    )
    dub = write_wav(tmp_path / "dub.wav", 1.0, rate=44100, channels=2)
    output = tmp_path / "out.mkv"

    render_clip(
        request_for(clip, dub, output),
        pipeline=pipeline,
        landmark_backend=DrawnFaceBackend(lambda i: face, (height, width)),
    )

    info = probe(output)
    assert (info.width, info.height, info.frame_count, info.bit_depth) == (width, height, 15, 16)
    first_source = next(read_frames(clip, high_bit_depth=True))
    first_output = next(read_frames(output, high_bit_depth=True))
    # Away from the face the picture is the source's (ProRes decode, written losslessly).
    assert np.array_equal(first_source[:20], first_output[:20])


def test_silent_dub_renders_and_says_so(tmp_path, pipeline):
    clip = make_test_clip(tmp_path / "source.mkv", width=WIDTH, height=HEIGHT, frame_count=14, frames="noise")
    dub = write_wav(tmp_path / "silence.wav", 1.0, frequency=0)
    result = render_clip(
        request_for(clip, dub, tmp_path / "out.mkv"), pipeline=pipeline, landmark_backend=drawn_face(14)
    )
    assert result.report["audio"]["is_silent"]
    assert any("silent" in note for note in result.report["notes"])


@pytest.fixture
def small_clip(tmp_path) -> Path:
    return make_test_clip(tmp_path / "source.mkv", width=WIDTH, height=HEIGHT, frame_count=14, frames="noise")


def test_missing_audio_is_a_clear_error_and_writes_nothing(tmp_path, small_clip, pipeline):
    output = tmp_path / "out.mkv"
    with pytest.raises(MediaNotFoundError, match="missing.wav"):
        render_clip(
            request_for(small_clip, tmp_path / "missing.wav", output),
            pipeline=pipeline,
            landmark_backend=drawn_face(14),
        )
    assert list(tmp_path.iterdir()) == [small_clip]


def test_unreadable_and_empty_audio_are_clear_errors(tmp_path, small_clip, pipeline):
    not_audio, face = tmp_path / "notes.wav", drawn_face(14)
    not_audio.write_text("this is not audio")
    with pytest.raises(Exception) as error:
        render_clip(request_for(small_clip, not_audio, tmp_path / "a.mkv"), pipeline=pipeline, landmark_backend=face)
    assert "notes.wav" in str(error.value) and type(error.value).__module__.startswith("keydub")
    empty = write_wav(tmp_path / "empty.wav", 0.0)
    with pytest.raises(AudioError, match="no samples"):
        render_clip(request_for(small_clip, empty, tmp_path / "b.mkv"), pipeline=pipeline, landmark_backend=face)
    assert not (tmp_path / "a.mkv").exists() and not (tmp_path / "b.mkv").exists()


def test_a_clip_with_no_face_is_an_error_before_any_output(tmp_path, small_clip, pipeline):
    dub = write_wav(tmp_path / "dub.wav", 1.0)
    with pytest.raises(NoFaceFoundError, match="no face"):
        render_clip(
            request_for(small_clip, dub, tmp_path / "out.mkv"),
            pipeline=pipeline,
            landmark_backend=DrawnFaceBackend(lambda i: None, (HEIGHT, WIDTH)),
        )
    assert not (tmp_path / "out.mkv").exists()


def test_existing_output_is_refused_and_kept(tmp_path, small_clip, pipeline):
    dub = write_wav(tmp_path / "dub.wav", 1.0)
    output = tmp_path / "out.mkv"
    output.write_bytes(b"an earlier render")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        render_clip(request_for(small_clip, dub, output), pipeline=pipeline, landmark_backend=drawn_face(14))
    assert output.read_bytes() == b"an earlier render"


def test_ctrl_c_mid_render_leaves_no_file(tmp_path, pipeline):
    clip = make_test_clip(tmp_path / "source.mkv", width=WIDTH, height=HEIGHT, frame_count=30, frames="noise")
    dub = write_wav(tmp_path / "dub.wav", 1.2)

    def interrupt_after_ten_frames(progress):
        if progress.stage == "render" and progress.done == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_clip(
            request_for(clip, dub, tmp_path / "out.mkv"),
            interrupt_after_ten_frames,
            pipeline=pipeline,
            landmark_backend=drawn_face(30),
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dub.wav", "source.mkv"]


def test_real_clip_renders_with_dlib_landmarks(tmp_path, talking_clip, dub_speech, pipeline, analysis_cache_dir):
    from keydub.core.analysis import AnalysisCache, analyse_clip
    from keydub.core.faces import get_landmark_backend

    output = tmp_path / "out.mkv"
    analysis = analyse_clip(talking_clip, 100, 130, "dlib", cache=AnalysisCache(analysis_cache_dir / "analysis"))
    result = render_clip(
        request_for(talking_clip, dub_speech, output, start_frame=100, end_frame=130),
        pipeline=pipeline,
        landmark_backend=get_landmark_backend("dlib"),
        analysis=analysis,
    )
    info = probe(output)
    assert info.frame_count == 30 and (info.width, info.height) == (1080, 1920)
    assert result.report["face"]["coverage"] >= 0.95
    source = next(read_frames(talking_clip, 100, 101))
    rendered = next(read_frames(output))
    changed = np.argwhere((source != rendered).any(axis=2))
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    # Only a region around the mouth changes: well inside the frame, far smaller than it.
    assert (bottom - top) * (right - left) < 0.1 * 1080 * 1920


def test_keydub_render_command_line(tmp_path, weights, capsys):
    from keydub.plugin.cli.main import main

    clip = make_test_clip(
        tmp_path / "source.mkv", width=WIDTH, height=HEIGHT, frame_count=20, frames="noise", timecode="01:00:00:00"
    )
    dub = write_wav(tmp_path / "dub.wav", 1.0)
    output = tmp_path / "out.mkv"
    argv = [
        "render",
        str(clip),
        "--audio",
        str(dub),
        "-o",
        str(output),
        "--in",
        "01:00:00:03",
        "--out",
        "12",
        "--handles",
        "2",
        "--codec",
        "ffv1",
        "--device",
        "cpu",
        "--quiet",
        "--landmark-backend",
        "dlib",
        *tiny_weight_flags(weights),
        "--report",
        str(tmp_path / "qc.json"),
    ]
    # The synthetic clip has no face a real detector can find: the command fails cleanly, with nothing written.
    assert main(argv) == 1
    assert "no face" in capsys.readouterr().err
    assert not output.exists() and not (tmp_path / "qc.json").exists()
    assert main(["render", str(clip), "--audio", str(dub), "-o", str(output), "--in", "15", "--out", "10"]) == 1
    assert "[15, 10)" in capsys.readouterr().err


class PassThroughPipeline:
    """A stand-in for the model that returns its input crops, so a long render tests the render path alone
    (decode, crops on disk, paste-back, encode); the model's own memory is covered in test_pipeline.py."""

    frame_size = (FRAME_SIZE, FRAME_SIZE)
    device = "cpu"
    dtype = "float32"
    window_length = 14

    def keyframe_batches_per_round(self):
        return 1

    def planned_steps(self, num_frames, sampling=None, **options):
        return 0  # it runs no denoising step

    def generate_many(self, clips, **options):
        for index, clip in enumerate(clips):
            for start in range(0, len(clip.frames), 14):
                yield index, start, clip.frames[start : start + 14]


PEAK_RSS_SCRIPT = """
import resource, sys, wave
from fractions import Fraction
from pathlib import Path
sys.path.insert(0, {tests!r})
import numpy as np
from face_fixtures import DrawnFaceBackend
from test_render import FACE, HEIGHT, WIDTH, PassThroughPipeline, request_for, write_wav
from media_fixtures import make_test_clip
from keydub.core.render import render_clip

folder, frames = Path(sys.argv[1]), int(sys.argv[2])
clip = make_test_clip(folder / "source.mkv", width=WIDTH, height=HEIGHT, frame_count=frames)
dub = write_wav(folder / "dub.wav", frames / 25)
result = render_clip(request_for(clip, dub, folder / "out.mkv"), pipeline=PassThroughPipeline(),
                     landmark_backend=DrawnFaceBackend(lambda i: FACE, (HEIGHT, WIDTH)))
assert result.frame_count == frames
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_peak_memory_of_a_three_minute_render_matches_a_ten_second_one(tmp_path):
    import subprocess
    import sys

    peaks = {}
    for frames in (250, 4500):  # 10 s and 3 min at 25 fps
        folder = tmp_path / str(frames)
        folder.mkdir()
        script = PEAK_RSS_SCRIPT.format(tests=str(Path(__file__).parent))
        done = subprocess.run(
            [sys.executable, "-c", script, str(folder), str(frames)], capture_output=True, text=True, check=True
        )
        peaks[frames] = int(done.stdout.split()[-1])
    assert peaks[4500] <= 1.10 * peaks[250], peaks


def test_an_occluder_in_front_of_the_mouth_keeps_its_source_pixels(tmp_path, pipeline, monkeypatch):
    pytest.importorskip("sam2", reason="sam2 is an optional dependency (keydub[occlusion])")
    from keydub.core.occlusion import OcclusionMasker, occluder_masks_for_range

    monkeypatch.setenv("KEYDUB_CACHE_DIR", str(tmp_path / "cache"))
    clip = make_test_clip(tmp_path / "source.mkv", width=WIDTH, height=HEIGHT, frame_count=14, frames="noise")
    dub = write_wav(tmp_path / "dub.wav", 1.0)
    output = tmp_path / "out.mkv"
    occluder = {"object_id": 1, "frame": 3, "points": [[48, 50]], "labels": [1]}
    torch.manual_seed(0)
    masker = OcclusionMasker.from_config("tiny", device="cpu", image_size=64)  # random weights: arbitrary masks

    render_clip(
        request_for(clip, dub, output, occluders=(occluder,)),
        pipeline=pipeline,
        landmark_backend=drawn_face(14),
        occlusion_masker=masker,
    )

    masks = occluder_masks_for_range(clip, (0, 14), [occluder], masker=masker)  # now read from the cache
    covered = 0
    for index, (source_frame, out_frame) in enumerate(zip(read_frames(clip), read_frames(output), strict=True)):
        occluded = masks.union(index)
        covered += int(occluded.sum())
        assert np.array_equal(source_frame[occluded], out_frame[occluded])
    assert covered > 0


def test_a_cut_mid_clip_renders_each_shot_with_its_own_identity_frame(tmp_path, pipeline):
    from media_fixtures import sine

    clip = make_test_clip(
        tmp_path / "source.mov",
        width=WIDTH,
        height=HEIGHT,
        frame_count=30,
        frames="noise",
        codec="prores",
        audio_rate=48000,
        audio=sine(440.0),
    )
    dub = write_wav(tmp_path / "dub.wav", 1.2)
    other_shot = template_landmarks(30, 40, 28)  # after the cut: a smaller face on the left

    result = render_clip(
        request_for(clip, dub, tmp_path / "out.mkv", keep_source_audio=True),
        pipeline=pipeline,
        landmark_backend=DrawnFaceBackend(lambda i: FACE if i < 12 else other_shot, (HEIGHT, WIDTH)),
    )

    assert result.report["face"]["segments"] == [[0, 12], [12, 30]]
    assert result.report["face"]["identity_frames"] == [0, 12]
    assert not result.passed_through
    out = probe(tmp_path / "out.mkv")
    assert out.audio_streams[0].sample_rate == 48000  # the source's own sound, not the 16 kHz dub


def test_the_dub_starts_under_the_in_frame_and_handles_hear_what_comes_before(tmp_path, monkeypatch):
    from keydub.plugin.cli.main import main

    clip = make_test_clip(tmp_path / "source.mkv", width=WIDTH, height=HEIGHT, frame_count=40, frames="noise")
    dub = write_wav(tmp_path / "dub.wav", 1.0)
    seen = {}

    def capture(engine, request, progress=None, cancel=None, analysis=None):
        seen["request"] = request
        raise KeyboardInterrupt  # stop before any work

    monkeypatch.setattr("keydub.core.engine.Engine.render", capture)
    argv = [
        "render",
        str(clip),
        "--audio",
        str(dub),
        "-o",
        str(tmp_path / "o.mkv"),
        "--in",
        "10",
        "--out",
        "20",
        "--handles",
        "4",
        "--audio-offset",
        "1/25",
    ]
    assert main(argv) == 130
    request = seen["request"]
    assert (request.start_frame, request.end_frame) == (6, 24)
    assert request.audio_offset == Fraction(1, 25) + Fraction(4, 25)
