"""Which tracks hold the picture and which hold the dub dialogue, and the timeline's record clock."""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from keydub.core.errors import TimelineError
from keydub.plugin.timeline.timecode import exact_rate, to_frames


# Our namespace in OTIO metadata (the file-format spec asks every tool to nest its data under its own key).
METADATA_KEY = "keydub"


@dataclass(frozen=True)
class TrackRef:
    """A top-level track of a timeline.

    Args:
        index (`int`): position among `timeline.tracks` (the stack), bottom first.
        position (`str`): `V1`, `A2`...: the track's kind and 1-based place among tracks of that kind, as editors
            number them.
        label (`str`): how plans, job ids and messages name it: its name when no other track of its kind has
            that name, else (no name, or a shared one) its position, with the name after it when it has one.
        track (`otio.schema.Track`): the track itself.
    """

    index: int
    position: str
    label: str
    track: otio.schema.Track


def placed_items(track: otio.schema.Track) -> list[tuple[int, otio.core.Composable, otio.opentime.TimeRange]]:
    """`(index, item, range in the track)` for every item but transitions, computed in one pass over the track
    (asking for each child's range on its own re-walks the track: quadratic on a feature-length cut)."""
    ranges = track.range_of_all_children()
    return [
        (index, item, ranges[item]) for index, item in enumerate(track) if not isinstance(item, otio.schema.Transition)
    ]


def plain(value: Any) -> Any:
    """OTIO metadata (`AnyDictionary`/`AnyVector`, nested) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(item) for item in value]
    return value


def keydub_metadata(item: otio.core.SerializableObjectWithMetadata) -> dict[str, Any]:
    """The `metadata["keydub"]` of an OTIO object as a plain dict (empty when absent or not a dict)."""
    value = item.metadata.get(METADATA_KEY)
    return plain(value) if isinstance(value, Mapping) else {}


def timeline_rate(timeline: otio.schema.Timeline) -> Fraction:
    """The record frame rate: the rate of `global_start_time`, else of the first clip on a video track."""
    if timeline.global_start_time is not None:
        return exact_rate(timeline.global_start_time.rate)
    for track in timeline.video_tracks():
        for clip in track.find_clips(shallow_search=True):
            return exact_rate(clip.duration().rate)
    raise TimelineError(
        f"timeline {timeline.name!r} has no clips on its video tracks; export a timeline that holds the picture cut"
    )


def record_origin(timeline: otio.schema.Timeline, rate: Fraction) -> int:
    """The timeline's start timecode as an absolute frame number (86400 for 01:00:00:00 at 24 fps)."""
    if timeline.global_start_time is None:
        return 0
    return to_frames(timeline.global_start_time, rate, "the timeline's start time")


def tracks_of_kind(timeline: otio.schema.Timeline, kind: str) -> list[TrackRef]:
    """The top-level tracks of `kind` (`otio.schema.TrackKind.Video` or `.Audio`), bottom first."""
    prefix = "V" if kind == otio.schema.TrackKind.Video else "A"
    tracks = [
        (index, child)
        for index, child in enumerate(timeline.tracks)
        if isinstance(child, otio.schema.Track) and child.kind == kind
    ]
    names = Counter(child.name for _, child in tracks)
    refs = []
    for number, (index, child) in enumerate(tracks, start=1):
        position = f"{prefix}{number}"
        if not child.name:
            label = position
        elif names[child.name] > 1:
            label = f"{position} {child.name}"
        else:
            label = child.name
        refs.append(TrackRef(index=index, position=position, label=label, track=child))
    return refs


def select_picture_tracks(timeline: otio.schema.Timeline, names: Sequence[str] = ()) -> list[TrackRef]:
    """The video tracks whose clips are rendered.

    Args:
        timeline (`otio.schema.Timeline`): the dubbing timeline.
        names (`Sequence[str]`, defaults to `()`): track names (or `V1`, `V2`...); empty for every enabled video
            track except Keydub's own output tracks.

    Raises:
        `TimelineError`: a name matches no video track (the message lists them), or no track qualifies.
    """
    video = tracks_of_kind(timeline, otio.schema.TrackKind.Video)
    if names:
        return _tracks_named(video, names, "video")
    chosen = [ref for ref in video if ref.track.enabled and keydub_metadata(ref.track).get("role") != "output"]
    if not chosen:
        raise TimelineError(
            f"timeline {timeline.name!r} has no enabled video track; enable the picture track or "
            f"name it with --video-track ({_listing(video)})"
        )
    return chosen


def select_dub_tracks(
    timeline: otio.schema.Timeline, names: Sequence[str] = (), language: str | None = None
) -> list[TrackRef]:
    """The audio tracks holding the dub dialogue (several are summed, for dialogue split over tracks).

    Chosen by name when `names` is given; else by language: tracks whose `metadata["keydub"]["lang"]` is
    `language`, or failing that whose name contains it as a word ("DX es-419"); else the tracks marked
    `metadata["keydub"]["role"] == "dub_dialogue"`.

    Raises:
        `TimelineError`: a name or language matches no audio track, or nothing says which track is the dub (the
            message lists the audio tracks).
    """
    audio = tracks_of_kind(timeline, otio.schema.TrackKind.Audio)
    if names:
        return _tracks_named(audio, names, "audio")
    if language:
        wanted = language.casefold()
        tagged = [ref for ref in audio if str(keydub_metadata(ref.track).get("lang", "")).casefold() == wanted]
        named = [ref for ref in audio if wanted in ref.label.casefold().split()]
        if tagged or named:
            return tagged or named
        raise TimelineError(
            f"no audio track is in language {language!r} (by metadata keydub.lang or by name); "
            f"audio tracks: {_listing(audio)}; pick one with --dub-track NAME"
        )
    marked = [ref for ref in audio if keydub_metadata(ref.track).get("role") == "dub_dialogue"]
    if marked:
        return marked
    raise TimelineError(
        f"say which audio track holds the dub dialogue with --dub-track NAME or --dub-lang LANG; "
        f"audio tracks: {_listing(audio)}"
    )


def _tracks_named(refs: list[TrackRef], names: Sequence[str], kind: str) -> list[TrackRef]:
    """The tracks `names` name, each once.

    Raises:
        `TimelineError`: a name matches no track, is shared by several (the message lists their positions), or
            two names are the same track (a dub track summed twice would play 6 dB louder).
    """
    chosen: dict[int, str] = {}
    refs_chosen = []
    for name in names:
        ref = _track_named(refs, name, kind)
        if ref.index in chosen:
            raise TimelineError(
                f"{kind} track {ref.position} ({ref.track.name or 'no name'}) is given twice, as "
                f"{chosen[ref.index]!r} and {name!r}; name each track once"
            )
        chosen[ref.index] = name
        refs_chosen.append(ref)
    return refs_chosen


def _track_named(refs: list[TrackRef], name: str, kind: str) -> TrackRef:
    """The track named `name` (exactly, else ignoring case), else the one at position `name` (`A2`)."""
    for matches in (
        [ref for ref in refs if ref.track.name == name],
        [ref for ref in refs if ref.track.name.casefold() == name.casefold()],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            positions = ", ".join(ref.position for ref in matches)
            raise TimelineError(
                f"{len(matches)} {kind} tracks are named {name!r} ({positions}); choose one by its position, "
                f"e.g. {matches[-1].position}"
            )
    for ref in refs:
        if ref.position.casefold() == name.casefold():
            return ref
    raise TimelineError(f"the timeline has no {kind} track named {name!r}; {kind} tracks: {_listing(refs)}")


def _listing(refs: list[TrackRef]) -> str:
    """`'Picture', V2, V3 'Sequence', V4 'Sequence'`: every track by name, by position where it has no name of its
    own."""
    if not refs:
        return "none"
    return ", ".join(
        repr(ref.label)
        if ref.label == ref.track.name
        else f"{ref.position} {ref.track.name!r}"
        if ref.track.name
        else ref.position
        for ref in refs
    )
