"""The panel's settings fields: one per `RenderOptions` field, plus the handles, read as the command line reads them.

Each field's text goes through `keydub.core.render.options.option_from_text`, the parser the command-line flags
use, so a value `keydub render` refuses is refused in the settings with the same words (named by its flag).
"""

from collections.abc import Mapping
from typing import Any

from keydub.core.errors import InvalidParameterError
from keydub.core.render.options import RenderOptions, option_from_text, option_specs, whole_number
from keydub.plugin.timeline.plan import DEFAULT_HANDLES


HANDLES_FIELD = "handles"
# The handles' range: the same as `--handles` (100,000 frames is over an hour at 24 fps).
_MAX_HANDLES = 100_000


def setting_fields() -> tuple[str, ...]:
    """The settings' fields, in order: every render option, then the handles."""
    return (*option_specs(), HANDLES_FIELD)


def options_from_fields(fields: Mapping[str, str]) -> tuple[RenderOptions, int]:
    """`(render options, handles)` from the settings' texts.

    Args:
        fields (`Mapping[str, str]`): field name (see `setting_fields`) -> text; empty texts take the defaults.

    Raises:
        `InvalidParameterError`: an unknown field or a value the command line would refuse (the message names the
            option's flag and the allowed values).
    """
    unknown = sorted(set(fields) - set(setting_fields()))
    if unknown:
        raise InvalidParameterError(f"unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, text in fields.items():
        try:
            if name == HANDLES_FIELD:
                handles = str(text).strip()
                values[name] = whole_number(handles, 0, _MAX_HANDLES) if handles else DEFAULT_HANDLES
            else:
                values[name] = option_from_text(name, text)
        except InvalidParameterError as error:
            raise InvalidParameterError(f"--{name.replace('_', '-')}: {error}") from None
    handles = values.pop(HANDLES_FIELD, DEFAULT_HANDLES)
    return RenderOptions.from_dict(values, where="settings"), handles


def fields_from_options(options: RenderOptions, handles: int) -> dict[str, str]:
    """The settings' texts for render options and handles (the inverse of `options_from_fields`)."""
    fields = {name: _text(value) for name, value in options.to_dict().items()}
    fields[HANDLES_FIELD] = str(handles)
    return fields


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
