"""The calls whose form depends on the Resolve version, written once: the dict forms 21.1 documents where it
documents them, the key-at-a-time forms before (see `version`).

Reading goes through the one-call dict forms wherever every supported version has them (`GetClipProperty()` and
`GetThirdPartyMetadata()` with no key): one IPC round trip per item instead of one per key.
"""

from dataclasses import dataclass
from typing import Any

from keydub.plugin.resolve.version import ResolveVersion


@dataclass(frozen=True)
class Calls:
    """Version-dependent calls of one connected Resolve."""

    version: ResolveVersion

    def settings(self, owner: Any, *keys: str) -> dict[str, Any]:
        """The named settings of a `Project` or `Timeline` (missing ones are absent)."""
        if self.version.takes_dicts:
            answer = owner.GetSettings()
            every = answer if isinstance(answer, dict) else {}
            return {key: every[key] for key in keys if key in every}
        answers = {key: owner.GetSetting(key) for key in keys}
        return {key: value for key, value in answers.items() if value not in (None, "")}

    @staticmethod
    def clip_properties(pool_item: Any) -> dict[str, Any]:
        """Every clip property of a media pool item (`{}` when Resolve answers nothing)."""
        answer = pool_item.GetClipProperty()
        return answer if isinstance(answer, dict) else {}

    @staticmethod
    def third_party_metadata(pool_item: Any) -> dict[str, Any]:
        """Every third-party metadata value of a media pool item."""
        answer = pool_item.GetThirdPartyMetadata()
        return answer if isinstance(answer, dict) else {}

    def set_third_party_metadata(self, pool_item: Any, values: dict[str, str]) -> bool:
        """Set third-party metadata; `True` when Resolve says every value was set."""
        if self.version.takes_dicts:
            return pool_item.SetThirdPartyMetadata(dict(values)) is True
        return all(pool_item.SetThirdPartyMetadata(key, value) is True for key, value in values.items())

    def item_properties(self, item: Any) -> dict[str, Any]:
        """Every property of a timeline item (a title's or a solid's; a transition has none)."""
        answer = item.GetProperties() if self.version.takes_dicts else item.GetProperty()
        return answer if isinstance(answer, dict) else {}

    def import_media(self, media_pool: Any, path: str) -> Any:
        """`ImportMedia` of one file into the current bin; Resolve's answer, unchecked."""
        return media_pool.ImportMedia([{"FilePath": path}] if self.version.takes_dicts else [path])
