"""HuBERT / WavLM framing (keysync-architecture.md §2.2), other frame rates, chunking, loading, the projector."""

import math
import wave
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_models import LOCAL_SPEECH_ENCODER, TINY_SPEECH_DIM, tiny_hubert, tiny_wavlm

from keydub.core.audio import HubertFeatures, WavLMFeatures, load_speech, plan_frame_tokens
from keydub.core.audio.framing import encoder_geometry
from keydub.core.errors import AudioError, InvalidParameterError
from keydub.core.model.audio_projector import AudioProjector


CLIP_LENGTHS = [1, 13, 14, 100, 251]
OTHER_RATES = [Fraction(24000, 1001), Fraction(24), Fraction(30000, 1001), Fraction(50), Fraction(60000, 1001)]


def _speechlike(samples: int, seed: int = 0) -> np.ndarray:
    """Noise under a 3 Hz syllable-like envelope, so loud and quiet stretches alternate as in speech."""
    rng = np.random.default_rng(seed)
    envelope = np.sin(np.arange(samples) / 16000 * np.pi * 3) ** 2
    return (0.1 * rng.standard_normal(samples) * envelope).astype(np.float32)


def _tokens(model, waveform: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.from_numpy(waveform)[None]).last_hidden_state[0]


# 25 fps: the official framing ----------------------------------------------------------------------------
@pytest.mark.parametrize("num_frames", CLIP_LENGTHS)
def test_hubert_framing_is_the_official_one(num_frames):
    model = tiny_hubert()
    audio = _speechlike(num_frames * 640)

    features = HubertFeatures(model)(audio, num_frames, Fraction(25))

    # The official preprocessing, re-typed: global standardisation with torch's unbiased variance, then one pass.
    raw = torch.from_numpy(audio)
    standardised = ((raw - raw.mean()) / torch.sqrt(raw.var() + 1e-7)).numpy()
    plan = plan_frame_tokens(num_frames, Fraction(25), receptive_field=400)
    prepared = HubertFeatures(model).prepare_waveform(audio, plan)
    np.testing.assert_allclose(prepared.numpy(), standardised, rtol=1e-5, atol=1e-5)
    tokens = _tokens(model, standardised)
    assert tokens.shape[0] == 2 * num_frames - 1
    assert features.shape == (num_frames, 2, TINY_SPEECH_DIM)
    pairs = features.reshape(2 * num_frames, TINY_SPEECH_DIM)
    torch.testing.assert_close(pairs[:-1], tokens, atol=1e-4, rtol=1e-4)  # frame k = tokens 2k, 2k+1
    assert torch.equal(pairs[-1], torch.zeros(TINY_SPEECH_DIM))  # the appended zero token


@pytest.mark.parametrize("num_frames", CLIP_LENGTHS)
def test_wavlm_framing_is_the_official_nearest_resize(num_frames):
    model = tiny_wavlm()
    audio = _speechlike(num_frames * 640, seed=1)

    features = WavLMFeatures(model)(audio, num_frames, Fraction(25))

    # The official path, re-typed: raw audio padded to an even frame count, 2F'-1 tokens resized to 2F'.
    even = num_frames + num_frames % 2
    tokens = _tokens(model, np.pad(audio, (0, (even - num_frames) * 640)))
    assert tokens.shape[0] == 2 * even - 1
    resized = F.interpolate(tokens.T[None], 2 * even, mode="nearest")[0].T
    official = resized.reshape(even, 2, TINY_SPEECH_DIM)[:num_frames]
    torch.testing.assert_close(features, official, atol=1e-5, rtol=1e-5)


def test_the_base_encoders_see_400_samples_every_320():
    assert encoder_geometry((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)) == (400, 320)


def test_an_impulse_reaches_exactly_the_tokens_whose_window_covers_it():
    # Token t covers samples [320 t, 320 t + 400); WavLM frame k holds tokens 2k - 1 and 2k (frame 0: 0 and 0).
    extractor = WavLMFeatures(tiny_wavlm(**LOCAL_SPEECH_ENCODER))
    num_frames = 14
    audio = _speechlike(num_frames * 640, seed=2)
    baseline = extractor(audio, num_frames, Fraction(25))
    token_of_slot = np.maximum(2 * np.arange(num_frames)[:, None] + np.array([-1, 0])[None, :], 0)
    for position in (0, 319, 320, 399, 400, 640 * 5 + 100, 640 * 13 + 639):
        kicked = audio.copy()
        kicked[position] += 5.0

        changed = (extractor(kicked, num_frames, Fraction(25)) - baseline).abs().amax(dim=-1) > 1e-4

        covered = (320 * token_of_slot <= position) & (position < 320 * token_of_slot + 400)
        np.testing.assert_array_equal(changed.numpy(), covered, err_msg=f"impulse at sample {position}")


# Other frame rates ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", OTHER_RATES, ids=str)
def test_other_frame_rates_get_the_token_pair_at_each_frame_time(rate):
    model = tiny_wavlm(**LOCAL_SPEECH_ENCODER)
    num_frames = 60
    span = math.ceil(num_frames * Fraction(16000) / rate)
    audio = _speechlike(span, seed=3)

    features = WavLMFeatures(model)(audio, num_frames, rate)

    assert features.shape == (num_frames, 2, TINY_SPEECH_DIM)
    tokens = _tokens(model, audio)  # a local encoder: token t depends on samples [320 t, 320 t + 400) only
    checked = 0
    for frame in range(num_frames):
        nearest = math.floor(Fraction(frame * 50) / rate + Fraction(1, 2))  # the token starting nearest the frame
        if 320 * nearest + 400 > span:
            continue  # the clip's last tokens see the zero padding after it
        torch.testing.assert_close(features[frame, 0], tokens[max(nearest - 1, 0)], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(features[frame, 1], tokens[nearest], atol=1e-5, rtol=1e-5)
        checked += 1
    assert checked >= num_frames - 2


@pytest.mark.parametrize("rate", [*OTHER_RATES, Fraction(25)], ids=str)
def test_framing_never_drifts_over_an_hour(rate):
    num_frames = math.ceil(3600 * rate)

    plan = plan_frame_tokens(num_frames, rate, receptive_field=400)

    first = plan.token_index[:, 0]
    exact = np.arange(num_frames) * (16000 * rate.denominator) / (rate.numerator * 320.0)  # in tokens
    assert np.abs(first[:-2] - exact[:-2]).max() <= 0.5
    if rate == 25:
        np.testing.assert_array_equal(first, 2 * np.arange(num_frames))
        assert plan.num_tokens == 2 * num_frames - 1 and plan.token_index[-1, 1] == -1


# Long audio --------------------------------------------------------------------------------------------------
def test_chunked_encoding_matches_one_pass():
    num_frames = 251
    audio = _speechlike(num_frames * 640, seed=4)
    model = tiny_hubert()

    whole = HubertFeatures(model, chunk_tokens=10_000)(audio, num_frames, Fraction(25))
    chunked = HubertFeatures(model, chunk_tokens=100, overlap_tokens=50)(audio, num_frames, Fraction(25))

    assert (chunked - whole).abs().max() < 0.03
    # The tolerance means something: a one-token slip moves features by far more.
    assert (whole.reshape(-1, TINY_SPEECH_DIM)[1:] - whole.reshape(-1, TINY_SPEECH_DIM)[:-1]).abs().mean() > 0.5


@pytest.mark.parametrize("extractor_class", [HubertFeatures, WavLMFeatures])
def test_windows_sit_on_the_token_grid(extractor_class):
    # With an encoder whose tokens see only their own samples, windows of 7 tokens without any overlap must give
    # the very same tokens as one pass: nothing lost, repeated or shifted at the 35 window boundaries.
    build = tiny_hubert if extractor_class is HubertFeatures else tiny_wavlm
    model = build(**LOCAL_SPEECH_ENCODER)
    audio = _speechlike(125 * 640, seed=5)

    whole = extractor_class(model, chunk_tokens=10_000)(audio, 125, Fraction(25))
    windows = extractor_class(model, chunk_tokens=7, overlap_tokens=0)(audio, 125, Fraction(25))

    torch.testing.assert_close(windows, whole, atol=1e-5, rtol=1e-5)


def test_chunked_encoding_matches_one_pass_on_real_speech(dub_speech):
    speech = load_speech(dub_speech, start=Fraction(2), duration=Fraction(8))
    model = tiny_hubert()

    whole = HubertFeatures(model, chunk_tokens=10_000)(speech, 200, Fraction(25))
    chunked = HubertFeatures(model, chunk_tokens=120, overlap_tokens=60)(speech, 200, Fraction(25))

    assert speech.shape == (8 * 16000,)
    assert (chunked - whole).abs().max() < 0.03


# Audio in ----------------------------------------------------------------------------------------------------
def _write_wav(path, channels: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as file:
        file.setnchannels(channels.shape[0])
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(np.round(channels.T * 32767).astype("<i2").tobytes())


def test_a_44k_stereo_file_becomes_16k_mono(tmp_path):
    time_44k = np.arange(44100 * 2) / 44100
    left, right = 0.5 * np.sin(2 * np.pi * 440 * time_44k), 0.3 * np.sin(2 * np.pi * 1000 * time_44k)
    _write_wav(tmp_path / "stereo.wav", np.stack([left, right]), 44100)

    speech = load_speech(tmp_path / "stereo.wav", start=Fraction(1, 2), duration=Fraction(1))

    assert speech.dtype == np.float32 and speech.shape == (16000,)
    time_16k = 0.5 + np.arange(16000) / 16000
    expected = (0.5 * np.sin(2 * np.pi * 440 * time_16k) + 0.3 * np.sin(2 * np.pi * 1000 * time_16k)) / 2
    assert np.abs(speech - expected)[100:-100].max() < 5e-3
    features = HubertFeatures(tiny_hubert())(speech, 25, Fraction(25))
    assert features.shape == (25, 2, TINY_SPEECH_DIM) and torch.isfinite(features).all()


def test_audio_after_the_clip_is_not_used():
    extractor = HubertFeatures(tiny_hubert())
    audio = _speechlike(40 * 640, seed=6)

    assert torch.equal(extractor(audio, 30, Fraction(25)), extractor(audio[: 30 * 640], 30, Fraction(25)))


def test_audio_short_by_less_than_a_frame_is_padded_with_silence():
    extractor = WavLMFeatures(tiny_wavlm())
    audio = _speechlike(30 * 640 - 300, seed=7)

    padded = np.pad(audio, (0, 300))
    assert torch.equal(extractor(audio, 30, Fraction(25)), extractor(padded, 30, Fraction(25)))


def test_bad_audio_and_parameters_are_refused_with_the_fix():
    extractor = HubertFeatures(tiny_hubert())
    audio = _speechlike(25 * 640)

    with pytest.raises(AudioError, match=r"mono float waveform.*load_speech"):
        extractor(np.stack([audio, audio]), 25, Fraction(25))
    with pytest.raises(AudioError, match=r"lasts 1.00 s but 50 frames at 25.000 fps last 2.00 s.*pad the dub"):
        extractor(audio, 50, Fraction(25))
    bad = audio.copy()
    bad[10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        extractor(bad, 25, Fraction(25))
    with pytest.raises(InvalidParameterError, match=r"Fraction\(24000, 1001\)"):
        extractor(audio, 24, 23.976)
    with pytest.raises(InvalidParameterError, match="at least one frame"):
        extractor(audio, 0, Fraction(25))
    with pytest.raises(InvalidParameterError, match="advances 640 samples per token"):
        HubertFeatures(tiny_hubert(conv_stride=(5, 2, 2, 2, 2, 2, 4)))


def test_from_pretrained_loads_a_local_folder(tmp_path):
    model = tiny_wavlm()
    model.save_pretrained(tmp_path / "wavlm")
    audio = _speechlike(20 * 640, seed=8)

    loaded = WavLMFeatures.from_pretrained(tmp_path / "wavlm", torch_dtype=torch.float64)

    assert loaded.dtype == torch.float64
    expected = WavLMFeatures(model)(audio, 20, Fraction(25))
    torch.testing.assert_close(loaded(audio, 20, Fraction(25)).float(), expected, atol=1e-5, rtol=1e-5)


# Projector ---------------------------------------------------------------------------------------------------
def test_projector_is_the_mean_of_the_pair_then_linear(tmp_path):
    torch.manual_seed(0)
    projector = AudioProjector(in_features=TINY_SPEECH_DIM, out_features=32)
    tokens = torch.randn(2, 14, 2, TINY_SPEECH_DIM)

    projected = projector(tokens)

    expected = (tokens[:, :, 0] + tokens[:, :, 1]) / 2 @ projector.linear.weight.T + projector.linear.bias
    torch.testing.assert_close(projected, expected)
    projector.save_pretrained(tmp_path / "projector")
    reloaded = AudioProjector.from_pretrained(tmp_path / "projector")
    assert torch.equal(reloaded(tokens), projected)
    with pytest.raises(InvalidParameterError, match=r"\[B, T, 2, 16\]"):
        projector(tokens[:, :, :1])
