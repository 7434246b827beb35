"""The faces a render regenerates, each with the dub its lips follow: one lane per speaker.

A render has one lane per `Speaker` of its request (the one `face` when it names none). With `active_speaker`, the
original dialogue decides where each face is lip-synced: a lane keeps only the stretches of speech its face is sure
to speak (`keydub.core.speakers`), unsure stretches stay untouched and are reported, and without named speakers
every face that speaks somewhere gets a lane. Lanes are generated in one pass and pasted into the same frames, so
two lanes whose regions would touch on a frame are refused before any model work.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from keydub.core.analysis import ClipAnalysis, resolve_identity
from keydub.core.compositing.crop import CropWindow, blend_region
from keydub.core.compositing.masks import leakproof_mask
from keydub.core.errors import InvalidParameterError
from keydub.core.faces.active_speaker import ActiveSpeakers, SpeakerTurn
from keydub.core.faces.target import TargetFace
from keydub.core.render.request import FaceChoice, RenderRequest, Speaker


# Why a face's frames pass through when the original dialogue decided who speaks.
NOT_SPEAKING = "not speaking in the original dialogue"
# Frames named in an overlap error: enough to find the place, short enough for one line.
_FRAMES_NAMED = 5


@dataclass(frozen=True)
class FaceLane:
    """One face to regenerate over the render range and the dub that drives it.

    Args:
        speaker (`Speaker`): the speaker, its audio and offset filled in.
        clip (`ClipAnalysis`): the range's analysis with this face as target, kept only on the frames it is
            lip-synced (elsewhere it passes through).
        withheld (`str`): why the face's other frames pass through ("" when it is synced wherever it is present).
    """

    speaker: Speaker
    clip: ClipAnalysis
    withheld: str = ""

    @property
    def label(self) -> str:
        """How reports name it: the character, else the face's tracks."""
        tracks = ", ".join(str(t) for t in sorted({int(i) for i in self.clip.face.track_ids if i >= 0}))
        return self.speaker.name or f"face {tracks or '-'}"


@dataclass(frozen=True)
class LanePlan:
    """The render's lanes, and what the original dialogue said when it decided them.

    Args:
        lanes (`tuple[FaceLane, ...]`): in the request's speaker order (by first turn without named speakers).
        speakers (`ActiveSpeakers | None`): the turns found, with `active_speaker`.
        unsure (`tuple[SpeakerTurn, ...]`): turns left untouched because no face was sure to speak them.
    """

    lanes: tuple[FaceLane, ...]
    speakers: ActiveSpeakers | None = None
    unsure: tuple[SpeakerTurn, ...] = ()


def plan_lanes(request: RenderRequest, clip: ClipAnalysis, speakers: ActiveSpeakers | None = None) -> LanePlan:
    """The lanes of `request` over the range analysed by `clip` (`speakers`: the turns, with `active_speaker`).

    Raises:
        `NoFaceFoundError`, `InvalidParameterError`: a speaker's face is not in the range, or two speakers name one
            face.
    """
    named = request.face_speakers()
    if request.active_speaker and not request.speakers:
        tracks = speakers.speaking_tracks() if speakers is not None else []
        named = tuple(replace(named[0], face=FaceChoice(track_id=track)) for track in tracks)
    lanes = [FaceLane(speaker, clip.for_range(clip.start, clip.end, face=speaker.face)) for speaker in named]
    _refuse_shared_faces(lanes)
    lanes = [_kept_on(lane, lane.speaker.frames, clip.start, "outside the speaker's frames") for lane in lanes]
    unsure: tuple[SpeakerTurn, ...] = ()
    if speakers is not None:
        unsure = tuple(turn for turn in speakers.turns if not turn.is_sure)
        lanes = [_speaking_only(lane, speakers) for lane in lanes]
    return LanePlan(tuple(lanes), speakers, unsure)


def _refuse_shared_faces(lanes: list[FaceLane]) -> None:
    owners: dict[int, str] = {}
    for number, lane in enumerate(lanes, 1):
        who = lane.speaker.name or f"speaker {number}"
        for track in {int(i) for i in lane.clip.face.track_ids if i >= 0}:
            if track in owners:
                raise InvalidParameterError(
                    f"{owners[track]} and {who} name the same face (track {track}); give each speaker its own face"
                )
            owners[track] = who


def _speaking_only(lane: FaceLane, speakers: ActiveSpeakers) -> FaceLane:
    """The lane kept on the sure turns its face speaks."""
    tracks = {int(i) for i in lane.clip.face.track_ids if i >= 0}
    turns = [(t.start, t.end) for t in speakers.turns if t.is_sure and t.track_id in tracks]
    return _kept_on(lane, turns, 0, NOT_SPEAKING)


def _kept_on(lane: FaceLane, ranges: Sequence[tuple[int, int]] | None, offset: int, why: str) -> FaceLane:
    """`lane` with its face kept only inside `ranges` (`[start, end)` frames, `offset` being the range's first
    frame on their clock); `None` keeps it everywhere."""
    if ranges is None:
        return lane
    keep = np.zeros(lane.clip.face.frame_count, dtype=bool)
    for a, b in ranges:
        keep[max(a - offset, 0) : max(b - offset, 0)] = True
    return replace(lane, clip=restricted(lane.clip, keep), withheld=why)


def restricted(clip: ClipAnalysis, keep: np.ndarray) -> ClipAnalysis:
    """`clip` with its target face kept only where `keep` (range-relative) is true; the crop windows stay those of
    the whole face, so a kept stretch is cropped exactly as in a render of every frame."""
    face = clip.face
    track_ids = np.where(keep, face.track_ids, -1)
    landmarks = np.where(keep[:, None, None], face.landmarks, np.nan).astype(np.float32)
    boxes = np.where(keep[:, None], face.boxes, np.nan).astype(np.float32)
    target = TargetFace(landmarks=landmarks, boxes=boxes, track_ids=track_ids)
    identity_frames = tuple(a + resolve_identity(clip.identity, target, (a, b)) for a, b in target.segments())
    return replace(clip, face=target, identity_frames=identity_frames)


def refuse_overlapping(lanes: tuple[FaceLane, ...], frame_shape: tuple[int, ...], feather: float) -> None:
    """Refuse lanes whose blended regions would share a source pixel on some frame, naming the frames.

    Raises:
        `InvalidParameterError`: naming the two speakers and the first frames where their regions meet.
    """
    for i, first in enumerate(lanes):
        for second in lanes[i + 1 :]:
            frames = _overlapping_frames(first.clip, second.clip, frame_shape, feather)
            if frames:
                named = ", ".join(str(f) for f in frames[:_FRAMES_NAMED])
                more = f" and {len(frames) - _FRAMES_NAMED} more" if len(frames) > _FRAMES_NAMED else ""
                raise InvalidParameterError(
                    f"the mouth regions of {first.label} and {second.label} overlap on source frame(s) {named}{more}; "
                    "render those frames one face at a time (--in/--out), or give the speakers frames that do not meet"
                )


def _overlapping_frames(a: ClipAnalysis, b: ClipAnalysis, frame_shape: tuple[int, ...], feather: float) -> list[int]:
    both = np.flatnonzero(a.face.present & b.face.present)
    frames = []
    for offset in both:
        window_a, window_b = a.windows[offset], b.windows[offset]
        # The crop squares bound the regions: only frames where they meet need the exact pixels.
        if not _squares_meet(window_a, window_b):
            continue
        region_a = blend_region(frame_shape, window_a, _region(a, offset), feather)
        region_b = blend_region(frame_shape, window_b, _region(b, offset), feather)
        if (region_a & region_b).any():
            frames.append(a.start + int(offset))
    return frames


def _region(clip: ClipAnalysis, offset: int) -> np.ndarray:
    window = clip.windows[offset]
    return leakproof_mask(window.to_crop(clip.face.landmarks[offset]), window.output_size)


def _squares_meet(a: CropWindow, b: CropWindow) -> bool:
    half_a, half_b = a.size / 2, b.size / 2
    return abs(a.center_x - b.center_x) < half_a + half_b and abs(a.center_y - b.center_y) < half_a + half_b
