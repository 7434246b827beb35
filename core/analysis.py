"""What Keydub sees in a clip before it renders: probe, face tracks, the target face, crop windows, identity frames.

`analyse_clip(video, start, end, backend)` is shared by `keydub inspect --faces`, `keydub mask`, `keydub render`
and the panel's face picker, so a clip's landmarks are found once:

- The landmark pass always covers the *whole* clip and is cached on disk (`AnalysisCache`, under the Keydub cache
  folder), keyed by the file's identity (resolved path, size, modification time), the backend and the tracking
  version. A range is cut from it. So a track keeps its id whatever range is asked for: the ids `inspect --faces`
  lists are the ones `render --face-track` takes on any sub-range. The price is that the first analysis of a long
  source file tracks all of it, once.
- The rest (target face, crop windows, identity frames) is cheap and derived for the range, face choice, crop size
  and identity strategy asked for (`ClipAnalysis.for_range`), without another landmark pass.
- Asked for (`recognition=`), each track also gets an embedding of who the face is (`TrackEmbedding`, from the
  track's sharpest near-frontal frames), kept in the same cache entry as the landmarks: the cast matches faces
  across a timeline with it.
"""

import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keydub.core import faces
from keydub.core.cancel import CancelToken, cancellable
from keydub.core.compositing.crop import CropWindow, crop_windows
from keydub.core.errors import InvalidParameterError, OutputNotWritableError
from keydub.core.faces import LandmarkBackend, RecognitionBackend, face_coverage, track_faces
from keydub.core.faces.target import TargetFace, choose_identity_frame, choose_target_face
from keydub.core.faces.track_embedding import TrackEmbedding, embed_tracks
from keydub.core.faces.tracking import FaceTrack
from keydub.core.files import write_bytes_atomically
from keydub.core.media import FrameReader, MediaInfo, probe
from keydub.core.progress import ProgressCallback
from keydub.core.render.request import FaceChoice


logger = logging.getLogger(__name__)

# Bumped whenever tracking or smoothing changes what a cached landmark pass holds, or the entry's layout changes.
# 2: entries may also hold each track's identity embeddings, per recognition backend.
ANALYSIS_VERSION = 2
# The official weights' crop size.
DEFAULT_CROP_SIZE = 512


@dataclass(frozen=True, eq=False)
class ClipAnalysis:
    """A clip's faces, and what a render of one range of it would use.

    Args:
        video (`Path`): the analysed clip (absolute).
        info (`MediaInfo`): its probe.
        backend (`str`): the landmark backend's name.
        tracks (`tuple[FaceTrack, ...]`): every face track of the whole clip, `first_frame` a source frame index;
            ids are the clip's, stable whatever range is used.
        start, end (`int`): the range `[start, end)` the fields below describe.
        face_choice (`FaceChoice`): how the target face was chosen (`frame` a source frame index).
        crop_size (`int`): the model's crop size the windows are cut for.
        identity (`str | int`): the identity strategy (`"first"`, `"auto"` or a frame index relative to `start`).
        face (`TargetFace`): the target face on each range frame (indices relative to `start`).
        windows (`tuple[CropWindow | None, ...]`): each range frame's crop window, `None` without the face.
        identity_frames (`tuple[int, ...]`): each face segment's identity frame, relative to `start`.
        embeddings (`tuple[TrackEmbedding, ...]`): who each track's face is, for the tracks that have one; empty
            unless the analysis was asked for a recognition backend.
    """

    video: Path
    info: MediaInfo
    backend: str
    tracks: tuple[FaceTrack, ...]
    start: int
    end: int
    face_choice: FaceChoice
    crop_size: int
    identity: str | int
    face: TargetFace
    windows: tuple[CropWindow | None, ...]
    identity_frames: tuple[int, ...]
    embeddings: tuple[TrackEmbedding, ...] = ()

    def embedding_of(self, track_id: int) -> TrackEmbedding | None:
        """The embedding of a track of the whole clip, `None` when it has none (or none was computed)."""
        return next((e for e in self.embeddings if e.track_id == track_id), None)

    def for_range(
        self,
        start: int,
        end: int,
        *,
        face: FaceChoice | None = None,
        crop_size: int | None = None,
        identity: str | int | None = None,
    ) -> "ClipAnalysis":
        """The same clip's analysis for another range, face choice, crop size or identity (no landmark pass).

        Arguments left `None` keep this analysis' values.
        """
        return derive_analysis(
            self.video,
            self.info,
            self.backend,
            self.tracks,
            start,
            end,
            face=self.face_choice if face is None else face,
            crop_size=self.crop_size if crop_size is None else crop_size,
            identity=self.identity if identity is None else identity,
            embeddings=self.embeddings,
        )

    def segments(self) -> list[tuple[int, int]]:
        """`[start, end)` source frames of each run of the target face (each rendered on its own)."""
        return [(self.start + a, self.start + b) for a, b in self.face.segments()]

    def faces_report(self) -> dict[str, Any]:
        """Every track of the whole clip as plain data (`face_coverage`), with the backend's name."""
        return {"backend": self.backend, **face_coverage(list(self.tracks), self.info.frame_count)}

    def to_dict(self) -> dict[str, Any]:
        """A JSON summary for other processes (the panel's face picker): range, tracks, target, segments."""
        return {
            "video": str(self.video),
            "range": [self.start, self.end],
            "faces": self.faces_report(),
            "face_choice": self.face_choice.to_dict(),
            "identity": self.identity,
            "target_track_ids": [int(i) for i in self.face.track_ids],
            "segments": [list(segment) for segment in self.segments()],
            "identity_frames": [self.start + i for i in self.identity_frames],
        }


def analyse_clip(
    video: str | os.PathLike[str],
    start: int = 0,
    end: int | None = None,
    backend: str | LandmarkBackend = "face-alignment",
    *,
    face: FaceChoice | None = None,
    crop_size: int = DEFAULT_CROP_SIZE,
    identity: str | int = "first",
    recognition: str | RecognitionBackend | None = None,
    cache: "AnalysisCache | None" = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ClipAnalysis:
    """Analyse `[start, end)` of a clip, tracking the whole clip's faces once (cached on disk).

    Args:
        video (`str | os.PathLike`): the clip.
        start (`int`, defaults to 0), end (`int | None`): the range of source frames; `None` for the clip's end.
        backend (`str | LandmarkBackend`, defaults to `"face-alignment"`): a backend name, or a loaded backend
            (its `name` keys the cache).
        face (`FaceChoice | None`): the face to render (default: the largest face of each shot); `frame` is a
            source frame index.
        crop_size (`int`, defaults to 512): the crop size of the windows.
        identity (`str | int`, defaults to `"first"`): the identity strategy, see `RenderRequest.identity`.
        recognition (`str | RecognitionBackend | None`): also embed every track's face with this recognition
            backend (a name, or a loaded backend); `None` embeds nothing.
        cache (`AnalysisCache | None`): where landmark passes are kept; `None` keeps nothing on disk.
        progress (`ProgressCallback | None`): receives `"landmarks"` progress over the whole clip on a cache miss
            (and `"identity"` progress when embedding).
        cancel (`CancelToken | None`): checked at every progress point.

    Raises:
        `InvalidParameterError`: the range is not inside the clip. `NoFaceFoundError`: no face in the range, or
        none under the face choice.
    """
    video = Path(video).absolute()
    info = probe(video)
    end = info.frame_count if end is None else end
    check_range(info, start, end)
    tracks = track_clip(video, backend, info=info, cache=cache, progress=progress, cancel=cancel)
    name = backend if isinstance(backend, str) else backend.name
    embeddings = ()
    if recognition is not None:
        embeddings = embed_clip(
            video, tracks, name, recognition, info=info, cache=cache, progress=progress, cancel=cancel
        )
    return derive_analysis(
        video,
        info,
        name,
        tracks,
        start,
        end,
        face=face or FaceChoice(),
        crop_size=crop_size,
        identity=identity,
        embeddings=embeddings,
    )


def track_clip(
    video: str | os.PathLike[str],
    backend: str | LandmarkBackend = "face-alignment",
    *,
    info: MediaInfo | None = None,
    cache: "AnalysisCache | None" = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[FaceTrack, ...]:
    """Every face track of the whole clip (ids and `first_frame` in the clip's frames), from `cache` when there.

    Args: see `analyse_clip`; `info` is the clip's probe when the caller has it.
    """
    info = info or probe(video)
    name = backend if isinstance(backend, str) else backend.name
    tracks = cache.get(Path(video), name) if cache is not None else None
    if tracks is None:
        detector = faces.get_landmark_backend(backend) if isinstance(backend, str) else backend
        with FrameReader(video, info=info) as reader:
            tracks = tuple(
                track_faces(
                    reader.read(0, info.frame_count),
                    detector,
                    frame_count=info.frame_count,
                    progress=cancellable(progress, cancel),
                )
            )
        if cache is not None:
            cache.put(Path(video), name, tracks)
    return tracks


def embed_clip(
    video: str | os.PathLike[str],
    tracks: tuple[FaceTrack, ...],
    backend: str,
    recognition: str | RecognitionBackend,
    *,
    info: MediaInfo | None = None,
    cache: "AnalysisCache | None" = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[TrackEmbedding, ...]:
    """Who the face of each of the clip's tracks is (`embed_tracks`), from `cache` when there.

    Args:
        video (`str | os.PathLike`): the clip.
        tracks (`tuple[FaceTrack, ...]`): its whole-clip tracks (`track_clip`).
        backend (`str`): the landmark backend's name the tracks come from (keys the cache entry).
        recognition (`str | RecognitionBackend`): a recognition backend name, or a loaded backend.
        info, cache, progress, cancel: see `analyse_clip`.
    """
    model = recognition if isinstance(recognition, str) else recognition.name
    embeddings = cache.get_embeddings(Path(video), backend, model, tracks) if cache is not None else None
    if embeddings is None:
        recogniser = faces.get_recognition_backend(recognition) if isinstance(recognition, str) else recognition
        with FrameReader(video, info=info or probe(video)) as reader:
            embeddings = embed_tracks(reader, tracks, recogniser, progress=progress, cancel=cancel)
        if cache is not None:
            cache.put_embeddings(Path(video), backend, model, tracks, embeddings)
    return embeddings


def derive_analysis(
    video: Path,
    info: MediaInfo,
    backend: str,
    tracks: tuple[FaceTrack, ...],
    start: int,
    end: int,
    *,
    face: FaceChoice,
    crop_size: int,
    identity: str | int,
    embeddings: tuple[TrackEmbedding, ...] = (),
) -> ClipAnalysis:
    """The range's target face, windows and identity frames from the clip's tracks (embeddings kept as given)."""
    check_range(info, start, end)
    target = choose_target_face(
        cut_tracks(tracks, start, end),
        end - start,
        point=face.point,
        track_id=face.track_id,
        frame=None if face.frame is None else face.frame - start,
    )
    identity_frames = tuple(a + resolve_identity(identity, target, (a, b)) for a, b in target.segments())
    return ClipAnalysis(
        video=video,
        info=info,
        backend=backend,
        tracks=tracks,
        start=start,
        end=end,
        face_choice=face,
        crop_size=crop_size,
        identity=identity,
        face=target,
        windows=tuple(crop_windows(target.landmarks, output_size=crop_size)),
        identity_frames=identity_frames,
        embeddings=embeddings,
    )


def check_range(info: MediaInfo, start: int, end: int) -> None:
    """Refuse a range that is empty or not inside the clip."""
    if not 0 <= start < end <= info.frame_count:
        raise InvalidParameterError(
            f"frame range [{start}, {end}) is not inside the clip's {info.frame_count} frames "
            f"({info.timecode_at(0)} to {info.timecode_at(info.frame_count - 1)}); fix --in/--out"
        )


def cut_tracks(tracks: tuple[FaceTrack, ...], start: int, end: int) -> list[FaceTrack]:
    """Tracks cut to source frames `[start, end)`, re-based so `first_frame` counts from `start`; ids kept."""
    cut = []
    for track in tracks:
        frames = track.first_frame + np.flatnonzero(track.present)
        inside = frames[(frames >= start) & (frames < end)]
        if not inside.size:
            continue
        a, b = inside[0] - track.first_frame, inside[-1] - track.first_frame + 1
        cut.append(
            FaceTrack(
                track_id=track.track_id,
                first_frame=int(inside[0]) - start,
                landmarks=track.landmarks[a:b],
                present=track.present[a:b],
                boxes=track.boxes[a:b],
            )
        )
    return cut


def resolve_identity(identity: str | int, face: TargetFace, segment: tuple[int, int]) -> int:
    """The identity frame of a segment, relative to the segment's start.

    `"first"` is the official choice (the segment's first frame); `"auto"` picks a frontal closed-mouth frame
    (the leakage study reports that a silent-face reference reduces leakage); an index (relative to the range's
    start) is used when it falls inside the segment, else the segment's first frame.
    """
    a, b = segment
    if identity == "first":
        return 0
    if identity == "auto":
        return choose_identity_frame(face.landmarks[a:b])
    if isinstance(identity, int) and not isinstance(identity, bool):
        return identity - a if a <= identity < b else 0
    raise InvalidParameterError(f"identity frame {identity!r} is not 'first', 'auto' or a frame index")


class AnalysisCache:
    """Whole-clip landmark passes on disk, one `.npz` per (file identity, backend, version).

    A file's identity is its resolved path, size and modification time: re-exporting a clip under the same name
    makes a new entry. Entries hold arrays only and load with `allow_pickle=False`. Beside the tracks, an entry
    holds the tracks' identity embeddings of each recognition backend they were embedded with
    (`embeddings.<model>.*` arrays), added to the entry when first computed.

    Args:
        folder (`Path | None`): where entries go; defaults to `<Keydub cache>/analysis`.
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        if folder is None:
            from keydub.core.weights import keydub_cache_dir

            folder = keydub_cache_dir() / "analysis"
        self.folder = Path(folder)

    def path_for(self, video: Path, backend: str) -> Path:
        """The entry file of a clip and backend."""
        stat = Path(video).stat()
        identity = {
            "path": str(Path(video).resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "backend": backend,
            "version": ANALYSIS_VERSION,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
        return self.folder / f"{digest}.npz"

    def get(self, video: Path, backend: str) -> tuple[FaceTrack, ...] | None:
        """The cached tracks, or `None` on a miss (an unreadable entry counts as a miss)."""
        path = self.path_for(video, backend)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return _tracks_from_arrays(dict(data))
        except (OSError, ValueError, KeyError):
            return None

    def put(self, video: Path, backend: str, tracks: tuple[FaceTrack, ...]) -> None:
        """Store tracks, atomically; a cache folder that cannot be written costs a warning, not the render."""
        self._write(video, backend, _tracks_to_arrays(tracks))

    def get_embeddings(
        self, video: Path, backend: str, model: str, tracks: tuple[FaceTrack, ...]
    ) -> tuple[TrackEmbedding, ...] | None:
        """The cached embeddings of `tracks` by `model`, or `None` on a miss (an entry whose tracks differ from
        `tracks` counts as a miss)."""
        path = self.path_for(video, backend)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = dict(data)
            if not np.array_equal(arrays["track_ids"], [t.track_id for t in tracks]):
                return None
            return _embeddings_from_arrays(arrays, model)
        except (OSError, ValueError, KeyError):
            return None

    def put_embeddings(
        self,
        video: Path,
        backend: str,
        model: str,
        tracks: tuple[FaceTrack, ...],
        embeddings: tuple[TrackEmbedding, ...],
    ) -> None:
        """Add the embeddings of `model` (none for a clip without faces) to the clip's entry, atomically."""
        arrays = _tracks_to_arrays(tracks)
        path = self.path_for(video, backend)
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    arrays = {**{k: v for k, v in data.items() if k.startswith("embeddings.")}, **arrays}
            except (OSError, ValueError):
                pass  # a damaged entry is rewritten from the tracks at hand
        arrays.update(_embeddings_to_arrays(model, embeddings))
        self._write(video, backend, arrays)

    def _write(self, video: Path, backend: str, arrays: dict[str, np.ndarray]) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        path = self.path_for(video, backend)
        try:
            write_bytes_atomically(path, buffer.getvalue())
        except (OSError, OutputNotWritableError) as error:
            logger.warning(
                "cannot keep the clip analysis in %s (%s); set KEYDUB_CACHE_DIR to a writable folder "
                "so the next command skips the landmark pass",
                path.parent,
                error,
            )


def _tracks_to_arrays(tracks: tuple[FaceTrack, ...]) -> dict[str, np.ndarray]:
    lengths = [len(t.present) for t in tracks]
    return {
        "track_ids": np.array([t.track_id for t in tracks], dtype=np.int64),
        "first_frames": np.array([t.first_frame for t in tracks], dtype=np.int64),
        "lengths": np.array(lengths, dtype=np.int64),
        "landmarks": np.concatenate([t.landmarks for t in tracks]) if tracks else np.zeros((0, 68, 2), np.float32),
        "present": np.concatenate([t.present for t in tracks]) if tracks else np.zeros(0, bool),
        "boxes": np.concatenate([t.boxes for t in tracks]) if tracks else np.zeros((0, 4), np.float32),
    }


def _tracks_from_arrays(data: dict[str, np.ndarray]) -> tuple[FaceTrack, ...]:
    ends = np.cumsum(data["lengths"])
    starts = ends - data["lengths"]
    return tuple(
        FaceTrack(
            track_id=int(track_id),
            first_frame=int(first),
            landmarks=data["landmarks"][a:b],
            present=data["present"][a:b],
            boxes=data["boxes"][a:b],
        )
        for track_id, first, a, b in zip(data["track_ids"], data["first_frames"], starts, ends, strict=True)
    )


def _embeddings_to_arrays(model: str, embeddings: tuple[TrackEmbedding, ...]) -> dict[str, np.ndarray]:
    width = max((len(e.frames) for e in embeddings), default=0)
    frames = np.full((len(embeddings), width), -1, dtype=np.int64)
    for row, embedding in enumerate(embeddings):
        frames[row, : len(embedding.frames)] = embedding.frames
    return {
        f"embeddings.{model}.track_ids": np.array([e.track_id for e in embeddings], dtype=np.int64),
        f"embeddings.{model}.vectors": np.array([e.vector for e in embeddings], dtype=np.float32),
        f"embeddings.{model}.frames": frames,
    }


def _embeddings_from_arrays(data: dict[str, np.ndarray], model: str) -> tuple[TrackEmbedding, ...] | None:
    prefix = f"embeddings.{model}."
    if prefix + "track_ids" not in data:
        return None
    return tuple(
        TrackEmbedding(
            track_id=int(track_id), model=model, vector=vector, frames=tuple(int(f) for f in frames if f >= 0)
        )
        for track_id, vector, frames in zip(
            data[prefix + "track_ids"], data[prefix + "vectors"], data[prefix + "frames"], strict=True
        )
    )
