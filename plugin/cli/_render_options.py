"""The render options every rendering command takes (`keydub render`, `keydub timeline`), built in one place.

`add_render_options(parser)` adds them as an argument group; `render_options_from_args(args)` turns the parsed
values into `RenderRequest` field values, with `RenderRequest`'s own defaults for everything not given, checked
before any work starts. Per-clip inputs (video, audio, output, frame range, face, occluders) are each command's own.
"""

import argparse
import dataclasses
from typing import Any

from keydub.core.render.request import LANDMARK_BACKENDS, RenderRequest
from keydub.plugin.cli import _numbers as numbers
from keydub.plugin.jobs import CONTAINER_BY_CODEC, RENDER_OPTION_NAMES, check_render_options


_DEFAULTS = {
    field.name: field.default for field in dataclasses.fields(RenderRequest) if field.name in RENDER_OPTION_NAMES
}


def _identity(text: str) -> str | int:
    """`first`, `auto` or a frame number."""
    if text in ("first", "auto"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'first', 'auto' or a frame number, not {text!r}") from None


def add_render_options(parser: argparse.ArgumentParser) -> None:
    """Add the shared render options to `parser` (as the "render options" group).

    Every option defaults to `None` on the namespace, meaning "RenderRequest's default", so that the defaults
    live in one place.
    """
    group = parser.add_argument_group("render options")
    group.add_argument(
        "--weights",
        metavar="HUB_ID_OR_DIR",
        help="KeySync weights: a Hugging Face hub id or a local folder (default: the official ones)",
    )
    group.add_argument("--vae", metavar="HUB_ID_OR_DIR", help="VAE weights (default: Stable Video Diffusion's)")
    group.add_argument("--hubert", metavar="HUB_ID_OR_DIR", help="HuBERT audio encoder (default: the official one)")
    group.add_argument("--wavlm", metavar="HUB_ID_OR_DIR", help="WavLM audio encoder (default: the official one)")
    group.add_argument("--device", help=f"where to run: auto, cpu, cuda or cuda:N (default: {_DEFAULTS['device']})")
    group.add_argument(
        "--dtype",
        choices=("auto", "float32", "float16", "bfloat16"),
        help=f"numeric precision of the model (default: {_DEFAULTS['dtype']})",
    )
    group.add_argument(
        "--steps",
        type=numbers.steps,
        metavar="N",
        help=f"denoising steps per stage (default: {_DEFAULTS['steps']}, the official value)",
    )
    group.add_argument(
        "--audio-guidance",
        type=numbers.guidance,
        metavar="SCALE",
        help=f"audio guidance scale (default: {_DEFAULTS['audio_guidance']})",
    )
    group.add_argument(
        "--ref-guidance",
        type=numbers.guidance,
        metavar="SCALE",
        help=f"identity (reference) guidance scale (default: {_DEFAULTS['ref_guidance']})",
    )
    group.add_argument("--seed", type=numbers.seed, help=f"random seed (default: {_DEFAULTS['seed']})")
    group.add_argument(
        "--identity",
        type=_identity,
        metavar="first|auto|FRAME",
        help="identity frame: first (official), auto (a frontal closed-mouth frame) or a frame number "
        "counted from the first rendered frame (default: first)",
    )
    group.add_argument(
        "--codec",
        choices=tuple(CONTAINER_BY_CODEC),
        help=f"output codec: prores (422 HQ, .mov), h264 (.mov) or ffv1 (lossless, .mkv) "
        f"(default: {_DEFAULTS['codec']})",
    )
    group.add_argument(
        "--keep-source-audio",
        action="store_const",
        const=True,
        help="put the source clip's sound in the output instead of the dub",
    )
    group.add_argument("--overwrite", action="store_const", const=True, help="replace an existing output file")
    group.add_argument(
        "--landmark-backend",
        choices=LANDMARK_BACKENDS,
        help=f"face landmark detector (default: {_DEFAULTS['landmark_backend']})",
    )


def render_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The render options of a parsed command line, as `RenderRequest` field values.

    Returns:
        `dict[str, Any]`: one entry per render option (see `keydub.plugin.jobs.RENDER_OPTION_NAMES`), the given
        value or `RenderRequest`'s default.

    Raises:
        `InvalidParameterError`: a value argparse accepted but Keydub cannot use (e.g. `--steps 0`). (`--device`
            is checked before any command runs, by `keydub.plugin.cli._preflight`.)
    """
    options = {
        name: value if (value := getattr(args, name, None)) is not None else default
        for name, default in _DEFAULTS.items()
    }
    check_render_options(options, where="command line")
    return options
