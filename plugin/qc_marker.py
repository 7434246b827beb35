"""The QC marker Keydub puts on every rendered clip, the same in an OTIO timeline and in Resolve.

Its note says first what the clip is ("AI-modified: lower face", the disclosure every render carries), then gives
the figures an editor checks before accepting a render: the share of frames where the chosen face
was found (face coverage), the share of those with an open mouth (LipLeak, high when the mouth moves during silence
or never closes), and the frames passed through unchanged. Standard library only: the Resolve bridge uses it too.
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

    return {
        "frames": int(qc.get("frames", 0) or 0),
        "passed_through": int(qc.get("passed_through", 0) or 0),
        "face_coverage": number("face_coverage"),
        "open_mouth_share": number("open_mouth_share"),
    }


def qc_note(qc: Mapping[str, Any]) -> str:
    """The marker's note, e.g. `"AI-modified: lower face; face coverage 100.0%, open mouth 12.5%, 0 of 26 frames
    passed through"`."""
    figures = qc_figures(qc)

    def percent(value: float | None) -> str:
        return "not measured" if value is None else f"{100 * value:.1f}%"

    return (
        f"{DISCLOSURE_LABEL}; face coverage {percent(figures['face_coverage'])}, "
        f"open mouth {percent(figures['open_mouth_share'])}, "
        f"{figures['passed_through']} of {figures['frames']} frames passed through"
    )


def qc_colour(qc: Mapping[str, Any]) -> str:
    """The marker colour: green when no frame was passed through, yellow otherwise."""
    return COLOUR_ALL_FRAMES if qc_figures(qc)["passed_through"] == 0 else COLOUR_SOME_PASSED_THROUGH
