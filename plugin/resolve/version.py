"""Which Resolve answers, and the calling conventions that version takes.

Resolve's scripting objects answer any method name (an unknown one returns `None`), so `hasattr` says nothing about
what a build supports: every version-dependent call is chosen here, from `GetVersion()`. The facts, with their
sources (the reference notes of `resolve-measured.md` name each one):

- third-party metadata, `GetSourceStartFrame/EndFrame` and subframe arguments are new in 19.0.2 (Blackmagic's
  versioned API docs, "New in 19.0.2"; pybmd's changelog), so 19.0.2 is the oldest Resolve Keydub can write to;
- `AppendToTimeline`'s `endFrame` is inclusive on 19.1.x and exclusive on 19.0.x and 20 onwards (measured on Studio
  19.1.3.7 and 21.0; nakano000/Resolve_Script keeps the same one-frame offset for 19.1 only);
- 21.1 deprecates the key-at-a-time calling conventions (`GetSetting(key)`, `SetThirdPartyMetadata(k, v)`,
  `ImportMedia([paths])`, `GetProperty()`) for dict forms (`GetSettings()`, `SetThirdPartyMetadata({k: v})`,
  `ImportMedia([{"FilePath": p}])`, `GetProperties()`): "Deprecated Calling Conventions, New in 21.1.0".
"""

import re
from dataclasses import dataclass
from typing import Any

from keydub.plugin.resolve.errors import ResolveUnavailableError


MINIMUM = (19, 0, 2)
MINIMUM_TEXT = "19.0.2"
FIX_OLD_VERSION = (
    f"update DaVinci Resolve to {MINIMUM_TEXT} or newer (Help > Check for Updates), or use the OTIO round trip "
    "instead (File > Export > Timeline as .otio, `keydub timeline`, then File > Import > Timeline)"
)


@dataclass(frozen=True, order=True)
class ResolveVersion:
    """A Resolve version, e.g. `ResolveVersion(19, 1, 3, 7)`, and what it supports."""

    major: int
    minor: int = 0
    patch: int = 0
    build: int = 0

    @classmethod
    def parse(cls, answer: Any) -> "ResolveVersion | None":
        """The version of a `GetVersion()` answer (`[19, 1, 3, 7, ""]`) or a `GetVersionString()` one
        (`"19.1.3.7"`); `None` when it is neither."""
        if isinstance(answer, str):
            parts: list[Any] = re.findall(r"\d+", answer)
        elif isinstance(answer, (list, tuple)):
            parts = [part for part in answer if part not in ("", None)]
        elif isinstance(answer, dict):  # some list answers come as {1: major, 2: minor, ...}
            parts = [answer[key] for key in sorted(answer) if answer[key] not in ("", None)]
        else:
            return None
        numbers = []
        for part in parts[:4]:
            try:
                numbers.append(int(part))
            except (TypeError, ValueError):
                break
        return cls(*numbers) if numbers else None

    def __str__(self) -> str:
        return ".".join(str(part) for part in (self.major, self.minor, self.patch, self.build))

    @property
    def is_supported(self) -> bool:
        return (self.major, self.minor, self.patch) >= MINIMUM

    @property
    def end_frame_is_inclusive(self) -> bool:
        """`AppendToTimeline`'s `endFrame` names the last frame placed (19.1.x), not the one after it."""
        return (self.major, self.minor) == (19, 1)

    @property
    def takes_dicts(self) -> bool:
        """21.1 and later: the dict calling conventions are the documented ones."""
        return (self.major, self.minor) >= (21, 1)


def require_supported(version: ResolveVersion | None, product: str = "DaVinci Resolve") -> ResolveVersion:
    """`version`, if Keydub can write to it.

    Raises:
        `ResolveUnavailableError` (cause `"old_version"`): older than 19.0.2, or the version could not be read.
    """
    if version is None:
        raise ResolveUnavailableError(
            f"{product} did not report its version; Keydub needs {MINIMUM_TEXT} or newer: {FIX_OLD_VERSION}",
            cause="old_version",
        )
    if not version.is_supported:
        raise ResolveUnavailableError(
            f"{product} {version} is older than {MINIMUM_TEXT}, which Keydub needs (its scripting cannot tag "
            f"renders or read source frames); {FIX_OLD_VERSION}",
            cause="old_version",
        )
    return version


def version_of(resolve: Any) -> ResolveVersion:
    """The connected Resolve's version, checked to be supported (see `require_supported`)."""
    product = resolve.GetProductName()
    return require_supported(
        ResolveVersion.parse(resolve.GetVersion()), product if isinstance(product, str) else "DaVinci Resolve"
    )
