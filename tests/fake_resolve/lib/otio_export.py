"""What the fake's `Timeline.Export(path, EXPORT_OTIO, EXPORT_NONE)` writes: Resolve's OTIO dialect, as
nle-integration §2.4 describes it from public code that mirrors Resolve exports and davinci-resolve-mcp's
bisection.

- the timeline carries `{"Resolve_OTIO": {"Resolve OTIO Meta Version": "1.0"}}` and starts (`global_start_time`)
  at its start timecode;
- tracks keep Resolve's names, with `Resolve_OTIO` metadata `{"Locked": ...}` (audio adds "Audio Type" and
  "SoloOn");
- clips are `Clip.2` with one `DEFAULT_MEDIA` external reference holding a bare path, its basename as name and a
  timecode-absolute available range; source ranges are timecode-absolute at the media's rate; linked picture and
  sound share a "Link Group ID"; a retime is a `LinearTimeWarp`; titles and solids are generator references;
- the space between clips is a gap, and a transition sits at its cut.
"""

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio


_META = "Resolve_OTIO"


def _time(value: Fraction | int, rate: Fraction) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(float(value), float(rate))


def _range(start: Fraction | int, duration: Fraction | int, rate: Fraction) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(_time(start, rate), _time(duration, rate))


def _media_start(pool_item, fake) -> tuple[Fraction, int]:
    properties = pool_item.properties
    rate = fake.exact_rate(properties["FPS"])
    return rate, fake.timecode_to_frame(properties["Start TC"], rate, properties.get("Drop frame") == "1")


def _clip(item, timeline, links: dict, fake) -> otio.schema.Clip:
    rate = timeline.rate
    if item.pool_item is None:
        return otio.schema.Clip(
            name=item.name,
            source_range=_range(0, item.end - item.start, rate),
            media_reference=otio.schema.GeneratorReference(name=item.name),
        )
    media_rate, media_start = _media_start(item.pool_item, fake)
    duration = Fraction(item.end - item.start) / rate * media_rate
    metadata = {}
    group = links.get(id(item))
    if group is not None:
        metadata[_META] = {"Link Group ID": group}
    clip = otio.schema.Clip(
        name=item.name, metadata=metadata, source_range=_range(media_start + item.left_offset, duration, media_rate)
    )
    reference = otio.schema.ExternalReference(
        target_url=str(item.pool_item.path),
        available_range=_range(media_start, item.pool_item.frame_count(), media_rate),
    )
    reference.name = item.pool_item.path.name
    clip.set_media_references({"DEFAULT_MEDIA": reference}, "DEFAULT_MEDIA")
    if item.speed != 1:
        clip.effects.append(otio.schema.LinearTimeWarp(name="Retime", time_scalar=float(item.speed)))
    clip.enabled = item.enabled
    return clip


def _track(kind: str, track, timeline, links: dict, fake) -> otio.schema.Track:
    metadata = {"Locked": track.locked}
    if kind == "audio":
        metadata.update({"Audio Type": (track.sub_type or "mono").capitalize(), "SoloOn": False})
    result = otio.schema.Track(
        name=track.name,
        kind=otio.schema.TrackKind.Video if kind == "video" else otio.schema.TrackKind.Audio,
        metadata={_META: metadata},
    )
    result.enabled = track.enabled
    cursor = timeline.start_frame
    items = sorted(track.items, key=lambda item: item.start)
    clips = [item for item in items if not (item.pool_item is None and not item.properties)]
    transitions = [item for item in items if item.pool_item is None and not item.properties]
    for item in clips:
        if item.start > cursor:
            result.append(otio.schema.Gap(source_range=_range(0, item.start - cursor, timeline.rate)))
        for transition in transitions:
            if transition.start < item.start < transition.end:
                result.append(
                    otio.schema.Transition(
                        name=transition.name,
                        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                        in_offset=_time(item.start - transition.start, timeline.rate),
                        out_offset=_time(transition.end - item.start, timeline.rate),
                    )
                )
        result.append(_clip(item, timeline, links, fake))
        cursor = item.end
    return result


def write_resolve_otio(timeline, path: Path) -> None:
    """Write the fake `timeline` as Resolve's OTIO export to `path`."""
    import fusionscript as fake  # the fake library this module belongs to (loaded under that name)

    links: dict[int, int] = {}
    for tracks in timeline.tracks.values():
        for track in tracks:
            for item in track.items:
                if item.linked and id(item) not in links:
                    group = len(set(links.values())) + 1
                    for member in (item, *item.linked):
                        links[id(member)] = group
    document = otio.schema.Timeline(
        name=timeline.name,
        global_start_time=_time(timeline.start_frame, timeline.rate),
        metadata={_META: {"Resolve OTIO Meta Version": "1.0"}},
    )
    document.tracks.name = ""
    for kind in ("video", "audio"):
        for track in timeline.tracks[kind]:
            document.tracks.append(_track(kind, track, timeline, links, fake))
    otio.adapters.write_to_file(document, str(path))
