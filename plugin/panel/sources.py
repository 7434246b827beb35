"""What the panel opens, turned into one kind of thing: a dubbing timeline the planner reads.

A single video with its dub becomes a one-clip timeline (the picture on "Video 1", the dub on "Dub", both from
the video's first frame, so that dub sample `t` plays under the picture at time `t`). The panel then plans,
renders and exports a single clip exactly as `keydub timeline` does a whole timeline.
"""

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from keydub.core.errors import AudioError, MediaNotFoundError
from keydub.core.media import MediaInfo, audio_stream_info
from keydub.plugin.timeline.timecode import rational_time, time_range


SINGLE_CLIP_ID = "clip"
SINGLE_PICTURE_TRACK = "Video 1"
SINGLE_DUB_TRACK = "Dub"


def check_dub(dub: Path) -> Fraction:
    """The dub's duration in seconds.

    Raises:
        `AudioError`: the file is missing, has no sound or its duration is unknown.
    """
    dub = Path(dub)
    if not dub.is_file():
        raise AudioError(f"the dub audio {dub} does not exist; choose the dub file (WAV, AIFF, MOV...)")
    try:
        stream = audio_stream_info(dub)
    except (MediaNotFoundError, AudioError):
        raise
    except Exception as error:  # any decoder failure is the same fact for the user: the file cannot be heard
        raise AudioError(f"the dub audio {dub} cannot be read ({error}); export it again as WAV") from error
    if not stream.duration:
        raise AudioError(f"the dub audio {dub} has no known duration; export it again as WAV")
    return stream.duration


def single_clip_timeline(info: MediaInfo, dub: Path, start: int, end: int) -> otio.schema.Timeline:
    """A timeline holding frames `[start, end)` of a video at their own record time, over its dub.

    Args:
        info (`MediaInfo`): the video's probe.
        dub (`Path`): the dub audio, aligned with the video's first frame.
        start (`int`), end (`int`): the range to render, frames of the file.

    Returns:
        `otio.schema.Timeline`: record timecode equal to source timecode; the picture clip's Keydub id is
        `SINGLE_CLIP_ID`.
    """
    rate = info.frame_rate
    duration = check_dub(dub)
    timeline = otio.schema.Timeline(name=info.path.stem, global_start_time=rational_time(info.start_frame, rate))
    picture = otio.schema.Track(name=SINGLE_PICTURE_TRACK, kind=otio.schema.TrackKind.Video)
    if start > 0:
        picture.append(otio.schema.Gap(source_range=time_range(0, start, rate)))
    clip = otio.schema.Clip(
        name=info.path.stem,
        source_range=time_range(info.start_frame + start, end - start, rate),
        metadata={"keydub": {"id": SINGLE_CLIP_ID}},
    )
    clip.media_reference = otio.schema.ExternalReference(
        target_url=str(info.path), available_range=time_range(info.start_frame, info.frame_count, rate)
    )
    picture.append(clip)
    sound = otio.schema.Track(name=SINGLE_DUB_TRACK, kind=otio.schema.TrackKind.Audio)
    frames = int(duration * rate)  # whole frames of dub: a partial last frame has no picture under it
    line = otio.schema.Clip(name=Path(dub).name, source_range=time_range(0, frames, rate))
    line.media_reference = otio.schema.ExternalReference(
        target_url=str(Path(dub).absolute()), available_range=time_range(0, frames, rate)
    )
    sound.append(line)
    timeline.tracks.extend([picture, sound])
    return timeline


def single_clip_position(start: int) -> tuple[int, int]:
    """`(track index, item index)` of the picture clip in `single_clip_timeline(..., start, ...)`."""
    return 0, 1 if start > 0 else 0
