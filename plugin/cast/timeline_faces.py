"""Every face of every dialogue clip of a timeline, each with who it is (its track's embedding).

A dialogue clip is a picture clip the batch would render: one with dub dialogue under it (`plan_timeline`). Its
faces are the face tracks of its media file seen inside the clip's range, from the same cached whole-clip analysis
a render uses (`keydub.core.analysis`), so the track ids are the ones a render takes.
"""

import functools
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from keydub.core.analysis import AnalysisCache, cut_tracks, embed_clip, track_clip
from keydub.core.cancel import CancelToken, cancellable
from keydub.core.face_backends import recognition_backend_class
from keydub.core.faces import (
    DEFAULT_RECOGNITION,
    FaceTrack,
    LandmarkBackend,
    RecognitionBackend,
    TrackEmbedding,
    get_landmark_backend,
    get_recognition_backend,
)
from keydub.core.media import probe
from keydub.core.progress import ProgressCallback, Stage, Unit, report
from keydub.plugin.timeline.plan import PlannedClip, PlanOptions, plan_timeline
from keydub.plugin.timeline.timecode import format_timecode


@dataclass(frozen=True)
class DialogueClip:
    """A picture clip with dialogue under it.

    Args:
        clip_id (`str`): the planner's clip id (`metadata["keydub"]["id"]`, else `"<track>@<record timecode>"`).
        name (`str`): the clip's name.
        video (`Path`): its media file (absolute).
        start, end (`int`): the clip's frames `[start, end)` of the media file, handles left out.
        record_start (`int`): its first frame on the timeline (absolute record frame).
        rate (`Fraction`): the frame rate.
    """

    clip_id: str
    name: str
    video: Path
    start: int
    end: int
    record_start: int
    rate: Fraction

    @classmethod
    def of(cls, planned: PlannedClip, rate: Fraction) -> "DialogueClip":
        """The dialogue clip of a planned clip with a job: its own frames, handles left out."""
        start = planned.job.start_frame + planned.head
        return cls(
            clip_id=planned.clip_id,
            name=planned.name,
            video=Path(planned.job.source.path),
            start=start,
            end=start + planned.duration,
            record_start=planned.record_start,
            rate=rate,
        )

    def record_timecode(self) -> str:
        return format_timecode(self.record_start, self.rate)


@dataclass(frozen=True, eq=False)
class ClipFace:
    """One face track seen in a dialogue clip.

    Args:
        clip (`DialogueClip`): the clip.
        track (`FaceTrack`): the media file's track cut to the clip's range (`first_frame` a frame of the file).
        embedding (`TrackEmbedding | None`): who the face is; `None` when no frame of it could be embedded.
    """

    clip: DialogueClip
    track: FaceTrack
    embedding: TrackEmbedding | None

    @property
    def track_id(self) -> int:
        return self.track.track_id

    def frames(self) -> tuple[int, int]:
        """`[first, last + 1)` frames of the media file on which the face is seen within the clip."""
        return self.track.first_frame, self.track.last_frame + 1

    def best_view(self) -> tuple[int, np.ndarray]:
        """A frame of the media file showing the face well, and the face's box there: the embedding's sharpest frame
        when it lies in the clip, else the middle detected frame."""
        candidates = self.embedding.frames if self.embedding is not None else ()
        for frame in candidates:
            box = self.track.box_at(frame)
            if box is not None:
                return frame, box
        offsets = np.flatnonzero(self.track.present)
        frame = self.track.first_frame + int(offsets[len(offsets) // 2])
        return frame, self.track.box_at(frame)

    def overlaps(self, other: "ClipFace") -> bool:
        """Whether both faces are on screen together in the same clip (so not one person)."""
        if other.clip.clip_id != self.clip.clip_id:
            return False
        (a0, a1), (b0, b1) = self.frames(), other.frames()
        return a0 < b1 and b0 < a1


@dataclass(frozen=True)
class TimelineFaces:
    """The faces of a timeline's dialogue clips.

    Args:
        clips (`tuple[DialogueClip, ...]`): the dialogue clips, in plan order.
        faces (`tuple[ClipFace, ...]`): their faces, clip by clip, tracks in id order.
        skipped (`tuple[str, ...]`): `"<clip>: <reason>"` for each picture clip that is not a dialogue clip.
        recognition (`str`): the recognition backend's name.
        same_person_distance (`float`): its same-person distance.
    """

    clips: tuple[DialogueClip, ...]
    faces: tuple[ClipFace, ...]
    skipped: tuple[str, ...]
    recognition: str
    same_person_distance: float


def dialogue_clips(
    timeline: otio.schema.Timeline, base_dir: Path, options: PlanOptions | None = None
) -> tuple[list[DialogueClip], list[str]]:
    """The timeline's dialogue clips, and `"<clip>: <reason>"` for each picture clip left out.

    Args:
        timeline (`otio.schema.Timeline`): the timeline (not modified).
        base_dir (`Path`): the folder relative media paths are relative to.
        options (`PlanOptions | None`): which picture and dub tracks to read, as for `keydub timeline`.
    """
    # A dry plan: the dub audio is assembled to know where dialogue is, and nothing is written.
    with tempfile.TemporaryDirectory(prefix="keydub-cast-") as scratch:
        plan = plan_timeline(timeline, base_dir, Path(scratch), options, write_audio=False)
    clips, skipped = [], []
    for planned in plan.clips:
        if planned.job is None:
            skipped.append(f"{planned.name}: {planned.skip_reason}")
        else:
            clips.append(DialogueClip.of(planned, plan.rate))
    return clips, skipped


class FaceAnalyser:
    """Tracks and embeds the faces of media files, each file once per analyser, through the analysis cache.

    The models load on first use: a timeline whose analyses are all cached loads neither.

    Args:
        landmark_backend (`str | LandmarkBackend`, defaults to `"face-alignment"`): the render's landmark backend,
            so that track ids are the ones a render takes.
        recognition (`str | RecognitionBackend`, defaults to `"dlib-resnet"`): the face-recognition backend.
        cache (`AnalysisCache | None`): the analysis cache; `None` keeps nothing on disk.
    """

    def __init__(
        self,
        landmark_backend: str | LandmarkBackend = "face-alignment",
        recognition: str | RecognitionBackend = DEFAULT_RECOGNITION,
        cache: AnalysisCache | None = None,
    ) -> None:
        self._landmarks = landmark_backend
        self._recognition = recognition
        self.cache = cache
        self._seen: dict[Path, tuple[tuple[FaceTrack, ...], dict[int, TrackEmbedding]]] = {}

    @property
    def landmark_name(self) -> str:
        return self._landmarks if isinstance(self._landmarks, str) else self._landmarks.name

    @property
    def recognition_name(self) -> str:
        return self._recognition if isinstance(self._recognition, str) else self._recognition.name

    @property
    def same_person_distance(self) -> float:
        """The recognition backend's same-person distance (a class attribute: read without loading the model)."""
        if isinstance(self._recognition, str):
            return recognition_backend_class(self._recognition).same_person_distance
        return self._recognition.same_person_distance

    @functools.cached_property
    def landmarks(self) -> LandmarkBackend:
        """The landmark backend, loaded."""
        return get_landmark_backend(self._landmarks) if isinstance(self._landmarks, str) else self._landmarks

    @functools.cached_property
    def recognition(self) -> RecognitionBackend:
        """The recognition backend, loaded."""
        return get_recognition_backend(self._recognition) if isinstance(self._recognition, str) else self._recognition

    def analyse(
        self,
        video: str | os.PathLike[str],
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> tuple[tuple[FaceTrack, ...], dict[int, TrackEmbedding]]:
        """The whole file's face tracks, and their embeddings by track id."""
        video = Path(video).absolute()
        if video not in self._seen:
            info = probe(video)
            # Looked up first, so that a cached clip loads no model (the calls below would load them to pass them).
            tracks = self.cache.get(video, self.landmark_name) if self.cache is not None else None
            if tracks is None:
                tracks = track_clip(
                    video, self.landmarks, info=info, cache=self.cache, progress=progress, cancel=cancel
                )
            embeddings = None
            if self.cache is not None:
                embeddings = self.cache.get_embeddings(video, self.landmark_name, self.recognition_name, tracks)
            if embeddings is None:
                embeddings = embed_clip(
                    video,
                    tracks,
                    self.landmark_name,
                    self.recognition,
                    info=info,
                    cache=self.cache,
                    progress=progress,
                    cancel=cancel,
                )
            self._seen[video] = (tracks, {e.track_id: e for e in embeddings})
        return self._seen[video]

    def timeline_faces(
        self,
        clips: list[DialogueClip],
        skipped: tuple[str, ...] | list[str] = (),
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> TimelineFaces:
        """The faces of every dialogue clip, reporting `Progress("clips", done, total)` after each clip."""
        faces = []
        checked = cancellable(progress, cancel)
        for done, clip in enumerate(clips, start=1):
            tracks, embeddings = self.analyse(clip.video, progress=progress, cancel=cancel)
            for cut in cut_tracks(tracks, clip.start, clip.end):
                # Back to the file's frames: a face's frames and views are read from the media file.
                track = FaceTrack(cut.track_id, cut.first_frame + clip.start, cut.landmarks, cut.present, cut.boxes)
                faces.append(ClipFace(clip=clip, track=track, embedding=embeddings.get(track.track_id)))
            report(checked, Stage.CLIPS, done, len(clips), unit=Unit.ITEMS)
        return TimelineFaces(
            clips=tuple(clips),
            faces=tuple(faces),
            skipped=tuple(skipped),
            recognition=self.recognition_name,
            same_person_distance=self.same_person_distance,
        )
