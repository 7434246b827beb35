"""load_audio(): sample-exact windows, priming removed, resampling phase, padding, and errors."""

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media_fixtures import make_test_clip

from keydub.core.errors import InvalidParameterError, MediaNotFoundError, NoAudioStreamError, UnsupportedMediaError
from keydub.core.media import audio_stream_info, load_audio


TONE_HZ = 440.0


def stereo_tone(times: np.ndarray) -> np.ndarray:
    """440 Hz, 0.6 on the left and 0.2 on the right: the mono mix is 0.4 sin(2 pi f t)."""
    tone = np.sin(2 * np.pi * TONE_HZ * times)
    return np.stack([0.6 * tone, 0.2 * tone], axis=1)


def fitted_tone(samples: np.ndarray, first_time: float, rate: int) -> tuple[float, float]:
    """Amplitude and phase (radians, 0 for a sine starting at t = 0) of the 440 Hz component."""
    times = first_time + np.arange(samples.size) / rate
    projection = 2 * np.mean(samples * np.exp(-2j * np.pi * TONE_HZ * times))
    return abs(projection), float(np.angle(projection * 1j))


@pytest.fixture(scope="module")
def tone_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two-second 25 fps clips with the stereo tone at 44.1 kHz: PCM in .mov, AAC in .mp4, PCM in .mkv."""
    folder = tmp_path_factory.mktemp("tone")
    return {
        suffix: make_test_clip(
            folder / f"tone{suffix}",
            codec="h264",
            frame_count=50,
            audio_rate=44100,
            audio_channels=2,
            audio=stereo_tone,
        )
        for suffix in (".mov", ".mp4", ".mkv")
    }


@pytest.mark.parametrize("start", [Fraction(0), Fraction(1, 3), Fraction(3, 2)])
def test_pcm_window_is_sample_exact(tone_clips: dict[str, Path], start: Fraction) -> None:
    samples = load_audio(tone_clips[".mov"], 16000, start, Fraction(1, 2))
    assert samples.dtype == np.float32 and samples.shape == (8000,)
    times = (round(start * 16000) + np.arange(8000)) / 16000
    # Away from the window's edges the resampler's filter is settled: the mono mix matches the analytic tone.
    expected = 0.4 * np.sin(2 * np.pi * TONE_HZ * times)
    assert np.abs(samples[64:-64] - expected[64:-64]).max() < 1e-3


def test_window_after_a_seek_is_on_the_same_sample_grid(tone_clips: dict[str, Path]) -> None:
    # Starts past one second make the loader seek; the samples must be those of a read from the beginning.
    whole = load_audio(tone_clips[".mov"], 16000)
    window = load_audio(tone_clips[".mov"], 16000, Fraction(3, 2), Fraction(1, 4))
    assert np.abs(window[64:-64] - whole[24000 + 64 : 28000 - 64]).max() < 1e-4


def test_aac_priming_is_removed(tone_clips: dict[str, Path]) -> None:
    # AAC adds 1024 priming samples (23 ms at 44.1 kHz, 1.27 rad at 440 Hz): the phase shows whether they are gone.
    for start in (Fraction(0), Fraction(3, 2)):
        samples = load_audio(tone_clips[".mp4"], 16000, start, Fraction(1, 4))
        amplitude, phase = fitted_tone(samples[200:], float(start) + 200 / 16000, 16000)
        assert amplitude == pytest.approx(0.4, abs=0.01)
        assert abs(phase) < 0.02


@pytest.mark.parametrize("suffix", [".mov", ".mp4", ".mkv"])
def test_whole_track_length_is_the_clip_duration(tone_clips: dict[str, Path], suffix: str) -> None:
    # Two seconds exactly: the AAC encoder's trailing padding is trimmed by the MP4 edit list.
    samples = load_audio(tone_clips[suffix], 16000)
    assert samples.shape == (32000,)
    zero_crossings = np.count_nonzero(np.diff(np.signbit(samples[100:-100])))
    assert zero_crossings / (31800 / 16000) / 2 == pytest.approx(TONE_HZ, abs=1.0)


def test_native_rate_keeps_the_samples(tone_clips: dict[str, Path]) -> None:
    samples = load_audio(tone_clips[".mov"], 44100, Fraction(1, 10), Fraction(1, 100))
    times = (4410 + np.arange(441)) / 44100
    # 16-bit PCM, mixed to mono: within two quantisation steps of the analytic signal.
    assert np.abs(samples - 0.4 * np.sin(2 * np.pi * TONE_HZ * times)).max() < 2 / 32768


def test_past_the_end_returns_what_exists_unless_padded(tone_clips: dict[str, Path]) -> None:
    short = load_audio(tone_clips[".mov"], 16000, Fraction(3, 2), Fraction(1))
    padded = load_audio(tone_clips[".mov"], 16000, Fraction(3, 2), Fraction(1), pad=True)
    assert short.shape == (8000,) and padded.shape == (16000,)
    assert np.array_equal(padded[:8000], short) and not padded[8000:].any()
    assert load_audio(tone_clips[".mov"], 16000, Fraction(5), Fraction(1)).shape == (0,)


def test_before_the_start_is_silence(tone_clips: dict[str, Path]) -> None:
    samples = load_audio(tone_clips[".mov"], 16000, Fraction(-1, 10), Fraction(1, 5))
    assert samples.shape == (3200,) and not samples[:1600].any()
    head = load_audio(tone_clips[".mov"], 16000, Fraction(0), Fraction(1, 10))
    assert np.abs(samples[1700:] - head[100:]).max() < 1e-4


def test_real_wav_is_read_unchanged(dub_speech: Path) -> None:
    with wave.open(str(dub_speech)) as file:
        assert (file.getframerate(), file.getnchannels(), file.getsampwidth()) == (16000, 1, 2)
        raw = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
    samples = load_audio(dub_speech, 16000)
    assert np.array_equal(samples, raw.astype(np.float32) / 32768)
    window = load_audio(dub_speech, 16000, Fraction(5), Fraction(2))
    assert np.array_equal(window, raw[80000:112000].astype(np.float32) / 32768)


def test_real_clip_aac_audio(talking_clip: Path) -> None:
    with av.open(str(talking_clip)) as container:
        decoded = sum(frame.samples for frame in container.decode(audio=0))
    samples = load_audio(talking_clip, 16000)
    assert samples.size == round(Fraction(decoded * 16000, 44100))
    assert np.sqrt(np.mean(samples**2)) > 0.01  # speech, not silence
    info = audio_stream_info(talking_clip)
    assert (info.index, info.sample_rate, info.channels) == (1, 44100, 2)


# Errors ------------------------------------------------------------------------------------------------------
def test_no_audio_stream(tmp_path: Path) -> None:
    path = make_test_clip(tmp_path / "silent.mov", codec="prores", frame_count=2)
    with pytest.raises(NoAudioStreamError, match="silent.mov has no audio stream"):
        load_audio(path)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError, match="gone.wav"):
        load_audio(tmp_path / "gone.wav")
    text = tmp_path / "dub.wav"
    text.write_text("hello")
    with pytest.raises(UnsupportedMediaError, match="dub.wav is not a media file"):
        load_audio(text)


def test_bad_parameters(tone_clips: dict[str, Path]) -> None:
    with pytest.raises(InvalidParameterError, match=r"stream 0 .* not an audio stream; its audio streams are \[1\]"):
        load_audio(tone_clips[".mov"], stream=0)
    with pytest.raises(InvalidParameterError, match="pad=True needs a duration"):
        load_audio(tone_clips[".mov"], pad=True)
    with pytest.raises(InvalidParameterError, match="negative"):
        load_audio(tone_clips[".mov"], duration=Fraction(-1))
    with pytest.raises(InvalidParameterError, match="sample rate 0 is not positive"):
        load_audio(tone_clips[".mov"], 0)
