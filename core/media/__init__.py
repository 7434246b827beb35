"""Media I/O built on PyAV: exact probing, frame-exact reading, sample-exact audio and atomic writing.

- `probe(path) -> MediaInfo`: exact frame rate (`Fraction`) and frame count, size, colour tags, rotation, start
  timecode, audio streams, variable frame rate detection.
- `read_frames(path, start, end)` / `FrameReader`: RGB frames by index, streaming, exact after any seek.
- `load_audio(path, sample_rate, start, duration)`: mono float32, sample-exact, codec priming removed.
- `VideoWriter(path, like=info, codec=..., audio=AudioSpec...)`: a clip matching its source, written atomically;
  `BackgroundWriter(writer)` encodes its frames on a worker thread.
- `timecode_to_frames`, `frames_to_timecode`: SMPTE timecode maths, drop-frame included.
"""

from keydub.core.codecs import CODECS
from keydub.core.media.audio import audio_stream_info, iter_audio, load_audio
from keydub.core.media.probe import AudioStreamInfo, MediaInfo, probe, require_constant_frame_rate, snap_frame_rate
from keydub.core.media.reader import FrameReader, read_frames
from keydub.core.media.writer import AudioSpec, BackgroundWriter, VideoWriter
from keydub.core.timecode import frames_to_timecode, is_drop_frame_timecode, timecode_to_frames


__all__ = [
    "CODECS",
    "AudioSpec",
    "AudioStreamInfo",
    "BackgroundWriter",
    "FrameReader",
    "MediaInfo",
    "VideoWriter",
    "audio_stream_info",
    "frames_to_timecode",
    "is_drop_frame_timecode",
    "iter_audio",
    "load_audio",
    "probe",
    "read_frames",
    "require_constant_frame_rate",
    "snap_frame_rate",
    "timecode_to_frames",
]
