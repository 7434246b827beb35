"""`keydub mask VIDEO -o preview.mov`: the source with the region a render would regenerate tinted red.

It finds and chooses the face exactly as `keydub render` does (same tracking, same choice, same crop windows and
leakage-proof mask), then maps each frame's mask back to source pixels through the paste-back's own footprint, so
what is tinted is what a render may change. No model is loaded: it is quick enough to check the face choice, the
framing and the mask before a long render.
"""

import argparse
from pathlib import Path
from typing import Any

from keydub.core.progress import ProgressCallback
from keydub.core.render.request import LANDMARK_BACKENDS
from keydub.plugin.cli._output import ProgressBar, print_json
from keydub.plugin.cli.render import add_range_and_face_options, face_choice, source_range


EXAMPLES = """examples:
  keydub mask interview.mov -o interview_mask.mp4
  keydub mask two_shot.mov -o mask.mov --face 1210,540@0 --backend dlib --in 100 --out 250
  keydub mask shot.mov -o mask.mov --codec prores --show-crop
"""
PREVIEW_CODECS = ("h264", "prores", "ffv1")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `mask` command."""
    parser = subparsers.add_parser(
        "mask",
        help="preview the region a render would regenerate (tinted red), without running the model",
        description="Write the source clip with the region that `keydub render` would regenerate tinted red: the "
        "same face choice, crop windows and leakage-proof mask as a render, mapped back to source pixels.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", type=Path, help="the source clip (never modified)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the preview file to write")
    add_range_and_face_options(parser)
    parser.add_argument("--landmark-backend", "--backend", dest="landmark_backend", choices=LANDMARK_BACKENDS,
                        default=LANDMARK_BACKENDS[0],
                        help="face landmark detector (default: face-alignment, as `keydub render`)")
    parser.add_argument("--crop-size", type=int, default=512, metavar="PIXELS",
                        help="the model's crop size (default: 512, the official weights')")
    parser.add_argument("--codec", choices=PREVIEW_CODECS, default="h264",
                        help="preview codec: h264 (default; .mp4, .mov or .mkv), prores (.mov) or ffv1 (.mkv)")
    parser.add_argument("--show-crop", action="store_true", help="also outline each frame's crop window")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the preview of `args.video`; errors propagate as `KeydubError` for `main` to print."""
    from keydub.core.media import probe

    info = probe(args.video)
    start, end = source_range(args, info)
    face = face_choice(args, info, start)
    with ProgressBar(disable=args.quiet) as bar:
        result = write_mask_preview(
            args.video, args.output, (start, end), point=face.point, frame=face.frame, track_id=face.track_id,
            backend=args.landmark_backend, crop_size=args.crop_size, codec=args.codec, show_crop=args.show_crop,
            overwrite=args.overwrite, progress=bar,
        )
    if args.json:
        print_json(result)
    else:
        print(f"wrote {result['output']}: {result['frames']} frames ({result['timecode']['in']} - "
              f"{result['timecode']['out']}), {result['with_face']} with the face tinted, "
              f"{result['frames'] - result['with_face']} without a face")
    return 0


def write_mask_preview(
    video: Path,
    output: Path,
    frame_range: tuple[int, int],
    *,
    point: tuple[float, float] | None = None,
    frame: int | None = None,
    track_id: int | None = None,
    backend: str = "face-alignment",
    crop_size: int = 512,
    codec: str = "h264",
    show_crop: bool = False,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Write the mask preview of source frames `[start, end)` and return a summary as plain data.

    Args:
        video (`Path`): the source clip.
        output (`Path`): the preview file (written atomically, with the source's sound under it).
        frame_range (`tuple[int, int]`): `[start, end)` source frames.
        point, frame, track_id: the face choice, as `keydub.core.faces.target.choose_target_face` takes it (`frame`
            is a source frame index).
        backend (`str`, defaults to `"face-alignment"`): the landmark backend.
        crop_size (`int`, defaults to 512): the model's crop size.
        codec (`str`, defaults to `"h264"`): the preview's codec.
        show_crop (`bool`, defaults to `False`): outline the crop windows too.
        overwrite (`bool`, defaults to `False`): replace an existing output file.
        progress (`ProgressCallback | None`): receives `"landmarks"` and `"mask preview"` progress.
    """
    import cv2
    import numpy as np

    from keydub.core.compositing.crop import blend_region, crop_windows
    from keydub.core.faces import get_landmark_backend, track_faces
    from keydub.core.compositing.masks import leakproof_mask, overlay_mask
    from keydub.core.media import FrameReader, probe
    from keydub.core.media.writer import AudioSpec, VideoWriter
    from keydub.core.progress import report
    from keydub.core.faces.target import choose_target_face

    info = probe(video)
    start, end = frame_range
    high_bit_depth = info.bit_depth > 8
    audio = AudioSpec.from_file(video, start=info.frame_time(start)) if info.audio_streams else None
    # The writer checks the output (exists, codec, size) before the slow landmark pass; on any error it leaves
    # nothing behind.
    with (
        VideoWriter(output, like=info, codec=codec, overwrite=overwrite, audio=audio,
                    first_source_frame=start) as writer,
        FrameReader(video, info=info) as reader,
    ):
        tracks = track_faces(reader.read(start, end), get_landmark_backend(backend), frame_count=end - start,
                             progress=progress)
        target = choose_target_face(
            tracks, end - start, point=point, track_id=track_id, frame=None if frame is None else frame - start
        )
        windows = crop_windows(target.landmarks, output_size=crop_size)
        for offset, picture in enumerate(reader.read(start, end, high_bit_depth=high_bit_depth)):
            window = windows[offset]
            if window is not None:
                region = leakproof_mask(window.to_crop(target.landmarks[offset]), crop_size)
                picture = overlay_mask(picture, blend_region(picture.shape, window, region))
                if show_crop:
                    corners = window.to_source(np.array([[-0.5, -0.5], [crop_size - 0.5, crop_size - 0.5]]))
                    (x0, y0), (x1, y1) = np.rint(corners).astype(int)
                    peak = int(np.iinfo(picture.dtype).max)
                    cv2.rectangle(picture, (x0, y0), (x1, y1), (peak, peak, 0), thickness=2)
            writer.write(picture)
            report(progress, "mask preview", offset + 1, end - start)
    return {
        "output": str(Path(output).absolute()),
        "frames": end - start,
        "range": [start, end],
        "timecode": {"in": info.timecode_at(start), "out": info.timecode_at(end - 1)},
        "with_face": int(target.present.sum()),
        "segments": [[start + a, start + b] for a, b in target.segments()],
    }
