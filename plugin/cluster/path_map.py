"""Shared-storage path rewriting between the editor's machine and the render nodes.

Post houses keep media on a SAN or NAS that every machine mounts, each at its own place: an editor's Mac sees
`/Volumes/SAN/show`, a Linux render node `/mnt/san/show`. The timeline and the job store speak the editor's paths;
what a node is asked to read and write is rewritten with `--path-map FROM=TO`, and what it reports back is
rewritten the other way, so the output timeline points at the editor's files.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from keydub.core.errors import InvalidParameterError
from keydub.core.render.request import RenderRequest, RenderResult


# The request fields that name files; weights folders count too, since a farm keeps them on shared storage.
_REQUEST_PATH_FIELDS = ("video", "audio", "output", "report", "original_audio")
# Render options that may name a local folder (weights given as a hub id stay as they are: no mapping covers them).
_OPTION_PATH_FIELDS = ("weights", "vae", "hubert", "wavlm")


@dataclass(frozen=True)
class PathMapping:
    """One prefix rewrite: `editor` paths (as the timeline has them) are `node` paths on the render nodes.

    Args:
        editor (`str`): the prefix as the editor's machine (and the driver) sees it.
        node (`str`): the same folder as the render nodes see it.
    """

    editor: str
    node: str

    @classmethod
    def parse(cls, text: str, option: str = "--path-map") -> "PathMapping":
        """Read `FROM=TO` (the first `=` splits, so a Windows `C:\\` or a `=` in the target survives); `option`
        names the flag in the message (`--path-map` for the farm's nodes, `--relink` for this machine)."""
        editor, separator, node = text.partition("=")
        if not separator or not editor.strip() or not node.strip():
            raise InvalidParameterError(
                f"the path map {text!r} is not FROM=TO; give the folder as the timeline names it, '=', "
                f"and the same folder where it is read, e.g. {option} /Volumes/SAN=/mnt/san"
            )
        return cls(editor=_strip_separator(editor.strip()), node=_strip_separator(node.strip()))


@dataclass(frozen=True)
class PathMap:
    """An ordered list of `PathMapping`s; the longest matching prefix wins, whole path components only.

    Args:
        mappings (`tuple[PathMapping, ...]`): the rewrites, e.g. from repeated `--path-map` options.
    """

    mappings: tuple[PathMapping, ...] = ()

    @classmethod
    def parse(cls, texts: "list[str] | tuple[str, ...]") -> "PathMap":
        return cls(tuple(PathMapping.parse(text) for text in texts))

    def to_node(self, path: str) -> str:
        """`path` as the render nodes see it (unchanged when no mapping covers it)."""
        return self._rewrite(path, ((m.editor, m.node) for m in self.mappings))

    def to_editor(self, path: str) -> str:
        """A node's `path` as the editor sees it (unchanged when no mapping covers it)."""
        return self._rewrite(path, ((m.node, m.editor) for m in self.mappings))

    def request_to_node(self, request: RenderRequest) -> dict[str, Any]:
        """The request as plain data (`RenderRequest.to_dict`) with every file and folder it names rewritten for
        the nodes; plain strings, since a node may not share the driver's operating system."""
        data = request.to_dict()
        for fields, values in ((_REQUEST_PATH_FIELDS, data), (_OPTION_PATH_FIELDS, data["options"])):
            for name in fields:
                if values.get(name) is not None:
                    values[name] = self.to_node(values[name])
        for speaker in data["speakers"]:
            if speaker["audio"] is not None:
                speaker["audio"] = self.to_node(speaker["audio"])
        return data

    def result_to_editor(self, result: dict[str, Any]) -> RenderResult:
        """A node's result (`output`, `frame_count`, `passed_through`, `report` as plain data) with its output
        file named as the editor sees it."""
        return RenderResult(
            output=Path(self.to_editor(result["output"])),
            frame_count=result["frame_count"],
            passed_through=tuple(tuple(item) for item in result["passed_through"]),
            report=result["report"],
        )

    @staticmethod
    def _rewrite(path: str, pairs: Iterable[tuple[str, str]]) -> str:
        best: tuple[str, str] | None = None
        for old, new in pairs:
            if _is_under(path, old) and (best is None or len(old) > len(best[0])):
                best = (old, new)
        if best is None:
            return path
        old, new = best
        rest = _parts(path)[len(_parts(old)) :]
        if not rest:
            return new
        # The rest keeps its components but takes the separator of the side it goes to (a Windows editor and
        # Linux nodes share one SAN).
        return str(_flavour(new)(new, *rest))


def is_windows_path(path: str) -> bool:
    """Whether `path` is a Windows path: a drive letter (`C:\\`, `C:/`) or a UNC share (`\\\\server\\share`)."""
    return (len(path) >= 2 and path[0].isalpha() and path[1] == ":") or path[:2] in ("\\\\", "//")


def _parts(path: str) -> tuple[str, ...]:
    return _flavour(path)(path).parts


def _is_under(path: str, prefix: str) -> bool:
    """Whether `path` is `prefix` or inside it (`/mnt/san` covers `/mnt/san/a`, not `/mnt/sandbox`); Windows paths
    compare without regard to case or to `/` against `\\`, as Windows does."""
    if is_windows_path(prefix) and is_windows_path(path):
        prefix_parts = [part.casefold() for part in _parts(prefix)]
        return [part.casefold() for part in _parts(path)[: len(prefix_parts)]] == prefix_parts
    if not path.startswith(prefix):
        return False
    return len(path) == len(prefix) or prefix[-1] in "/\\" or path[len(prefix)] in "/\\"


def _strip_separator(prefix: str) -> str:
    stripped = prefix.rstrip("/\\")
    # A root (`/`, `C:\\`) keeps its separator.
    return stripped if stripped and not stripped.endswith(":") else prefix


def _flavour(prefix: str) -> type[PurePath]:
    """Windows paths for a drive letter or a UNC share, POSIX paths otherwise."""
    return PureWindowsPath if is_windows_path(prefix) else PurePosixPath
