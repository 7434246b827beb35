"""Voice activity of a dialogue recording, from the Silero voice-activity detector.

Silero VAD is a small network (STFT, four convolutions, an LSTM) that gives, for every 32 ms of 16 kHz audio, the
probability that someone speaks. Its model ships inside the `silero-vad` pip package (`silero_vad.jit`), so it runs
offline; the file is found through the weights registry (`silero-vad`) without importing the package, whose import
would set torch's thread count to 1 for the whole process. Audio reaches it through our own loader
(`keydub.core.media.audio`), not through torchaudio, which the package would use for files.

A speech probability above 0.5 is speech: Silero's own default threshold.
"""

import os
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from keydub.core.audio.framing import MODEL_SAMPLE_RATE
from keydub.core.cancel import CancelToken, cancellable
from keydub.core.errors import InvalidParameterError, WeightsNotFoundError
from keydub.core.media.audio import load_audio
from keydub.core.progress import ProgressCallback, Stage, Unit, report


VAD_WINDOW = 512
"""Samples per VAD decision at 16 kHz (32 ms): the only window Silero's 16 kHz model takes."""
SPEECH_THRESHOLD = 0.5
"""Speech probability above which a window is speech (Silero's `get_speech_timestamps` default)."""
WEIGHTS_COMPONENT = "silero-vad"
# Windows between two progress reports (about 3 s of audio).
_REPORT_EVERY = 100


class SileroVoiceActivity:
    """The Silero voice-activity detector.

    Args:
        model_path (`str | Path | None`): a `silero_vad.jit` file; by default the one the weights registry resolves
            (the weights config, else the installed `silero-vad` package).

    Not thread-safe: the model keeps its recurrent state between windows; use one instance per thread.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None) -> None:
        import torch

        if model_path is None:
            from keydub.core.weights import resolve_weights

            model_path = resolve_weights(WEIGHTS_COMPONENT, download=False)
        path = Path(model_path)
        try:
            # TorchScript, as Silero publishes it; the file comes from the installed package (or the user's config).
            # torch 2.13 warns that TorchScript is deprecated: nothing a user can act on, so it is not shown.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
                self._model = torch.jit.load(str(path), map_location="cpu").eval()
        except (RuntimeError, ValueError, OSError) as error:
            raise WeightsNotFoundError(
                f"{path} is not a Silero VAD model ({error}); reinstall it with: pip install silero-vad"
            ) from error

    def window_probabilities(
        self,
        audio_16k: np.ndarray,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        """Speech probability of every 32 ms window of 16 kHz mono audio (the last window padded with silence).

        Returns:
            `np.ndarray`: `(ceil(len(audio) / 512),)` float32 in [0, 1]; window `i` covers samples
            `[512 i, 512 (i + 1))`.
        """
        import torch

        samples = np.asarray(audio_16k, dtype=np.float32)
        if samples.ndim != 1:
            raise InvalidParameterError(f"voice activity needs mono audio (samples,), got shape {samples.shape}")
        samples = np.pad(samples, (0, -len(samples) % VAD_WINDOW))
        windows = torch.from_numpy(samples).reshape(-1, VAD_WINDOW)
        progress = cancellable(progress, cancel)
        probabilities = np.zeros(len(windows), dtype=np.float32)
        self._model.reset_states()
        with torch.inference_mode():
            for index, window in enumerate(windows):
                probabilities[index] = float(self._model(window[None], MODEL_SAMPLE_RATE))
                if (index + 1) % _REPORT_EVERY == 0 or index + 1 == len(windows):
                    report(progress, Stage.VOICE, index + 1, len(windows), unit=Unit.ITEMS)
        return probabilities


def frame_voice_activity(probabilities: np.ndarray, frame_count: int, frame_rate: Fraction) -> np.ndarray:
    """The speech probability of each video frame: the mean of the VAD windows whose centre lies in the frame.

    A frame shorter than a window (above 31.25 fps) that holds no window centre takes the nearest window's value.

    Args:
        probabilities (`np.ndarray`): per-window probabilities from `window_probabilities`, starting at frame 0.
        frame_count (`int`): frames to cover.
        frame_rate (`Fraction`): the video's exact rate.

    Returns:
        `np.ndarray`: `(frame_count,)` float64 in [0, 1]; frames past the audio's end are 0.
    """
    frame_rate = Fraction(frame_rate)
    centres = (np.arange(len(probabilities)) + 0.5) * VAD_WINDOW / MODEL_SAMPLE_RATE
    frame_of_window = np.floor(centres * float(frame_rate)).astype(np.int64)
    sums = np.bincount(frame_of_window, weights=probabilities, minlength=frame_count)[:frame_count]
    counts = np.bincount(frame_of_window, minlength=frame_count)[:frame_count]
    voice = np.zeros(frame_count)
    covered = counts > 0
    voice[covered] = sums[covered] / counts[covered]
    if len(probabilities):
        frame_centres = (np.arange(frame_count) + 0.5) / float(frame_rate)
        nearest = np.clip(np.round(frame_centres * MODEL_SAMPLE_RATE / VAD_WINDOW - 0.5).astype(int), 0, None)
        inside = ~covered & (nearest < len(probabilities))
        voice[inside] = probabilities[nearest[inside]]
    return voice


def voice_activity(
    path: str | os.PathLike[str],
    start: Fraction,
    frame_count: int,
    frame_rate: Fraction,
    *,
    stream: int | None = None,
    detector: SileroVoiceActivity | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """The speech probability of each of `frame_count` video frames of a file's dialogue, from `start` seconds.

    Args:
        path (`str | os.PathLike`): any file with an audio stream (the shot itself, or its production WAV).
        start (`Fraction`): seconds on the file's clock of the first frame.
        frame_count (`int`), frame_rate (`Fraction`): the frames to cover.
        stream (`int | None`): the file's audio stream index; `None` for its first audio stream.
        detector (`SileroVoiceActivity | None`): a loaded detector to reuse.
        progress (`ProgressCallback | None`): receives `Progress("voice", windows_done, windows_total)`.
        cancel (`CancelToken | None`): checked at every progress point.

    Returns:
        `np.ndarray`: `(frame_count,)` float64 probabilities (see `frame_voice_activity`).
    """
    if frame_count < 1:
        raise InvalidParameterError(f"voice activity needs at least one frame, got {frame_count}")
    duration = Fraction(frame_count) / Fraction(frame_rate)
    audio = load_audio(path, MODEL_SAMPLE_RATE, Fraction(start), duration, stream=stream, pad=True)
    detector = detector or SileroVoiceActivity()
    probabilities = detector.window_probabilities(audio, progress=progress, cancel=cancel)
    return frame_voice_activity(probabilities, frame_count, frame_rate)
