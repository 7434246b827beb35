"""What Keydub sees in a clip, as plain data: the probe and, when asked, every face track of the whole clip.

`inspect_clip` is what `keydub inspect` prints and what the panel's clip info shows. The faces come from the
clip analysis (`Engine.analyse_clip`, cached on disk), so the track ids are those `--face-track` takes on any range.
"""

import os
from typing import TYPE_CHECKING, Any

from keydub.core.media import probe
from keydub.core.progress import ProgressCallback


if TYPE_CHECKING:
    from keydub.core.engine import Engine


def inspect_clip(
    video: str | os.PathLike[str],
    faces_backend: str | None = None,
    *,
    engine: "Engine | None" = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """The report as plain data: `{"media": MediaInfo.to_dict()}`, plus `"faces"` (every track of the clip, see
    `face_coverage`) when `faces_backend` names a landmark backend.

    Args:
        video (`str | os.PathLike`): the clip.
        faces_backend (`str | None`): a landmark backend name to list the faces with; `None` for the media only.
        engine (`Engine | None`): the engine whose backends and analysis cache to use; a new one by default.
        progress (`ProgressCallback | None`): `"landmarks"` progress when the faces are tracked.
    """
    info = probe(video)
    report: dict[str, Any] = {"media": info.to_dict()}
    if faces_backend is not None:
        from keydub.core.engine import Engine
        from keydub.core.faces import face_coverage

        tracks = (engine or Engine()).track_clip(video, faces_backend, progress=progress)
        report["faces"] = {"backend": faces_backend, **face_coverage(list(tracks), info.frame_count)}
    return report
