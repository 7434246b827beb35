"""The QC marker Keydub puts on every rendered clip, the same in an OTIO timeline and in Resolve.

Its note says first what the clip is ("AI-modified: lower face", the disclosure every render carries), then gives
the figures an editor checks before accepting a render: the share of frames where the chosen face
was found (face coverage), the share of those with an open mouth (LipLeak, high when the mouth moves during silence
or never closes), and the frames passed through unchanged. In a shot rendered by its cast it names who was synced,
with each face's match distance, and the characters left out. Standard library only: the Resolve bridge uses it too.
"""

from collections.abc import Mapping
from typing import Any

from keydub.core.disclosure import DISCLOSURE_LABEL


MARKER_NAME = "Keydub"
# Resolve's marker colours (title case in its API, upper case in its OTIO): green when every frame was regenerated.
COLOUR_ALL_FRAMES = "Green"
COLOUR_SOME_PASSED_THROUGH = "Yellow"


def qc_figures(qc: Mapping[str, Any]) -> dict[str, Any]:
    """The marker's figures from a render's QC record (`ClipOutcome.qc`): frames, passed through, face coverage
    and open-mouth share (`None` when the render did not measure them, e.g. a recovered render)."""

    def number(key: str) -> float | None:
        value = qc.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    figures = {
        "frames": int(qc.get("frames", 0) or 0),
        "passed_through": int(qc.get("passed_through", 0) or 0),
        "face_coverage": number("face_coverage"),
        "open_mouth_share": number("open_mouth_share"),
    }
    if qc.get("speakers"):
        figures["speakers"] = list(qc["speakers"])
        figures["cast_notes"] = list(qc.get("cast_notes", []))
    if qc.get("unsure_turns"):
        figures["unsure_turns"] = list(qc["unsure_turns"])
    return figures


def qc_note(qc: Mapping[str, Any]) -> str:
    """The marker's note, e.g. `"AI-modified: lower face; face coverage 100.0%, open mouth 12.5%, 0 of 26 frames
    passed through"`."""
    figures = qc_figures(qc)

    def percent(value: float | None) -> str:
        return "not measured" if value is None else f"{100 * value:.1f}%"

    note = (
        f"face coverage {percent(figures['face_coverage'])}, open mouth {percent(figures['open_mouth_share'])}, "
        f"{figures['passed_through']} of {figures['frames']} frames passed through"
    )
    if "speakers" in figures:
        note = f"{cast_note(figures['speakers'])}; {note}"
    return "; ".join(
        [DISCLOSURE_LABEL, note, *figures.get("cast_notes", []), *unsure_lines(figures.get("unsure_turns", []))]
    )


def unsure_lines(turns: list[Mapping[str, Any]]) -> list[str]:
    """One line per stretch of original dialogue no face was sure to speak, which the render left untouched."""
    return [
        f"source frames {turn['range'][0]}-{turn['range'][1] - 1} left untouched: no face is sure to speak them "
        f"(confidence {turn['confidence']:.2f})"
        for turn in turns
    ]


def cast_note(speakers: list[Mapping[str, Any]]) -> str:
    """Who a render synced, e.g. `"synced Anna (track 0, distance 0.312, DX es ANNA), Bob (track 1, ...)"`."""

    def distance(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "unknown"

    return "synced " + ", ".join(
        f"{speaker.get('character')} (track {speaker.get('track_id')}, distance {distance(speaker.get('distance'))}, "
        f"{speaker.get('dub')})"
        for speaker in speakers
    )


def qc_colour(qc: Mapping[str, Any]) -> str:
    """The marker colour: green when no frame was passed through, yellow otherwise."""
    return COLOUR_ALL_FRAMES if qc_figures(qc)["passed_through"] == 0 else COLOUR_SOME_PASSED_THROUGH
