"""The panel's cast: characters named and given dub tracks, reference faces clicked on clips, and who is who in
every clip, without Qt.

A `CastEditor` holds the cast of the opened folder and each shot's overrides, and keeps both in the folder's panel
files (`SessionStore.save_cast`) after every change. Matching every clip takes the faces' embeddings, which may
need a landmark and a recognition pass: `matching()` gathers what that takes into a `CastMatching` whose `run` is
safe on any thread, and `apply(matches)` takes its answer back on the UI thread.

When some faces of a clip are characters with a dub track, the clip's render job names them as its speakers
(`speakers`): each face, by its track id, with its character's own stem (the clip's excerpt of that track), so
each face follows its own dub. Faces of characters without a dub track, and faces that are nobody, are not speakers.

A face's label is its match (`keydub.plugin.cast.match_cast`) with the shot's override over it: an override wins
over the matching, and a face matched to a character that an override gives to another face of the shot loses the
name and is flagged as a conflict. A match whose distance is close to the match distance is flagged as unsure:
on the shared test media one person's faces lie under 0.45 and two people's over 0.65 with dlib (threshold 0.6),
so a match above `LOW_CONFIDENCE_SHARE` of the threshold (0.51) is where a wrong name is most likely.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import opentimelineio as otio

from keydub.core.analysis import AnalysisCache
from keydub.core.cancel import CancelToken
from keydub.core.errors import InvalidParameterError, KeydubError
from keydub.core.progress import ProgressCallback
from keydub.plugin.cast import (
    Cast,
    Character,
    FaceAnalyser,
    FaceMatch,
    ReferenceFace,
    ShotCast,
    dialogue_clips,
    match_cast,
    read_cast,
    reference_embeddings,
    write_cast,
)
from keydub.plugin.cast.cast_file import MAX_CHARACTERS, MAX_NAME_LENGTH, MAX_REFERENCES
from keydub.plugin.jobs import CastSpeaker
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.events import CastChanged, CastMatched, ClipsChanged, EventSource
from keydub.plugin.panel.session import ShotOverrides
from keydub.plugin.timeline.plan import PlanOptions, plan_timeline
from keydub.plugin.timeline.tracks import tracks_of_kind


LOW_CONFIDENCE_SHARE = 0.85


@dataclass(frozen=True)
class CastLabel:
    """Who one face of a shot is, as its box on the viewer names it.

    Args:
        track_id (`int`): the face track.
        character (`str | None`): the character it is; `None` for nobody.
        distance (`float | None`): the distance to `nearest`'s nearest reference (`None`: not embedded, or no
            reference yet).
        nearest (`str | None`): the nearest character, matched or not.
        conflict (`bool`): another face of the shot is this character, closer or by an override.
        low_confidence (`bool`): matched, but close to the match distance.
        overridden (`bool`): the editor set who this face is in this shot.
    """

    track_id: int
    character: str | None
    distance: float | None
    nearest: str | None
    conflict: bool = False
    low_confidence: bool = False
    overridden: bool = False

    @property
    def is_flagged(self) -> bool:
        """Whether the editor should look at this face: an unsure match or a conflict."""
        return self.conflict or self.low_confidence

    def text(self) -> str:
        """E.g. `"Anna 0.32"`, `"Anna? 0.55"`, `"Anna (set)"`, `"nobody (set)"`, `"face 2: Anna twice"`."""
        distance = "" if self.distance is None else f" {self.distance:.2f}"
        if self.overridden:
            return f"{self.character or 'nobody'} (set)"
        if self.conflict:
            return f"face {self.track_id}: {self.nearest} twice"
        if self.character is not None:
            return f"{self.character}{'?' if self.low_confidence else ''}{distance}"
        return f"face {self.track_id}"


@dataclass(frozen=True)
class CastMatches:
    """Every clip matched against one cast.

    Args:
        cast (`Cast`): the cast matched.
        shots (`dict[str, ShotCast]`): each clip's matches, by clip id.
        match_distance (`float`): the distance under which a face is a character.
        seconds (`float`): how long the matching took (analyses computed on the way included).
        stems (`dict[tuple[str, str], Path | None]`): each clip's excerpt of each character's dub track, by
            `(clip id, track)` (`None`: no dialogue of that track under the clip).
        problems (`tuple[str, ...]`): one line per dub track that could not be planned.
    """

    cast: Cast
    shots: dict[str, ShotCast]
    match_distance: float
    seconds: float
    stems: dict[tuple[str, str], Path | None] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class CastMatching:
    """What matching every clip of the folder takes, gathered on the UI thread to `run` on a worker thread.

    Args:
        cast (`Cast`): the cast to match.
        timeline (`otio.schema.Timeline`): the opened timeline (replaced, never changed, by an edit).
        base_dir (`Path`), audio_cache (`Path`), options (`PlanOptions`): as `plan_timeline` takes them.
        analyser (`FaceAnalyser`): tracks and embeds the clips' faces through the analysis cache; used by one
            thread at a time.
    """

    cast: Cast
    timeline: otio.schema.Timeline
    base_dir: Path
    audio_cache: Path
    options: PlanOptions
    analyser: FaceAnalyser

    def run(self, progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> CastMatches:
        """Embed the references, take every clip's faces (analysed where no analysis is cached) and match them;
        plan each character's dub track under every clip.

        Raises:
            `NoFaceFoundError`: a reference shows no face (naming the character and the reference).
            `KeydubError`: a clip's media cannot be read, or the analysis was cancelled.
        """
        started = time.perf_counter()
        references = reference_embeddings(self.cast, self.analyser)
        clips, skipped = dialogue_clips(self.timeline, self.base_dir, self.options)
        faces = self.analyser.timeline_faces(clips, skipped, progress=progress, cancel=cancel)
        shots = match_cast(faces, references, self.cast.match_distance)
        stems, problems = self._stems()
        return CastMatches(
            cast=self.cast,
            shots={shot.clip.clip_id: shot for shot in shots},
            match_distance=self.cast.match_distance or faces.same_person_distance,
            seconds=time.perf_counter() - started,
            stems=stems,
            problems=problems,
        )

    def _stems(self) -> tuple[dict[tuple[str, str], Path | None], tuple[str, ...]]:
        """Each clip's excerpt of each character's dub track: one dry plan per track."""
        stems, problems = {}, []
        tracks = dict.fromkeys(c.dub_track for c in self.cast.characters if c.dub_track is not None)
        for track in tracks:
            try:
                plan = plan_timeline(
                    self.timeline,
                    self.base_dir,
                    self.audio_cache,
                    replace(self.options, dub_tracks=(track,)),
                    write_audio=False,
                )
            except KeydubError as error:
                problems.append(f"dub track {track!r}: {error}")
                continue
            for planned in plan.clips:
                stems[planned.clip_id, track] = planned.job.audio_file if planned.job is not None else None
        return stems, tuple(problems)


class CastEditor(EventSource):
    """The cast of the folder the panel's controller has open, its shots' overrides, and who is who in each clip.

    Emits `CastChanged` after every change to the cast or an override (the clips are then to be matched again) and
    `CastMatched` when the labels changed. A folder opened in the controller brings its own stored cast.

    Args:
        controller (`PanelController`): the panel's controller (the folder, its clips, their timeline).
        analyser_factory (`Callable[[str], FaceAnalyser] | None`): makes the face analyser for a landmark backend's
            name; defaults to one over the Keydub analysis cache, the one the face picker and renders read.
    """

    def __init__(
        self, controller: PanelController, analyser_factory: Callable[[str], FaceAnalyser] | None = None
    ) -> None:
        super().__init__()
        self.controller = controller
        self._analyser_factory = analyser_factory or _default_analyser
        self._analysers: dict[str, FaceAnalyser] = {}
        self.cast = Cast()
        self.overrides: ShotOverrides = {}
        self.matches: CastMatches | None = None
        controller.register_event_callback(ClipsChanged, self._on_controller_clips_changed)
        controller.set_speakers_source(self.speakers)
        self._on_controller_clips_changed(ClipsChanged())

    # Reading ------------------------------------------------------------------------------------------------
    @property
    def has_references(self) -> bool:
        """Whether any character has a reference face (else there is nothing to match)."""
        return any(character.references for character in self.cast.characters)

    @property
    def names(self) -> list[str]:
        return [character.name for character in self.cast.characters]

    def character(self, name: str) -> Character:
        return self.cast.character(name)

    def colour_index(self, name: str) -> int:
        """The character's place in the cast, which picks its colour."""
        return self.names.index(self.cast.character(name).name)

    def dub_track_choices(self) -> list[str]:
        """The audio tracks of the opened timeline, then any other dub track a character names (from a cast.toml)."""
        opened = self.controller.opened
        tracks = [] if opened is None else tracks_of_kind(opened.timeline, otio.schema.TrackKind.Audio)
        choices = [track.label for track in tracks]
        named = [c.dub_track for c in self.cast.characters if c.dub_track is not None and c.dub_track not in choices]
        return choices + list(dict.fromkeys(named))

    def labels(self, clip_id: str | None) -> dict[int, CastLabel]:
        """Who each face of the clip is, by track id (empty before the clip is matched)."""
        shot = self.matches.shots.get(clip_id) if self.matches is not None and clip_id is not None else None
        if shot is None:
            return {}
        overrides = self.overrides.get(clip_id, {})
        threshold = self.matches.match_distance
        # Until the cast is matched again, a renamed or removed character's faces are nobody's.
        known = set(self.names)
        labels = {face.track_id: _label(face, overrides, threshold, known) for face in shot.faces}
        given = {(name, face.frames) for face in shot.faces if (name := overrides.get(face.track_id)) is not None}
        for face in shot.faces:
            label = labels[face.track_id]
            if not label.overridden and label.character is not None and _is_given(label.character, face, given):
                labels[face.track_id] = replace(label, character=None, conflict=True, low_confidence=False)
        return labels

    def speakers(self, clip_id: str) -> tuple[CastSpeaker, ...]:
        """The clip's faces that are characters with a dub track, each with its own stem, in track id order
        (empty when none is: the clip renders its one face).

        A stem comes with the matching (planned on its thread): until the clips are matched after a dub track
        changed, that character is no speaker.
        """
        speakers = []
        for track_id, label in sorted(self.labels(clip_id).items()):
            character = self.cast.character(label.character) if label.character is not None else None
            if character is None or character.dub_track is None:
                continue
            stem = self.controller.dub_stem(clip_id, character.dub_track)
            if stem is not None:  # no line of theirs under this clip (or not planned yet): the face stays as it is
                speakers.append(
                    CastSpeaker(
                        character=character.name,
                        track_id=track_id,
                        digest=character.digest(),
                        consent=character.consent,
                        dub_track=character.dub_track,
                        audio_file=stem,
                        audio_sha256=stem.stem,  # stems are named after their samples' hash
                        distance=label.distance,
                    )
                )
        return tuple(speakers)

    # Changing -----------------------------------------------------------------------------------------------
    def add_character(self, name: str | None = None) -> str:
        """Add a character (named `"Character N"` without a name); returns its name."""
        if len(self.cast.characters) >= MAX_CHARACTERS:
            raise InvalidParameterError(f"a cast holds at most {MAX_CHARACTERS} characters")
        if name is None:
            number = len(self.cast.characters) + 1
            while f"character {number}" in {n.casefold() for n in self.names}:
                number += 1
            name = f"Character {number}"
        name = self._checked_name(name)
        self._set_cast(replace(self.cast, characters=(*self.cast.characters, Character(name=name))))
        return name

    def rename_character(self, name: str, new_name: str) -> str:
        """Rename a character (its overrides follow); returns the new name as stored."""
        old = self.cast.character(name)
        new_name = self._checked_name(new_name, old.name)
        self.overrides = {
            clip_id: {track_id: new_name if given == old.name else given for track_id, given in faces.items()}
            for clip_id, faces in self.overrides.items()
        }
        self._replace_character(old, replace(old, name=new_name))
        return new_name

    def remove_character(self, name: str) -> None:
        """Remove a character; the faces overridden to it go back to the matching."""
        old = self.cast.character(name)
        self.overrides = {
            clip_id: {track_id: given for track_id, given in faces.items() if given != old.name}
            for clip_id, faces in self.overrides.items()
        }
        self._set_cast(replace(self.cast, characters=tuple(c for c in self.cast.characters if c is not old)))

    def set_dub_track(self, name: str, dub_track: str | None) -> None:
        """The audio track with this character's dub (`None`: none, the shot's mixed dub)."""
        old = self.cast.character(name)
        self._replace_character(old, replace(old, dub_track=dub_track or None))

    def add_reference(self, name: str, clip_id: str, point: tuple[float, float], frame: int) -> ReferenceFace:
        """Make the face under `point` (source pixels) on file frame `frame` of the clip a reference of `name`."""
        old = self.cast.character(name)
        if len(old.references) >= MAX_REFERENCES:
            raise InvalidParameterError(f"{old.name!r} has {MAX_REFERENCES} reference faces already; clear them first")
        video = self.controller.session(clip_id).video
        reference = ReferenceFace(clip=video, frame=int(frame), point=(float(point[0]), float(point[1])))
        self._replace_character(old, replace(old, references=(*old.references, reference)))
        return reference

    def clear_references(self, name: str) -> None:
        old = self.cast.character(name)
        self._replace_character(old, replace(old, references=()))

    def set_override(self, clip_id: str, track_id: int, character: str | None) -> None:
        """In this shot only, face `track_id` is `character` (`None`: nobody), whatever the matching says."""
        self.controller.session(clip_id)
        name = None if character is None else self.cast.character(character).name
        self.overrides = {**self.overrides, clip_id: {**self.overrides.get(clip_id, {}), int(track_id): name}}
        self._save()
        self._emit(CastMatched())

    def clear_override(self, clip_id: str, track_id: int) -> None:
        """Give the face back to the matching."""
        faces = {key: value for key, value in self.overrides.get(clip_id, {}).items() if key != track_id}
        self.overrides = {**self.overrides, clip_id: faces}
        self._save()
        self._emit(CastMatched())

    def open_cast_file(self, path: str | os.PathLike[str]) -> None:
        """Replace the cast with a `cast.toml` (overrides to characters it lacks are dropped)."""
        cast = read_cast(path)
        names = {character.name for character in cast.characters}
        self.overrides = {
            clip_id: {track_id: given for track_id, given in faces.items() if given is None or given in names}
            for clip_id, faces in self.overrides.items()
        }
        self._set_cast(cast)

    def save_cast_file(self, path: str | os.PathLike[str]) -> Path:
        """Write the cast as a `cast.toml` (replacing the file); returns its path."""
        return write_cast(self.cast, path, overwrite=True)

    # Matching -----------------------------------------------------------------------------------------------
    def matching(self) -> CastMatching:
        """What matching every clip against the cast as it is now takes, to `run` off the UI thread."""
        opened = self.controller.opened
        if opened is None:
            raise InvalidParameterError("open a clip or timeline before matching the cast")
        backend = self.controller.options.landmark_backend
        if backend not in self._analysers:
            self._analysers[backend] = self._analyser_factory(backend)
        return CastMatching(
            cast=self.cast,
            timeline=opened.timeline,
            base_dir=opened.base_dir,
            audio_cache=opened.out_dir / ".keydub" / "audio",
            options=self.controller.plan_options(),
            analyser=self._analysers[backend],
        )

    def apply(self, matches: CastMatches) -> bool:
        """Take a matching's answer (on the UI thread); one for a cast that has changed since is dropped, the
        newer matching being on its way. Returns whether it was taken."""
        if matches.cast != self.cast:
            return False
        self.matches = matches
        self.controller.record_stems(matches.stems)
        self._emit(CastMatched())
        return True

    def forget_matches(self) -> None:
        """Drop the labels (no character has a reference left to match)."""
        self.matches = None
        self._emit(CastMatched())

    def close(self) -> None:
        """Stop following the controller (the dock that owns this editor is going away)."""
        self.controller.unregister_event_callback(ClipsChanged, self._on_controller_clips_changed)
        self.controller.set_speakers_source(None)

    # Internals ----------------------------------------------------------------------------------------------
    def _checked_name(self, name: str, current: str | None = None) -> str:
        name = str(name).strip()
        if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise InvalidParameterError(f"a character's name is printable text of 1 to {MAX_NAME_LENGTH} characters")
        taken = {n.casefold() for n in self.names if n != current}
        if name.casefold() in taken:
            raise InvalidParameterError(f"the cast already has a character called {name!r}; choose another name")
        return name

    def _replace_character(self, old: Character, new: Character) -> None:
        characters = tuple(new if character is old else character for character in self.cast.characters)
        self._set_cast(replace(self.cast, characters=characters))

    def _set_cast(self, cast: Cast) -> None:
        self.cast = cast
        self._save()
        self._emit(CastChanged())

    def _save(self) -> None:
        opened = self.controller.opened
        if opened is not None:
            self.controller.session_store().save_cast(opened.source, self.cast, self.overrides)

    def _on_controller_clips_changed(self, _event: ClipsChanged) -> None:
        opened = self.controller.opened
        self.matches = None
        if opened is None:
            self.cast, self.overrides = Cast(), {}
        else:
            self.cast, self.overrides = self.controller.session_store().load_cast(opened.source)
        self._emit(CastChanged())


def _default_analyser(landmark_backend: str) -> FaceAnalyser:
    return FaceAnalyser(landmark_backend, cache=AnalysisCache())


def _label(face: FaceMatch, overrides: dict[int, str | None], threshold: float, known: set[str]) -> CastLabel:
    nearest = face.nearest if face.nearest in known else None
    if face.track_id in overrides:
        return CastLabel(face.track_id, overrides[face.track_id], face.distance, nearest, overridden=True)
    character = face.character if face.character in known else None
    conflict = face.conflict and nearest is not None
    unsure = character is not None and face.distance >= LOW_CONFIDENCE_SHARE * threshold
    return CastLabel(face.track_id, character, face.distance, nearest, conflict, unsure)


def _is_given(name: str, face: FaceMatch, given: set[tuple[str, tuple[int, int]]]) -> bool:
    """Whether an override gives `name` to another face on screen with `face`."""
    start, end = face.frames
    return any(name == other and other_start < end and start < other_end for other, (other_start, other_end) in given)
