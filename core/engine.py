"""The engine every client renders through: loaded models kept between renders, clip analyses cached on disk.

`Engine` holds the KeySync pipelines (keyed by weights, device and precision), the landmark backends and the SAM2
masker, each loaded on first use and reused; `Engine.render(request, progress, cancel)` is how `keydub render`
and `keydub eval` render (and `inspect --faces` and `mask` analyse), and the seam the batch, the worker and the
panel stand on. It is plain Python (no Qt, no OTIO); its loads are serialised by a lock, so threads may share
it.

```py
>>> from keydub.core.engine import Engine
>>> from keydub.core.render import RenderRequest
>>> engine = Engine()
>>> analysis = engine.analyse_clip("shot.mov", backend="dlib")          # tracks the clip once, cached on disk
>>> [t.track_id for t in analysis.tracks]                              # the ids --face-track takes
>>> result = engine.render(RenderRequest(video="shot.mov", audio="dub.wav", output="shot_dub.mov"))
>>> engine.loads["pipeline"]                                           # 1, however many renders follow
```
"""

import os
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from keydub.core import faces  # looked up on use, so a replaced get_landmark_backend is seen
from keydub.core.analysis import DEFAULT_CROP_SIZE, AnalysisCache, ClipAnalysis, analyse_clip, track_clip
from keydub.core.cancel import CancelToken
from keydub.core.faces import LandmarkBackend
from keydub.core.progress import ProgressCallback
from keydub.core.render.request import FaceChoice, RenderRequest, RenderResult


if TYPE_CHECKING:
    from keydub.core.faces import FaceTrack
    from keydub.core.model.pipeline import KeySyncPipeline, PipelineStepCallback
    from keydub.core.occlusion import OcclusionMasker


class PipelineKey(NamedTuple):
    """What makes two loaded KeySync pipelines different (weights as requested, resolved device and dtype)."""

    weights: str | None
    vae: str | None
    hubert: str | None
    wavlm: str | None
    device: str
    dtype: str


class Engine:
    """Loaded models and cached clip analyses, shared by every render of a process.

    Args:
        cache_dir (`str | os.PathLike | None`): where clip analyses are cached (in `<cache_dir>/analysis`);
            defaults to the Keydub cache folder (`$KEYDUB_CACHE_DIR`, else `~/.cache/keydub`).
        landmark_backends (`Mapping[str, LandmarkBackend] | None`): ready landmark backends by name, used instead
            of loading one of that name (a custom detector; a stand-in in tests).

    Attributes:
        loads (`Counter[str]`): how many times each kind of model was loaded (`"pipeline"`, `"landmark backend"`,
            `"occlusion masker"`): a pipeline is loaded once per `PipelineKey`, however many renders use it.
        analysis_cache (`AnalysisCache`): the on-disk cache of whole-clip landmark passes.
    """

    def __init__(
        self,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        landmark_backends: Mapping[str, LandmarkBackend] | None = None,
    ) -> None:
        self.analysis_cache = AnalysisCache(None if cache_dir is None else Path(cache_dir) / "analysis")
        self.loads: Counter[str] = Counter()
        self._pipelines: dict[PipelineKey, KeySyncPipeline] = {}
        self._given_backends = dict(landmark_backends or {})
        self._landmark_backends: dict[str, LandmarkBackend] = dict(self._given_backends)
        self._occlusion_maskers: dict[tuple[str | None, str | None, str], OcclusionMasker] = {}
        self._lock = threading.RLock()

    # ----------------------------------------------------------------------------------------------------------
    # Models, each loaded on first use
    # ----------------------------------------------------------------------------------------------------------
    def pipeline(
        self,
        request: RenderRequest | None = None,
        *,
        weights: str | None = None,
        vae: str | None = None,
        hubert: str | None = None,
        wavlm: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
    ) -> "KeySyncPipeline":
        """The KeySync pipeline for `request`'s weights, device and precision (or the ones given), loaded once.

        Raises:
            `DeviceNotAvailableError`: the device does not exist here. `WeightsNotFoundError`: weights missing.
        """
        from keydub.core.devices import resolve_device, resolve_dtype
        from keydub.core.model.pipeline import KeySyncPipeline

        if request is not None:
            options = request.options
            weights, vae, hubert, wavlm = options.weights, options.vae, options.hubert, options.wavlm
            device, dtype = options.device, options.dtype
        resolved = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, resolved)
        key = PipelineKey(weights, vae, hubert, wavlm, str(resolved), str(torch_dtype).removeprefix("torch."))
        with self._lock:
            if key not in self._pipelines:
                self._pipelines[key] = KeySyncPipeline.from_pretrained(
                    weights, vae, hubert, wavlm, torch_dtype=torch_dtype, device=resolved
                )
                self.loads["pipeline"] += 1
            return self._pipelines[key]

    def landmark_backend(self, name: str = "face-alignment") -> LandmarkBackend:
        """The landmark backend `name` (`"face-alignment"` or `"dlib"`), loaded once."""
        with self._lock:
            if name not in self._landmark_backends:
                self._landmark_backends[name] = faces.get_landmark_backend(name)
                self.loads["landmark backend"] += 1
            return self._landmark_backends[name]

    def occlusion_masker(
        self, pretrained: str | None = None, variant: str | None = None, device: str = "auto"
    ) -> "OcclusionMasker":
        """The SAM 2.1 occluder masker (`OcclusionMasker.from_pretrained` arguments), loaded once."""
        from keydub.core.devices import resolve_device
        from keydub.core.occlusion import OcclusionMasker

        resolved = resolve_device(device)
        key = (pretrained, variant, str(resolved))
        with self._lock:
            if key not in self._occlusion_maskers:
                self._occlusion_maskers[key] = OcclusionMasker.from_pretrained(pretrained, variant, resolved)
                self.loads["occlusion masker"] += 1
            return self._occlusion_maskers[key]

    # ----------------------------------------------------------------------------------------------------------
    # Work
    # ----------------------------------------------------------------------------------------------------------
    def analyse_clip(
        self,
        video: str | os.PathLike[str],
        start: int = 0,
        end: int | None = None,
        backend: str | LandmarkBackend = "face-alignment",
        *,
        face: FaceChoice | None = None,
        crop_size: int = DEFAULT_CROP_SIZE,
        identity: str | int = "first",
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ClipAnalysis:
        """`keydub.core.analysis.analyse_clip` with this engine's landmark backends and analysis cache."""
        detector = self.landmark_backend(backend) if isinstance(backend, str) else backend
        return analyse_clip(
            video,
            start,
            end,
            detector,
            face=face,
            crop_size=crop_size,
            identity=identity,
            cache=self.analysis_cache,
            progress=progress,
            cancel=cancel,
        )

    def track_clip(
        self,
        video: str | os.PathLike[str],
        backend: str | LandmarkBackend = "face-alignment",
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> "tuple[FaceTrack, ...]":
        """Every face track of the whole clip (`keydub.core.analysis.track_clip`), from the analysis cache."""
        detector = self.landmark_backend(backend) if isinstance(backend, str) else backend
        return track_clip(video, detector, cache=self.analysis_cache, progress=progress, cancel=cancel)

    def render(
        self,
        request: RenderRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        analysis: ClipAnalysis | None = None,
        callback_on_step_end: "PipelineStepCallback | None" = None,
    ) -> RenderResult:
        """Render `request` with this engine's models (see `render_clip`).

        The request is checked (clip, range, outputs, dub) and the clip analysed (from the cache when it was
        analysed before) before the model loads, so bad input and a missing face are reported at once.

        Args:
            request (`RenderRequest`): what to render.
            progress (`ProgressCallback | None`): every stage's progress, see `render_clip`.
            cancel (`CancelToken | None`): stops the render within one denoising step (`RenderInterruptedError`,
                no output file).
            analysis (`ClipAnalysis | None`): a ready analysis of the request's clip; else the engine's.
            callback_on_step_end (`PipelineStepCallback | None`): called after every denoising step (previews).
        """
        from keydub.core.cancel import cancellable
        from keydub.core.render.path import check_request, render_clip

        checked = check_request(request)
        start, end = checked.frames
        backend = self.landmark_backend(request.options.landmark_backend)
        if analysis is None:
            analysis = self.analyse_clip(
                request.video,
                start,
                end,
                backend,
                face=request.face,
                identity=request.options.identity,
                progress=cancellable(progress, cancel),
            )
        pipeline = self.pipeline(request)
        masker = self.occlusion_masker(device=request.options.device) if request.occluders else None
        return render_clip(
            request,
            progress,
            pipeline=pipeline,
            landmark_backend=backend,
            cancel=cancel,
            occlusion_masker=masker,
            analysis=analysis,
            checked=checked,
            callback_on_step_end=callback_on_step_end,
        )

    def release(self) -> None:
        """Drop every loaded model (and free the GPU memory they held); the next use loads again."""
        with self._lock:
            self._pipelines.clear()
            self._landmark_backends = dict(self._given_backends)
            self._occlusion_maskers.clear()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
