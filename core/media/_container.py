"""Opening media files with PyAV, turning FFmpeg's errors into `KeydubError`s that name the file."""

import os
from pathlib import Path

import av
from av.container import InputContainer
from av.video.stream import VideoStream

from keydub.core.errors import MediaNotFoundError, UnsupportedMediaError
from keydub.core.files import describe_contents, path_kind


def media_path(path: str | os.PathLike[str]) -> Path:
    """`path` as an absolute `Path` (`~` expanded), so it means the same file in a job stored for later."""
    return Path(os.fspath(path)).expanduser().absolute()


def open_input(path: Path) -> InputContainer:
    """Open `path` for reading.

    Raises:
        `MediaNotFoundError`: nothing exists at `path`.
        `UnsupportedMediaError`: `path` is a folder, cannot be read, or is not a file FFmpeg can demux.
    """
    kind = path_kind(path)
    if kind == "nothing":
        raise MediaNotFoundError(f"{path} does not exist; check the path (and that the drive is mounted)")
    if kind == "a folder":
        raise UnsupportedMediaError(f"{path} is a folder, not a media file; pass the clip's file inside it")
    if kind != "a file":
        # Opening a FIFO would wait for a writer, and a clip is read several times: only a file will do.
        raise UnsupportedMediaError(f"{path} is {kind}, not a media file; save the media to a file and pass that")
    try:
        return av.open(str(path), metadata_errors="replace")
    except PermissionError as error:
        raise UnsupportedMediaError(f"{path} cannot be read ({error.strerror}); check its permissions") from error
    except av.EOFError as error:
        raise UnsupportedMediaError(
            f"{path} is {describe_contents(path)} that ends before its first frame: the header is there but no "
            "frames follow (an export that stopped, or a copy that did not finish); export or copy it again"
        ) from error
    except (av.FFmpegError, UnicodeDecodeError) as error:
        raise UnsupportedMediaError(
            f"{path} is not a media file Keydub can read: it is {describe_contents(path)} ({error}); pass a video "
            "or audio file, or copy it again from the original if it is one"
        ) from error


def video_stream(container: InputContainer, path: Path) -> VideoStream:
    """The clip's picture stream (the first video stream that is not a cover image).

    Raises:
        `UnsupportedMediaError`: the file has no video (an audio file, say).
    """
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if not container.streams:
        raise UnsupportedMediaError(
            f"{path} is {describe_contents(path)} holding no track with any frames (an empty export?); export the "
            "clip again"
        )
    found = ", ".join(
        f"{len(streams)} {kind}"
        for kind, streams in (
            ("audio", container.streams.audio),
            ("cover image", container.streams.video),
            ("subtitle", container.streams.subtitles),
            ("data", container.streams.data),
        )
        if streams
    )
    raise UnsupportedMediaError(
        f"{path} has no video stream (it holds {found} stream(s)); a picture clip is needed here (audio-only files "
        "are for the dub audio)"
    )
