"""The mask preview: a clip's frames with the region a render would regenerate tinted red, without the model.

It uses the clip analysis a render uses (same face choice, crop windows and leakage-proof mask) and maps each
frame's mask back to source pixels through the paste-back's own footprint, so what is tinted is what a render may
change: quick enough to check the face choice, the framing and the mask before a long render.
"""

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from keydub.core.analysis import ClipAnalysis
from keydub.core.cancel import CancelToken, cancellable
from keydub.core.compositing.crop import blend_region
from keydub.core.compositing.masks import leakproof_mask, overlay_mask
from keydub.core.media import FrameReader
from keydub.core.media.writer import AudioSpec, VideoWriter
from keydub.core.progress import ProgressCallback, Stage, report


def write_mask_preview(
    analysis: ClipAnalysis,
    output: str | os.PathLike[str],
    *,
    codec: str = "h264",
    show_crop: bool = False,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Write the preview of `analysis`' range and return a summary as plain data.

    Args:
        analysis (`ClipAnalysis`): the clip's analysis for the range, face choice and crop size to preview.
        output (`str | os.PathLike`): the preview file (written atomically, with the source's sound under it).
        codec (`str`, defaults to `"h264"`): the preview's codec (`"h264"`, `"prores"` or `"ffv1"`).
        show_crop (`bool`, defaults to `False`): outline each frame's crop window too.
        overwrite (`bool`, defaults to `False`): replace an existing output file.
        progress (`ProgressCallback | None`): receives `"mask preview"` frames.
        cancel (`CancelToken | None`): checked on every frame; a cancel leaves no file.

    Returns:
        `dict`: `output`, `frames`, `range`, `timecode` (`in`, `out`), `with_face` and `segments`.
    """
    progress = cancellable(progress, cancel)
    info, start, end, size = analysis.info, analysis.start, analysis.end, analysis.crop_size
    audio = AudioSpec.from_file(analysis.video, start=info.frame_time(start)) if info.audio_streams else None
    with (
        VideoWriter(
            output, like=info, codec=codec, overwrite=overwrite, audio=audio, first_source_frame=start
        ) as writer,
        FrameReader(analysis.video, info=info) as reader,
    ):
        for offset, picture in enumerate(reader.read(start, end, high_bit_depth=info.bit_depth > 8)):
            window = analysis.windows[offset]
            if window is not None:
                region = leakproof_mask(window.to_crop(analysis.face.landmarks[offset]), size)
                picture = overlay_mask(picture, blend_region(picture.shape, window, region))
                if show_crop:
                    corners = window.to_source(np.array([[-0.5, -0.5], [size - 0.5, size - 0.5]]))
                    (x0, y0), (x1, y1) = np.rint(corners).astype(int)
                    peak = int(np.iinfo(picture.dtype).max)
                    cv2.rectangle(picture, (x0, y0), (x1, y1), (peak, peak, 0), thickness=2)
            writer.write(picture)
            report(progress, Stage.MASK_PREVIEW, offset + 1, end - start)
    return {
        "output": str(Path(output).absolute()),
        "frames": end - start,
        "range": [start, end],
        "timecode": {"in": info.timecode_at(start), "out": info.timecode_at(end - 1)},
        "with_face": int(analysis.face.present.sum()),
        "segments": [list(segment) for segment in analysis.segments()],
    }
