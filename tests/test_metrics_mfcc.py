"""SyncNet's MFCC front-end against a step-by-step textbook computation on synthetic tones."""

import numpy as np
import pytest

from keydub.core.errors import AudioError
from keydub.core.metrics.mfcc import MfccConfig, mel_filterbank, mfcc
from keydub.core.metrics.syncnet import syncnet_mfcc


RATE = 16000


def textbook_mfcc(signal: np.ndarray) -> np.ndarray:
    """MFCCs written out loop by loop from the definitions, with python_speech_features' published defaults:
    25 ms / 10 ms frames, pre-emphasis 0.97, 512-point FFT, 26 mel filters from 0 Hz to 8 kHz, 13 coefficients,
    lifter 22, coefficient 0 replaced by the log frame energy."""
    x = [float(v) for v in signal]
    emphasised = [x[0]] + [x[t] - 0.97 * x[t - 1] for t in range(1, len(x))]
    length, step, nfft = 400, 160, 512
    count = 1 if len(x) <= length else 1 + int(np.ceil((len(x) - length) / step))
    emphasised += [0.0] * ((count - 1) * step + length - len(x))

    def mel(hz):
        return 2595 * np.log10(1 + hz / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    mel_points = [mel(0) + (mel(8000) - mel(0)) * i / 27 for i in range(28)]
    edges = [int(np.floor((nfft + 1) * hz(m) / RATE)) for m in mel_points]
    rows = []
    for f in range(count):
        frame = emphasised[f * step : f * step + length] + [0.0] * (nfft - length)
        power = []
        for k in range(nfft // 2 + 1):  # DFT bin by bin
            angle = -2 * np.pi * k * np.arange(nfft) / nfft
            re, im = np.dot(frame, np.cos(angle)), np.dot(frame, np.sin(angle))
            power.append((re * re + im * im) / nfft)
        bands = []
        for j in range(26):
            left, centre, right = edges[j], edges[j + 1], edges[j + 2]
            total = 0.0
            for k in range(left, centre):
                total += power[k] * (k - left) / (centre - left)
            for k in range(centre, right):
                total += power[k] * (right - k) / (right - centre)
            bands.append(np.log(total))
        cepstra = []
        for n in range(13):  # orthonormal DCT-II
            scale = np.sqrt(1 / 26) if n == 0 else np.sqrt(2 / 26)
            value = scale * sum(bands[m] * np.cos(np.pi * n * (2 * m + 1) / 52) for m in range(26))
            cepstra.append(value * (1 + 11 * np.sin(np.pi * n / 22)))
        cepstra[0] = np.log(sum(power))
        rows.append(cepstra)
    return np.array(rows)


@pytest.mark.parametrize("samples", [1600, 1000, 300])  # 0.1 s; a length off the frame grid; under one frame
def test_mfcc_matches_the_textbook_on_a_tone(samples):
    t = np.arange(samples) / RATE
    tone = 8000 * np.sin(2 * np.pi * 440 * t) + 3000 * np.sin(2 * np.pi * 1830 * t + 0.3)
    ours = mfcc(tone)
    reference = textbook_mfcc(tone)
    assert ours.shape == reference.shape == (max(1, 1 + int(np.ceil((samples - 400) / 160))), 13)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-8)


def test_filterbank_shape_and_peaks():
    bank = mel_filterbank()
    assert bank.shape == (26, 257)
    assert bank.max() == 1.0 and bank.min() == 0.0
    # Filter 0 rises from bin 0 to its peak at floor(513 * mel2hz(mel(8000) / 27) / 16000) = 2.
    assert int(np.argmax(bank[0])) == 2


def test_silence_uses_epsilon_not_minus_infinity():
    features = mfcc(np.zeros(800))
    assert np.isfinite(features).all()
    assert features[0, 0] == pytest.approx(np.log(np.finfo(np.float64).eps))


def test_syncnet_front_end_reads_16_bit_sample_values():
    tone = 0.25 * np.sin(2 * np.pi * 300 * np.arange(3200) / RATE)
    features = syncnet_mfcc(tone)
    assert features.shape == (13, 19) and features.dtype == np.float32  # 100 frames per second, coefficient-major
    np.testing.assert_allclose(features, mfcc(tone * 32768).T, rtol=1e-6)
    # The scale shifts the log energy: 2 ln(32768) above the unscaled value.
    assert features[0, 5] - mfcc(tone)[5, 0] == pytest.approx(2 * np.log(32768), rel=1e-5)


def test_mfcc_refuses_empty_or_multichannel_audio():
    with pytest.raises(AudioError, match="mono audio"):
        mfcc(np.zeros(0))
    with pytest.raises(AudioError, match="mono audio"):
        mfcc(np.zeros((2, 400)))


def test_config_lengths_round_half_up():
    assert (MfccConfig().window_length, MfccConfig().step_length) == (400, 160)
    assert MfccConfig(sample_rate=44100).window_length == 1103  # 1102.5 rounds up
