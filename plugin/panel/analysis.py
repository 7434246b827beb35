"""The faces of a clip for the face picker, and the region a render would regenerate, as the panel draws them.

`analyse_faces` takes the faces from the clip's analysis, the one `keydub render`, the worker, `inspect --faces`
and `mask` use (`keydub.core.analysis.track_clip`): the whole clip is tracked once and kept in the analysis cache,
so a render after a pick runs no landmark pass of its own, and the track ids the picker shows are the clip's, the
ones `render --face-track` takes. `FaceAnalysis.regeneration_mask(frame)` is what `keydub mask` tints: the chosen
face's leakage-proof mask mapped back to source pixels through the paste-back's footprint.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keydub.core import faces
from keydub.core.analysis import AnalysisCache, cut_tracks, track_clip
from keydub.core.cancel import CancelToken
from keydub.core.errors import NoFaceFoundError
from keydub.core.faces import FaceTrack, LandmarkBackend
from keydub.core.progress import ProgressCallback
from keydub.core.render.request import FaceChoice


BackendFactory = Callable[[str], LandmarkBackend]


@dataclass
class FaceAnalysis:
    """The face tracks of frames `[start, end)` of a clip.

    Args:
        video (`Path`): the clip.
        start (`int`), end (`int`): the analysed range, frames of the file.
        tracks (`list[FaceTrack]`): the tracks, frame indices relative to `start`, ids the clip's (whatever range).
        crop_size (`int`, defaults to 512): the model's crop size (for the regeneration mask).
    """

    video: Path
    start: int
    end: int
    tracks: list[FaceTrack]
    crop_size: int = 512
    _mask_cache: dict[tuple, np.ndarray | None] = field(default_factory=dict, repr=False)

    def boxes_at(self, frame: int) -> list[tuple[int, np.ndarray]]:
        """`(track id, box x0 y0 x1 y1)` of every face on file frame `frame`."""
        boxes = []
        for track in self.tracks:
            box = track.box_at(frame - self.start)
            if box is not None:
                boxes.append((track.track_id, box))
        return boxes

    def frames_without_face(self) -> list[int]:
        """File frames of the range where no face was found (marked on the scrub bar)."""
        present = np.zeros(self.end - self.start, dtype=bool)
        for track in self.tracks:
            present[track.first_frame : track.last_frame + 1] |= track.present
        return [self.start + int(i) for i in np.flatnonzero(~present)]

    def track_under(self, point: tuple[float, float], frame: int) -> int | None:
        """The id of the face whose box holds `point` on file frame `frame`, the smallest box when nested."""
        hits = [
            (float((box[2] - box[0]) * (box[3] - box[1])), track_id)
            for track_id, box in self.boxes_at(frame)
            if box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]
        ]
        return min(hits)[1] if hits else None

    def chosen_track(self, face: FaceChoice, frame: int) -> int | None:
        """The track a render would take on file frame `frame` for `face` (the largest face without a choice)."""
        target = self._target(face)
        if target is None or not self.start <= frame < self.end:
            return None
        track_id = int(target.track_ids[frame - self.start])
        return track_id if track_id >= 0 else None

    def regeneration_mask(self, face: FaceChoice, frame: int, frame_shape: tuple[int, int]) -> np.ndarray | None:
        """`(height, width)` bool: the pixels a render may change on file frame `frame`, `None` without a face."""
        key = (face, frame, frame_shape)
        if key not in self._mask_cache:
            self._mask_cache[key] = self._regeneration_mask(face, frame, frame_shape)
        return self._mask_cache[key]

    def _regeneration_mask(self, face: FaceChoice, frame: int, frame_shape: tuple[int, int]) -> np.ndarray | None:
        from keydub.core.compositing.crop import blend_region
        from keydub.core.compositing.masks import leakproof_mask

        target = self._target(face)
        if target is None or not self.start <= frame < self.end:
            return None
        windows = self._windows(face, target)
        window = windows[frame - self.start]
        if window is None:
            return None
        region = leakproof_mask(window.to_crop(target.landmarks[frame - self.start]), self.crop_size)
        return blend_region(frame_shape, window, region)

    def _target(self, face: FaceChoice):
        from keydub.core.faces.target import choose_target_face

        key = ("target", face)
        if key not in self._mask_cache:
            try:
                relative = None if face.frame is None else face.frame - self.start
                self._mask_cache[key] = choose_target_face(
                    self.tracks, self.end - self.start, point=face.point, frame=relative, track_id=face.track_id
                )
            except NoFaceFoundError:
                self._mask_cache[key] = None
        return self._mask_cache[key]

    def _windows(self, face: FaceChoice, target) -> list:
        from keydub.core.compositing.crop import crop_windows

        key = ("windows", face)
        if key not in self._mask_cache:
            self._mask_cache[key] = crop_windows(target.landmarks, output_size=self.crop_size)
        return self._mask_cache[key]


def analyse_faces(
    video: Path,
    start: int,
    end: int,
    backend: str = "face-alignment",
    *,
    backend_factory: BackendFactory | None = None,
    cache: AnalysisCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> FaceAnalysis:
    """The face tracks of frames `[start, end)` of `video`, cut from the clip's analysis (tracked once, cached).

    Args:
        video (`Path`): the clip.
        start (`int`), end (`int`): frames of the file.
        backend (`str`, defaults to `"face-alignment"`): the landmark backend's name.
        backend_factory (`BackendFactory | None`): makes the backend from its name (an `Engine`'s, to reuse its
            loaded detector); defaults to `get_landmark_backend`.
        cache (`AnalysisCache | None`): where the clip's landmark pass is looked up and kept; defaults to the one
            in the Keydub cache folder, which `keydub render` and the worker read.
        progress (`ProgressCallback | None`): receives `Progress("landmarks", done, total)` over the whole clip when
            it is not cached yet.
        cancel (`CancelToken | None`): stops the analysis between frames (`RenderInterruptedError`, nothing cached).

    Raises:
        `NoFaceFoundError`: no face anywhere in the range.
    """
    detector = (backend_factory or faces.get_landmark_backend)(backend)
    tracks = track_clip(
        video, detector, cache=AnalysisCache() if cache is None else cache, progress=progress, cancel=cancel
    )
    in_range = cut_tracks(tracks, start, end)
    if not in_range:
        raise NoFaceFoundError(
            f"no face was found in {Path(video).name} between frames {start} and {end - 1}; "
            "choose a clip or range where the actor's face is visible"
        )
    return FaceAnalysis(video=Path(video), start=start, end=end, tracks=in_range)
