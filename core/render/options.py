"""What a render can be asked to do: `RenderOptions`, one frozen, typed declaration every layer derives from.

Each field carries an `OptionSpec`: its help, its label, where its choices come from, its limits, whether a clip
may set it alone and whether it leaves the output unchanged. From these fields come the command-line flags of every
command that renders (`keydub.plugin.cli._render_options`), job and worker validation, the panel's settings form,
the per-clip OTIO params and the job hash. A new option is one field here plus the code that uses it.

Light to import: the choices come from the registries (`keydub.core.codecs`, `keydub.core.landmark_backends`,
`keydub.core.devices`) and the sampler's official values (`keydub.core.model.sampling`), none of which loads torch.
"""

import dataclasses
import functools
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keydub.core.codecs import CODECS
from keydub.core.devices import DEVICES, DTYPES
from keydub.core.errors import InvalidParameterError
from keydub.core.landmark_backends import LANDMARK_BACKENDS
from keydub.core.model.sampling import (
    DEFAULT_AUDIO_GUIDANCE,
    DEFAULT_REF_GUIDANCE,
    MAX_GUIDANCE,
    MAX_SEED,
    MAX_STEPS,
    MIN_AYS_STEPS,
    SamplingConfig,
)
from keydub.core.plain_data import from_plain, to_plain


@dataclass(frozen=True)
class OptionSpec:
    """What every layer needs to know about one render option besides its name, type and default.

    Args:
        help (`str`): one line for `--help` and the panel's tooltip.
        label (`str`): the panel's label.
        metavar (`str | None`): the value's name in `--help`.
        choices (`tuple[str, ...]`): the names allowed, from a registry.
        is_open (`bool`): `choices` are suggestions; other text is taken too (`cuda:1`).
        minimum, maximum (`float | None`): the range of a number.
        is_per_clip (`bool`): a clip may set it alone (OTIO `metadata["keydub"]["params"]`, the panel's clips).
        is_output_neutral (`bool`): it changes where a render runs, not what it writes: no job hash holds it.
        is_hashed_at_default (`bool`): an option of the first job format, which the hash holds even at its
            default; a later option enters the hash only once it differs from its default, so finished renders
            stay valid when an option is added.
    """

    help: str
    label: str
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    is_open: bool = False
    minimum: float | None = None
    maximum: float | None = None
    is_per_clip: bool = False
    is_output_neutral: bool = False
    is_hashed_at_default: bool = False


def option(default: Any, **spec: Any) -> Any:
    """A `RenderOptions` field: its default and its `OptionSpec`."""
    return field(default=default, metadata={"option": OptionSpec(**spec)})


def weights_option(label: str, help: str) -> Any:
    """A `RenderOptions` field naming weights: a hub id or a folder, `None` for the default ones."""
    return option(None, label=label, metavar="HUB_ID_OR_DIR", help=help, is_hashed_at_default=True)


_WEIGHTS = "a Hugging Face hub id or a local folder"


@dataclass(frozen=True)
class RenderOptions:
    """Everything a render can be asked to do besides its inputs; the defaults are the official KeySync settings.

    Every value is checked when the object is made: a wrong one raises `InvalidParameterError` naming the option,
    the value and what it accepts. See each field's `OptionSpec` (`option_specs()`) for its meaning.
    """

    weights: str | None = weights_option(
        "KeySync weights", f"KeySync weights: {_WEIGHTS} (default: the official ones)"
    )
    vae: str | None = weights_option("VAE", "VAE weights (default: Stable Video Diffusion's)")
    hubert: str | None = weights_option("HuBERT", "HuBERT audio encoder (default: the official one)")
    wavlm: str | None = weights_option("WavLM", "WavLM audio encoder (default: the official one)")
    device: str = option(
        "auto",
        label="Device",
        choices=DEVICES,
        is_open=True,
        help="where to run: auto (CUDA when present), cpu, cuda, cuda:N or mps",
        is_output_neutral=True,
    )
    dtype: str = option(
        "auto",
        label="Precision",
        choices=DTYPES,
        help="numeric precision of the U-Nets (auto: bfloat16 on CUDA, float32 elsewhere)",
        is_hashed_at_default=True,
    )
    steps: int = option(
        MIN_AYS_STEPS,
        label="Steps",
        metavar="N",
        minimum=MIN_AYS_STEPS,
        maximum=MAX_STEPS,
        help=f"denoising steps per stage ({MIN_AYS_STEPS}, the official value, is the fewest the schedule has)",
        is_per_clip=True,
        is_hashed_at_default=True,
    )
    audio_guidance: float = option(
        DEFAULT_AUDIO_GUIDANCE,
        label="Audio guidance",
        metavar="SCALE",
        minimum=-MAX_GUIDANCE,
        maximum=MAX_GUIDANCE,
        help="audio guidance scale: how strongly the lips follow the dub",
        is_per_clip=True,
        is_hashed_at_default=True,
    )
    ref_guidance: float = option(
        DEFAULT_REF_GUIDANCE,
        label="Identity guidance",
        metavar="SCALE",
        minimum=-MAX_GUIDANCE,
        maximum=MAX_GUIDANCE,
        help="identity (reference) guidance scale",
        is_per_clip=True,
        is_hashed_at_default=True,
    )
    seed: int = option(
        0, label="Seed", minimum=0, maximum=MAX_SEED, help="random seed", is_per_clip=True, is_hashed_at_default=True
    )
    identity: str | int = option(
        "first",
        label="Identity frame",
        metavar="first|auto|FRAME",
        choices=("first", "auto"),
        minimum=0,
        help="identity frame: first (official), auto (a frontal closed-mouth frame) or a frame number counted from "
        "the first rendered frame",
        is_per_clip=True,
        is_hashed_at_default=True,
    )
    codec: str = option(
        "prores",
        label="Codec",
        choices=tuple(CODECS),
        help="output codec: " + "; ".join(f"{name} ({codec.description})" for name, codec in CODECS.items()),
        is_hashed_at_default=True,
    )
    keep_source_audio: bool = option(
        False,
        label="Keep the source's sound",
        help="put the source clip's sound in the output instead of the dub",
        is_per_clip=True,
        is_hashed_at_default=True,
    )
    # 1/32 of a 512 crop.
    feather: float = option(
        16.0,
        label="Feather (crop pixels)",
        metavar="PX",
        minimum=0,
        maximum=128,
        help="width of the blend at the mask's edge, in pixels of the 512 px face crop; wider hides seams on wide "
        "shots, 0 pastes a hard edge",
        is_per_clip=True,
    )
    landmark_backend: str = option(
        next(iter(LANDMARK_BACKENDS)),
        label="Landmark backend",
        choices=tuple(LANDMARK_BACKENDS),
        help="face landmark detector",
        is_per_clip=True,
        is_hashed_at_default=True,
    )

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            check_option(item.name, getattr(self, item.name))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "render options") -> "RenderOptions":
        """Options from plain data (a job's, a settings file's); names left out take their defaults.

        Raises:
            `InvalidParameterError`: an unknown name or a wrong value, the message starting with `where`.
        """
        if not isinstance(data, Mapping):
            raise InvalidParameterError(f"{where} must be an object of option names and values, not {data!r}")
        check_names(data, option_specs(), where)
        try:
            for name, value in data.items():
                check_option(name, value)
            return from_plain(cls, data)
        except (InvalidParameterError, TypeError, ValueError) as error:
            raise InvalidParameterError(f"{where}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    def with_params(self, params: Mapping[str, Any], where: str = "params") -> "RenderOptions":
        """These options with a clip's own `params` (per-clip option names only) over them."""
        check_names(params, per_clip_options(), where)
        return RenderOptions.from_dict({**self.to_dict(), **params}, where)

    def sampling(self) -> SamplingConfig:
        """The sampler's settings."""
        return SamplingConfig(
            steps=self.steps, audio_guidance=self.audio_guidance, ref_guidance=self.ref_guidance, seed=self.seed
        )

    def hashed(self) -> dict[str, Any]:
        """The options that decide the output, as the job hash holds them (see `OptionSpec.is_hashed_at_default`)."""
        specs = option_specs()
        return {
            name: value
            for name, value in self.to_dict().items()
            if not specs[name].is_output_neutral
            and (specs[name].is_hashed_at_default or value != _FIELDS[name].default)
        }


@functools.cache
def option_specs() -> dict[str, OptionSpec]:
    """Every render option's name and spec, in declaration order."""
    return {item.name: item.metadata["option"] for item in dataclasses.fields(RenderOptions)}


def per_clip_options() -> dict[str, OptionSpec]:
    """The options a clip may set alone (OTIO per-clip params, the panel's per-clip settings)."""
    return {name: spec for name, spec in option_specs().items() if spec.is_per_clip}


def option_type(name: str) -> Any:
    """The declared type of option `name` (e.g. `int`, `str | None`)."""
    return _TYPES[name]


def check_names(values: Mapping[str, Any], allowed: Mapping[str, OptionSpec], where: str) -> None:
    """Refuse names of `values` that are not options of `allowed`."""
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidParameterError(
            f"{where}: unknown option(s) {', '.join(map(str, unknown))}; known options: {', '.join(allowed)}"
        )


def check_option(name: str, value: Any) -> None:
    """Refuse a value option `name` cannot take; the message names the option, the value and what it accepts."""
    if not _accepts(_TYPES[name], option_specs()[name], value):
        raise InvalidParameterError(f"{name} must be {expected(name)}, not {value!r}")


def expected(name: str) -> str:
    """What option `name` accepts, in words: `"a whole number from 10 to 1000"`, `"prores, h264 or ffv1"`."""
    kind, spec = _TYPES[name], option_specs()[name]
    words = []
    if spec.choices and not spec.is_open:
        words.append(_one_of(spec.choices))
    if _number_kind(kind) is not None:
        words.append(_number_words(_number_kind(kind), spec))
    if kind is bool:
        words.append("true or false")
    if not words:
        words.append("a non-empty text" + (f" (e.g. {_one_of(spec.choices)})" if spec.choices else ""))
    if type(None) in typing.get_args(kind):  # the weights
        words[-1] += f", or empty for the default ({_WEIGHTS})"
    return " or ".join(words)


def option_from_text(name: str, text: str) -> Any:
    """The value of option `name` typed as text (on the command line, in the panel); empty text is the default.

    Raises:
        `InvalidParameterError`: text the option cannot take; the message names the value and what is allowed.
    """
    kind, spec = _TYPES[name], option_specs()[name]
    text = str(text).strip()
    if not text:
        return _FIELDS[name].default
    if kind is bool:
        if text.lower() not in _BOOLEAN_WORDS:
            raise InvalidParameterError(f"expected true or false, not {_cut(text)!r}")
        return _BOOLEAN_WORDS[text.lower()]
    number = _number_kind(kind)
    if number is not None and text not in spec.choices:
        low, high = spec.minimum, spec.maximum
        value = whole_number(text, low, high) if number is int else real_number(text, low, high)
    else:
        value = text
    if not _accepts(kind, spec, value):
        raise InvalidParameterError(f"expected {expected(name)}, not {_cut(text)!r}")
    return value


def whole_number(text: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number typed as text, in `[minimum, maximum]` (the message says what was wrong)."""
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidParameterError(f"expected a whole number, not {_cut(text)!r}") from None
    _check_range(text, value, minimum, maximum)
    return value


def real_number(text: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite decimal number typed as text (no NaN, no infinity), in `[minimum, maximum]`."""
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameterError(f"expected a number, not {_cut(text)!r}") from None
    if not math.isfinite(value):
        _check_range(text, value, minimum, maximum, always=True)
    _check_range(text, value, minimum, maximum)
    return value


def _check_range(
    text: str, value: float, minimum: float | None, maximum: float | None, *, always: bool = False
) -> None:
    if always or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "any" if minimum is None else _short_number(minimum)
        high = "any" if maximum is None else _short_number(maximum)
        raise InvalidParameterError(f"{_cut(text)} is out of range: allowed {low} to {high}")


def _cut(text: str) -> str:
    """A value as typed, cut so that a pasted megabyte does not become a megabyte of error message."""
    return text if len(text) <= 40 else f"{text[:40]}..."


_BOOLEAN_WORDS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}
_FIELDS = {item.name: item for item in dataclasses.fields(RenderOptions)}
_TYPES = typing.get_type_hints(RenderOptions)


def _accepts(kind: Any, spec: OptionSpec, value: Any) -> bool:
    args = typing.get_args(kind)
    if value is None:
        return type(None) in args
    if kind is bool:
        return isinstance(value, bool)
    number = _number_kind(kind)
    if number is not None and _is_number(value, number):
        return _in_range(value, spec)
    if isinstance(value, str) and (kind is str or str in args):
        return value in spec.choices if spec.choices and not spec.is_open else bool(value.strip())
    return False


def _number_kind(kind: Any) -> type | None:
    for number in (int, float):
        if kind is number or number in typing.get_args(kind):
            return number
    return None


def _is_number(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def _in_range(value: float, spec: OptionSpec) -> bool:
    return (spec.minimum is None or value >= spec.minimum) and (spec.maximum is None or value <= spec.maximum)


def _number_words(kind: type, spec: OptionSpec) -> str:
    noun = "a whole number" if kind is int else "a number"
    if spec.minimum is not None and spec.maximum is not None:
        return f"{noun} from {_short_number(spec.minimum)} to {_short_number(spec.maximum)}"
    if spec.minimum is not None:
        return f"{noun} >= {_short_number(spec.minimum)}"
    return noun


def _short_number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _one_of(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
