"""A timeline rendered by its cast: in each dialogue clip, the characters' faces are lip-synced and no other.

`cast_plan` takes a plan (`plan_timeline`) and a `Cast`, matches every dialogue clip's face tracks to the characters
(the cached face analyses and their identity embeddings, `keydub.plugin.cast`), and gives each clip's job its
speakers:

- a character with its own dub track (`dub_track = "DX es ANNA"` or `"A3"`) is synced to its stem: that track's
  audio under the clip and its handles, cut as the planner cuts the dub;
- a character without one follows the mixed dub (`--dub-track`), only where it speaks in the original dialogue
  (the job's `active_speaker`).

Faces that match no character are never touched. A character whose stem has dialogue under a clip that does not
show its face is reported on the clip (`PlannedClip.cast_notes`), not guessed; a clip that shows no character who
speaks is skipped with one line. The job hash holds which character is which face track, with a digest of the
character's references and dub track, so a change to one character re-renders only that character's shots.
"""

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from keydub.core.cancel import CancelToken
from keydub.core.progress import ProgressCallback
from keydub.plugin.cast.cast_file import Cast, Character
from keydub.plugin.cast.matching import FaceMatch, ShotCast, match_cast, reference_embeddings
from keydub.plugin.cast.timeline_faces import DialogueClip, FaceAnalyser
from keydub.plugin.jobs import AudioPiece, CastSpeaker
from keydub.plugin.timeline.audio import DubTrackIndex, assemble_audio, cached_wav, pieces_under
from keydub.plugin.timeline.plan import PlannedClip, PlanOptions, TimelinePlan, dub_window, speaks_under
from keydub.plugin.timeline.tracks import TrackRef, record_origin, select_dub_tracks


@dataclass(frozen=True)
class _Stems:
    """Where the characters' own dub tracks are, and how to cut them under a clip."""

    base_dir: Path
    audio_cache: Path
    options: PlanOptions
    write_audio: bool
    rate: Fraction
    origin: int
    tracks: dict[str, TrackRef]
    indexes: dict[int, DubTrackIndex] = field(default_factory=dict)

    def cut(self, planned: PlannedClip, ref: TrackRef) -> tuple[list[AudioPiece], np.ndarray]:
        """The track's pieces under the clip and its handles, and their samples."""
        index = self.indexes.get(ref.index) or self.indexes.setdefault(ref.index, DubTrackIndex(ref))
        start, duration = dub_window(planned, self.rate, self.origin)
        pieces = pieces_under([index], start, start + duration, self.base_dir, self.options.relink)
        return pieces, assemble_audio(pieces, duration, self.options.sample_rate)

    def stem_file(self, samples: np.ndarray) -> tuple[Path, str]:
        """The stem's content-named WAV in the audio cache (written unless planning a dry run) and its digest."""
        return cached_wav(self.audio_cache, samples, self.options.sample_rate, self.write_audio)


def cast_plan(
    plan: TimelinePlan,
    timeline: otio.schema.Timeline,
    cast: Cast,
    analyser: FaceAnalyser,
    base_dir: Path,
    audio_cache: Path,
    options: PlanOptions,
    write_audio: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TimelinePlan:
    """The plan with each dialogue clip's job given its cast's speakers, or skipped with the reason.

    Args:
        plan (`TimelinePlan`): the plan without a cast.
        timeline (`otio.schema.Timeline`): the timeline it was planned from (the characters' dub tracks are on it).
        cast (`Cast`): the characters.
        analyser (`FaceAnalyser`): finds and recognises the faces, with the render's landmark backend.
        base_dir (`Path`), audio_cache (`Path`), options (`PlanOptions`), write_audio (`bool`): as for
            `plan_timeline`.
        progress (`ProgressCallback | None`): the face analysis' progress.
        cancel (`CancelToken | None`): stops the face analysis.

    Raises:
        `TimelineError`: a character's dub track is not an audio track of the timeline.
        `NoFaceFoundError`, `MediaNotFoundError`, `UnsupportedMediaError`: a reference face cannot be read.
    """
    # 1. The characters' own dub tracks, checked before any face is analysed.
    tracks = {
        character.name: select_dub_tracks(timeline, (character.dub_track,))[0]
        for character in cast.characters
        if character.dub_track is not None
    }
    stems = _Stems(
        base_dir=Path(base_dir).absolute(),
        audio_cache=Path(audio_cache).absolute(),
        options=options,
        write_audio=write_audio,
        rate=plan.rate,
        origin=record_origin(timeline, plan.rate),
        tracks=tracks,
    )
    # 2. Who is who in every clip with a job. Track ids are those of one landmark backend: a clip rendered with
    #    another (its own `params`) would be told ids of faces its render does not number the same way.
    plan = replace(plan, clips=tuple(_one_backend(planned, analyser.landmark_name) for planned in plan.clips))
    clips = [DialogueClip.of(planned, plan.rate) for planned in plan.clips if planned.job is not None]
    references = reference_embeddings(cast, analyser)
    faces = analyser.timeline_faces(clips, progress=progress, cancel=cancel)
    shots = {shot.clip.clip_id: shot for shot in match_cast(faces, references, cast.match_distance)}
    # 3. Each clip's speakers.
    return replace(
        plan,
        clips=tuple(
            _cast_clip(planned, shots[planned.clip_id], cast, stems) if planned.job is not None else planned
            for planned in plan.clips
        ),
    )


def _one_backend(planned: PlannedClip, backend: str) -> PlannedClip:
    """The clip, skipped when its render would find faces with another landmark backend than the cast's matching."""
    if planned.job is None or planned.job.options.landmark_backend == backend:
        return planned
    return replace(
        planned,
        job=None,
        skip_reason=f"its landmark backend {planned.job.options.landmark_backend!r} (metadata keydub.params) is not "
        f"the batch's {backend!r}, which the cast's faces are matched with; drop it from the clip's params",
    )


def _cast_clip(planned: PlannedClip, shot: ShotCast, cast: Cast, stems: _Stems) -> PlannedClip:
    speakers: list[CastSpeaker] = []
    notes: list[str] = []
    for character in cast.characters:
        face = shot.face_of(character.name)
        if character.dub_track is None:
            if face is not None:
                speakers.append(_speaker(character, face))
            continue
        ref = stems.tracks[character.name]
        pieces, samples = stems.cut(planned, ref)
        speaks = speaks_under(planned, samples, stems.rate, stems.options.sample_rate)
        if face is None:
            if speaks:
                notes.append(
                    f"{character.name}'s dub on {ref.label} speaks under the shot, but {character.name}'s face is "
                    "not in it: not synced"
                )
            continue
        if not speaks:
            notes.append(f"{character.name} is silent on {ref.label} under the shot: left untouched")
            continue
        path, digest = stems.stem_file(samples)
        speakers.append(_speaker(character, face, ref.label, path, digest, tuple(pieces)))
    if not speakers:
        is_seen = any(face.character is not None for face in shot.faces)
        why = "no character of the cast speaks in the shot" if is_seen else "no character of the cast is in the shot"
        faces = "; ".join(_describe(face) for face in shot.faces) or "no face found"
        return replace(planned, job=None, skip_reason="; ".join([f"{why} ({faces})", *notes]))
    job = replace(
        planned.job,
        speakers=tuple(speakers),
        active_speaker=any(speaker.audio_file is None for speaker in speakers),
    )
    return replace(planned, job=job, cast_notes=tuple(notes))


def _speaker(
    character: Character,
    face: FaceMatch,
    dub_track: str | None = None,
    audio_file: Path | None = None,
    audio_sha256: str | None = None,
    audio_pieces: tuple[AudioPiece, ...] = (),
) -> CastSpeaker:
    return CastSpeaker(
        character=character.name,
        track_id=face.track_id,
        digest=character.digest(),
        consent=character.consent,
        dub_track=dub_track,
        audio_file=audio_file,
        audio_sha256=audio_sha256,
        audio_pieces=audio_pieces,
        distance=face.distance,
    )


def _describe(face: FaceMatch) -> str:
    if face.distance is None:
        return f"track {face.track_id} not recognisable"
    if face.character is not None:
        return f"track {face.track_id} {face.character} {face.distance:.3f}"
    return f"track {face.track_id} nearest {face.nearest} {face.distance:.3f}"
