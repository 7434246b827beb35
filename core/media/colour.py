"""Colour tags: FFmpeg's numeric codes (ITU-T H.273) <-> the names FFmpeg and editors print.

A clip's colour tags travel from the probe to the writer as these names, so a render is tagged exactly like its
source, and the same YUV matrix is used to decode the source and to encode the result (any mismatch would shift
every pixel outside the regenerated mouth).
"""

from av.video.reformatter import Colorspace

from keydub.core.errors import InvalidParameterError


# Codes from ITU-T H.273 as FFmpeg numbers them; the names are FFmpeg's (`ffprobe` prints the same). Code 2
# ("unspecified") is absent on purpose: an untagged clip has no entry and its tag reads as `None`.
PRIMARIES: dict[int, str] = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
TRANSFERS: dict[int, str] = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
MATRICES: dict[int, str] = {
    0: "gbr",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    11: "smpte2085",
    12: "chroma-derived-nc",
    13: "chroma-derived-c",
    14: "ictcp",
}
RANGES: dict[int, str] = {1: "tv", 2: "pc"}
UNSPECIFIED = {"primaries": 2, "transfer": 2, "matrix": 2, "range": 0}

# swscale knows fewer matrices than H.273 names; the rest fall back to its default (BT.601), which is also what
# it uses for untagged YUV, so decoding and encoding stay symmetric.
_SWSCALE_MATRICES: dict[str, Colorspace] = {
    "bt709": Colorspace.ITU709,
    "fcc": Colorspace.FCC,
    "bt470bg": Colorspace.ITU601,
    "smpte170m": Colorspace.SMPTE170M,
    "smpte240m": Colorspace.SMPTE240M,
    "bt2020nc": Colorspace.BT2020,
    "bt2020c": Colorspace.BT2020,
}


def name_of(table: dict[int, str], code: int) -> str | None:
    """The name of an FFmpeg colour code, or `None` when it is unspecified or unknown."""
    return table.get(int(code))


def code_of(table: dict[int, str], name: str | None, kind: str) -> int:
    """The FFmpeg colour code of `name` in `table`; the unspecified code of `kind` for `None`."""
    if name is None:
        return UNSPECIFIED[kind]
    for code, known in table.items():
        if known == name:
            return code
    raise InvalidParameterError(f"unknown colour {kind} tag {name!r}; expected one of {sorted(table.values())}")


def swscale_matrix(name: str | None) -> Colorspace | None:
    """The swscale matrix for a matrix tag, or `None` for swscale's default."""
    return _SWSCALE_MATRICES.get(name) if name is not None else None
