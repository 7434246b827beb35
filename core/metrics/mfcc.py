"""The MFCC audio front-end SyncNet was trained with, written with numpy and scipy.

SyncNet (`syncnet_v2.model`) reads 13 mel-frequency cepstral coefficients at 100 frames per second computed by
the `python_speech_features` package (`mfcc(signal, samplerate)` with its defaults, version 0.6). Every constant
of `MfccConfig` is one of those defaults; the docstring names the keyword it comes from. The steps, in order:

1. pre-emphasis `y[0] = x[0]`, `y[t] = x[t] - 0.97 x[t-1]`;
2. frames of 25 ms every 10 ms (400 / 160 samples at 16 kHz; lengths rounded half up), a rectangular window,
   the last frame zero-padded, and at least one frame;
3. power spectrum `|rfft(frame, 512)|^2 / 512`, and its sum per frame as the frame energy;
4. 26 triangular filters evenly spaced on the mel scale `2595 log10(1 + f / 700)` from 0 Hz to half the sample
   rate, their edges snapped to FFT bins `floor((nfft + 1) f / rate)`;
5. natural log of the filter energies (exact zeros replaced by the float64 machine epsilon), orthonormal DCT-II,
   the first 13 coefficients, a sinusoidal lifter `1 + 11 sin(pi n / 22)`;
6. coefficient 0 replaced by the log frame energy.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.fft import dct

from ..errors import AudioError, InvalidParameterError


@dataclass(frozen=True)
class MfccConfig:
    """Settings of the MFCC front-end; the defaults are `python_speech_features.mfcc`'s, which SyncNet used.

    Args:
        sample_rate (`int`, defaults to 16000): `samplerate` (SyncNet reads 16 kHz audio).
        window_seconds (`float`, defaults to 0.025): `winlen`.
        step_seconds (`float`, defaults to 0.01): `winstep`, hence 100 feature frames per second.
        num_cepstra (`int`, defaults to 13): `numcep`.
        num_filters (`int`, defaults to 26): `nfilt`.
        fft_size (`int`, defaults to 512): `nfft`.
        low_hz (`float`, defaults to 0): `lowfreq`.
        high_hz (`float | None`, defaults to `None`): `highfreq`; `None` is half the sample rate.
        preemphasis (`float`, defaults to 0.97): `preemph`.
        lifter (`int`, defaults to 22): `ceplifter`; 0 turns the lifter off.
        use_log_energy (`bool`, defaults to `True`): `appendEnergy`, coefficient 0 becomes the log frame energy.
    """

    sample_rate: int = 16000
    window_seconds: float = 0.025
    step_seconds: float = 0.01
    num_cepstra: int = 13
    num_filters: int = 26
    fft_size: int = 512
    low_hz: float = 0.0
    high_hz: float | None = None
    preemphasis: float = 0.97
    lifter: int = 22
    use_log_energy: bool = True

    @property
    def window_length(self) -> int:
        """Samples per analysis frame (400 at 16 kHz)."""
        return _round_half_up(self.window_seconds * self.sample_rate)

    @property
    def step_length(self) -> int:
        """Samples between frame starts (160 at 16 kHz)."""
        return _round_half_up(self.step_seconds * self.sample_rate)


def mel_filterbank(config: MfccConfig = MfccConfig()) -> np.ndarray:
    """Triangular mel filters on the FFT bins.

    Returns:
        `np.ndarray` of shape `(num_filters, fft_size // 2 + 1)`: filter weights, one filter per row.
    """
    high_hz = config.high_hz if config.high_hz is not None else config.sample_rate / 2
    if not 0 <= config.low_hz < high_hz <= config.sample_rate / 2:
        raise InvalidParameterError(
            f"mel filter range {config.low_hz}-{high_hz} Hz does not fit in 0-{config.sample_rate / 2} Hz"
        )
    mels = np.linspace(_hz_to_mel(config.low_hz), _hz_to_mel(high_hz), config.num_filters + 2)
    edges = np.floor((config.fft_size + 1) * _mel_to_hz(mels) / config.sample_rate)
    bins = np.arange(config.fft_size // 2 + 1)[None, :]
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    # Rising edge on [left, centre), falling edge on [centre, right); bins outside get 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.where((bins >= left) & (bins < centre), (bins - left) / (centre - left), 0.0)
        falling = np.where((bins >= centre) & (bins < right), (right - bins) / (right - centre), 0.0)
    return rising + falling


def mfcc(waveform: np.ndarray, config: MfccConfig = MfccConfig()) -> np.ndarray:
    """MFCCs of a mono waveform, one row per 10 ms frame.

    The values depend on the waveform's scale through the log energies; SyncNet's front-end feeds 16-bit sample
    values (see `syncnet_mfcc`).

    Args:
        waveform (`np.ndarray` of shape `(samples,)`): mono audio at `config.sample_rate`.
        config (`MfccConfig`): front-end settings (the `python_speech_features` defaults).

    Returns:
        `np.ndarray` of shape `(frames, num_cepstra)`, float64, with
        `frames = 1 + ceil((samples - window_length) / step_length)` (1 for audio shorter than one window).

    Raises:
        AudioError: the waveform is empty or not one-dimensional.
    """
    signal = np.asarray(waveform, dtype=np.float64)
    if signal.ndim != 1 or signal.size == 0:
        raise AudioError(f"MFCC needs mono audio with at least one sample, got an array of shape {signal.shape}")
    emphasised = np.concatenate([signal[:1], signal[1:] - config.preemphasis * signal[:-1]])
    frames = _frames(emphasised, config.window_length, config.step_length)
    power = np.abs(np.fft.rfft(frames, n=config.fft_size, axis=1)) ** 2 / config.fft_size
    tiny = np.finfo(np.float64).eps
    # Exact zeros (digital silence) would give log(0); the reference front-end uses the machine epsilon instead.
    energy = power.sum(axis=1)
    energy = np.where(energy == 0, tiny, energy)
    band_energy = power @ mel_filterbank(config).T
    band_energy = np.where(band_energy == 0, tiny, band_energy)
    cepstra = dct(np.log(band_energy), type=2, axis=1, norm="ortho")[:, : config.num_cepstra]
    if config.lifter > 0:
        n = np.arange(config.num_cepstra)
        cepstra = cepstra * (1 + config.lifter / 2 * np.sin(np.pi * n / config.lifter))
    if config.use_log_energy:
        cepstra[:, 0] = np.log(energy)
    return cepstra


def _frames(signal: np.ndarray, length: int, step: int) -> np.ndarray:
    """Overlapping frames `(count, length)`, the tail zero-padded so that every sample is in a frame."""
    count = 1 if signal.size <= length else 1 + math.ceil((signal.size - length) / step)
    padded = np.zeros((count - 1) * step + length)
    padded[: signal.size] = signal
    return np.lib.stride_tricks.sliding_window_view(padded, length)[::step]


def _round_half_up(value: float) -> int:
    # The reference rounds frame lengths half up (not to even), so 0.025 s at 44.1 kHz gives 1103 samples, not 1102.
    return int(math.floor(value + 0.5))


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595 * np.log10(1 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700 * (10 ** (mel / 2595.0) - 1)
