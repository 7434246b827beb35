"""The output codecs: the one list every layer takes its codec names, extensions and containers from.

Plain data, light to import (no PyAV): the command line, job checks and the panel read it; `VideoWriter` encodes
with it. ProRes and H.264 go in QuickTime (a `tmcd` track carries the start timecode); FFV1 is not allowed in
QuickTime, Matroska carries it with a TIMECODE tag.
"""

from dataclasses import dataclass

from keydub.core.errors import InvalidParameterError


@dataclass(frozen=True)
class Codec:
    """One output codec: what the help says of it, where it goes, and how `VideoWriter` encodes it."""

    description: str
    # The container a render named by its content gets (`ClipJob.output_name`): the first one editors take.
    container: str
    encoder: str
    pix_fmt: str
    high_bit_depth_pix_fmt: str
    options: dict[str, str]
    suffixes: tuple[str, ...]
    needs_even_size: bool
    is_rgb: bool = False
    # The only colour range the format stores, whatever the source's (ProRes is limited range by definition).
    fixed_range: str | None = None
    # Whether a non-square pixel aspect survives: ProRes and H.264 carry it in the bitstream; FFV1 takes it from
    # each frame, which PyAV cannot set, and Matroska from the stream, which PyAV cannot set either.
    keeps_pixel_aspect: bool = True
    # How the encoder spreads over CPU cores. "FRAME": whole frames on parallel threads. For the intra-only ProRes
    # every frame is independent, so it scales with the cores; for libx264 it is x264's own frame threading, which
    # PyAV's default ("SLICE") would replace by x264's slower sliced threads.
    thread_type: str = "SLICE"


CODECS: dict[str, Codec] = {
    # ProRes 422 HQ (profile 3): the 10-bit intermediate editors expect back from a render.
    "prores": Codec(
        description="ProRes 422 HQ 10-bit, .mov",
        container=".mov",
        encoder="prores_ks",
        pix_fmt="yuv422p10le",
        high_bit_depth_pix_fmt="yuv422p10le",
        options={"profile": "3"},
        suffixes=(".mov", ".mkv"),
        needs_even_size=False,
        fixed_range="tv",
        thread_type="FRAME",
    ),
    # CRF 16 is visually transparent for review copies; the medium preset keeps CPU encoding practical.
    "h264": Codec(
        description="H.264 for review copies, .mov or .mp4",
        container=".mov",
        encoder="libx264",
        pix_fmt="yuv420p",
        high_bit_depth_pix_fmt="yuv420p10le",
        options={"crf": "16", "preset": "medium"},
        suffixes=(".mp4", ".mov", ".mkv"),
        needs_even_size=True,
        thread_type="FRAME",
    ),
    # Level 3 with slice CRCs, every frame a keyframe: lossless, robust and cheap to scrub.
    "ffv1": Codec(
        description="lossless FFV1, .mkv",
        container=".mkv",
        encoder="ffv1",
        pix_fmt="bgr0",
        high_bit_depth_pix_fmt="gbrp16le",
        options={"level": "3", "slicecrc": "1", "g": "1"},
        suffixes=(".mkv",),
        needs_even_size=False,
        is_rgb=True,
        keeps_pixel_aspect=False,
    ),
}


def codec_suffixes(name: str) -> tuple[str, ...]:
    """The file extensions `codec` can be written to, e.g. `(".mov", ".mkv")` for prores."""
    codec = CODECS.get(name)
    if codec is None:
        raise InvalidParameterError(f"unknown codec {name!r}; choose one of {', '.join(CODECS)}")
    return codec.suffixes
