"""Opening media files with PyAV, turning FFmpeg's errors into `KeydubError`s that name the file."""

import os
from pathlib import Path

import av
from av.container import InputContainer
from av.video.stream import VideoStream

from keydub.core.errors import MediaNotFoundError, UnsupportedMediaError


def media_path(path: str | os.PathLike[str]) -> Path:
    """`path` as an absolute `Path` (`~` expanded), so it means the same file in a job stored for later."""
    return Path(os.fspath(path)).expanduser().absolute()


def open_input(path: Path) -> InputContainer:
    """Open `path` for reading.

    Raises:
        `MediaNotFoundError`: nothing exists at `path`.
        `UnsupportedMediaError`: `path` is a folder, cannot be read, or is not a file FFmpeg can demux.
    """
    if not path.exists():
        raise MediaNotFoundError(f"{path} does not exist; check the path (and that the drive is mounted)")
    if not path.is_file():
        raise UnsupportedMediaError(f"{path} is a folder, not a media file; pass the clip's file inside it")
    try:
        return av.open(str(path), metadata_errors="replace")
    except PermissionError as error:
        raise UnsupportedMediaError(f"{path} cannot be read ({error.strerror}); check its permissions") from error
    except (av.FFmpegError, UnicodeDecodeError) as error:
        raise UnsupportedMediaError(
            f"{path} is not a media file Keydub can read ({error}); if it is a video, it may be truncated or "
            "corrupt: copy it again from the original"
        ) from error


def video_stream(container: InputContainer, path: Path) -> VideoStream:
    """The clip's picture stream (the first video stream that is not a cover image).

    Raises:
        `UnsupportedMediaError`: the file has no video (an audio file, say).
    """
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise UnsupportedMediaError(
        f"{path} has no video stream; a picture clip is needed here (audio-only files are for the dub audio)"
    )
