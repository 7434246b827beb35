"""What a render can be asked to do: `RenderOptions`, one frozen, typed declaration every layer derives from.

Each field carries an `OptionSpec`: its help, its label, where its choices come from, its limits, whether a clip
may set it alone and whether it leaves the output unchanged. From these fields come the command-line flags of every
command that renders (`keydub.plugin.cli._render_options`), job and worker validation, the panel's settings form,
the per-clip OTIO params and the job hash. A new option is one field here plus the code that uses it.

Light to import: the choices come from the registries (`keydub.core.codecs`, `keydub.core.face_backends`,
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
from keydub.core.face_backends import LANDMARK_BACKENDS
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
        is_hashed_at_default (`bool`, defaults to `True`): the hash holds it even at its default, as it holds every
            option of the first job format. An option added later says `False`: it enters the hash only once it
            differs from its default, so renders finished before it existed stay valid.
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
    is_hashed_at_default: bool = True


def option(default: Any, label: str, help: str, **spec: Any) -> Any:
    """A `RenderOptions` field: its default and its `OptionSpec`."""
    return field(default=default, metadata={"option": OptionSpec(help, label, **spec)})


_WEIGHTS = "a Hugging Face hub id or a local folder"
_GUIDANCE = {"metavar": "SCALE", "minimum": -MAX_GUIDANCE, "maximum": MAX_GUIDANCE, "is_per_clip": True}


@dataclass(frozen=True)
class RenderOptions:
    """Everything a render can be asked to do besides its inputs; the defaults are the official KeySync settings.

    Every value is checked when the object is made: a wrong one raises `InvalidParameterError` naming the option,
    the value and what it accepts. See each field's `OptionSpec` (`option_specs()`) for its meaning.
    """

    weights: str | None = option(
        None, "KeySync weights", f"KeySync weights: {_WEIGHTS} (default: the official ones)", metavar="HUB_ID_OR_DIR"
    )
    vae: str | None = option(None, "VAE", "VAE weights (default: Stable Video Diffusion's)", metavar="HUB_ID_OR_DIR")
    hubert: str | None = option(
        None, "HuBERT", "HuBERT audio encoder (default: the official one)", metavar="HUB_ID_OR_DIR"
    )
    wavlm: str | None = option(
        None, "WavLM", "WavLM audio encoder (default: the official one)", metavar="HUB_ID_OR_DIR"
    )
    device: str = option(
        "auto",
        "Device",
        "where to run: auto (CUDA when present), cpu, cuda, cuda:N or mps",
        choices=DEVICES,
        is_open=True,
        is_output_neutral=True,
    )
    dtype: str = option(
        "auto",
        "Precision",
        "numeric precision of the U-Nets (auto: bfloat16 on CUDA, float32 elsewhere)",
        choices=DTYPES,
    )
    steps: int = option(
        MIN_AYS_STEPS,
        "Steps",
        f"denoising steps per stage ({MIN_AYS_STEPS}, the official value, is the fewest the schedule has)",
        metavar="N",
        minimum=MIN_AYS_STEPS,
        maximum=MAX_STEPS,
        is_per_clip=True,
    )
    audio_guidance: float = option(
        DEFAULT_AUDIO_GUIDANCE,
        "Audio guidance",
        "audio guidance scale: how strongly the lips follow the dub",
        **_GUIDANCE,
    )
    ref_guidance: float = option(
        DEFAULT_REF_GUIDANCE, "Identity guidance", "identity (reference) guidance scale", **_GUIDANCE
    )
    seed: int = option(0, "Seed", "random seed", minimum=0, maximum=MAX_SEED, is_per_clip=True)
    identity: str | int = option(
        "first",
        "Identity frame",
        "identity frame: first (official), auto (a frontal closed-mouth frame) or a frame number counted from the "
        "first rendered frame",
        metavar="first|auto|FRAME",
        choices=("first", "auto"),
        minimum=0,
        is_per_clip=True,
    )
    codec: str = option(
        "prores",
        "Codec",
        "output codec: " + "; ".join(f"{name} ({codec.description})" for name, codec in CODECS.items()),
        choices=tuple(CODECS),
    )
    keep_source_audio: bool = option(
        False,
        "Keep the source's sound",
        "put the source clip's sound in the output instead of the dub",
        is_per_clip=True,
    )
    # 1/32 of a 512 crop.
    feather: float = option(
        16.0,
        "Feather (crop pixels)",
        "width of the blend at the mask's edge, in pixels of the 512 px face crop; wider hides seams on wide shots, 0 "
        "pastes a hard edge",
        metavar="PX",
        minimum=0,
        maximum=128,
        is_per_clip=True,
        is_hashed_at_default=False,
    )
    landmark_backend: str = option(
        next(iter(LANDMARK_BACKENDS)),
        "Landmark backend",
        "face landmark detector",
        choices=tuple(LANDMARK_BACKENDS),
        is_per_clip=True,
    )
    # Signing changes the output's bytes (an embedded manifest), not its pictures or sound.
    provenance: bool = option(
        True,
        "Content Credentials",
        "sign the output with C2PA Content Credentials stating what was generated, from what and with what "
        "(embedded in .mov/.mp4, in a .c2pa sidecar beside other files)",
        is_hashed_at_default=False,
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
            raise InvalidParameterError(f"expected true or false, not {shortened(text)!r}")
        return _BOOLEAN_WORDS[text.lower()]
    number = _number_kind(kind)
    if number is not None and text not in spec.choices:
        low, high = spec.minimum, spec.maximum
        value = whole_number(text, low, high) if number is int else real_number(text, low, high)
    else:
        value = text
    if not _accepts(kind, spec, value):
        raise InvalidParameterError(f"expected {expected(name)}, not {shortened(text)!r}")
    return value


def whole_number(text: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number typed as text, in `[minimum, maximum]` (the message says what was wrong)."""
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidParameterError(f"expected a whole number, not {shortened(text)!r}") from None
    _check_range(text, value, minimum, maximum)
    return value


def real_number(text: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite decimal number typed as text (no NaN, no infinity), in `[minimum, maximum]`."""
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameterError(f"expected a number, not {shortened(text)!r}") from None
    _check_range(text, value, minimum, maximum, always=not math.isfinite(value))
    return value


def _check_range(
    text: str, value: float, minimum: float | None, maximum: float | None, *, always: bool = False
) -> None:
    if always or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "any" if minimum is None else _short_number(minimum)
        high = "any" if maximum is None else _short_number(maximum)
        raise InvalidParameterError(f"{shortened(text)} is out of range: allowed {low} to {high}")


def shortened(text: str) -> str:
    """A value as typed, cut so that a pasted megabyte does not become a megabyte of error message."""
    return text if len(text) <= 40 else f"{text[:40]}..."


_BOOLEAN_WORDS = {
    **dict.fromkeys(("true", "yes", "on", "1"), True),
    **dict.fromkeys(("false", "no", "off", "0"), False),
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
    if (
        number is not None
        and not isinstance(value, bool)
        and isinstance(value, int if number is int else (int, float))
    ):
        in_range = (spec.minimum is None or value >= spec.minimum) and (spec.maximum is None or value <= spec.maximum)
        return in_range and (number is int or math.isfinite(value))
    if isinstance(value, str) and (kind is str or str in args):
        return value in spec.choices if spec.choices and not spec.is_open else bool(value.strip())
    return False


def _number_kind(kind: Any) -> type | None:
    for number in (int, float):
        if kind is number or number in typing.get_args(kind):
            return number
    return None


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
