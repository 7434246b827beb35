"""The active speaker of a clip range: its face tracks (`ClipAnalysis`) and its original dialogue's voice activity.

`find_clip_speakers(analysis)` reads the dialogue from the clip's own audio stream unless another file (the
production sound) is named, runs the voice-activity detector over the analysed range and hands both to
`keydub.core.faces.active_speaker.find_active_speakers`.
"""

import os
from fractions import Fraction

from keydub.core.analysis import ClipAnalysis, cut_tracks
from keydub.core.audio.vad import SileroVoiceActivity, voice_activity
from keydub.core.cancel import CancelToken
from keydub.core.errors import NoAudioStreamError
from keydub.core.faces.active_speaker import ActiveSpeakers, find_active_speakers
from keydub.core.progress import ProgressCallback


def find_clip_speakers(
    analysis: ClipAnalysis,
    original_audio: str | os.PathLike[str] | None = None,
    *,
    stream: int | None = None,
    detector: SileroVoiceActivity | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ActiveSpeakers:
    """Who speaks in each stretch of speech of the analysed range.

    Args:
        analysis (`ClipAnalysis`): the clip's analysis (its range is the one examined).
        original_audio (`str | os.PathLike | None`): a file holding the original dialogue, on the clip's clock
            (its sample 0 at the clip's frame 0); `None` uses the clip's own audio stream.
        stream (`int | None`): the audio stream of that file (`None`: its first).
        detector (`SileroVoiceActivity | None`): a loaded voice-activity detector to reuse.
        progress, cancel: see `voice_activity`.

    Returns:
        `ActiveSpeakers`: turns with frames relative to the range's start.

    Raises:
        `NoAudioStreamError`: the clip has no audio and no `original_audio` is given.
    """
    info = analysis.info
    source = analysis.video if original_audio is None else original_audio
    if original_audio is None and not info.audio_streams:
        raise NoAudioStreamError(
            f"{analysis.video.name} has no audio stream to find the speaker from; name the original dialogue with "
            "--original-audio"
        )
    # The clip's own stream is on its clock (first frame at `start_time`); a separate file starts with frame 0.
    offset = info.start_time if original_audio is None else Fraction(0)
    start = offset + Fraction(analysis.start) / info.frame_rate
    voice = voice_activity(
        source,
        start,
        analysis.end - analysis.start,
        info.frame_rate,
        stream=stream,
        detector=detector,
        progress=progress,
        cancel=cancel,
    )
    return find_active_speakers(cut_tracks(analysis.tracks, analysis.start, analysis.end), voice, info.frame_rate)
