"""Stand-ins and timelines for the render-farm tests and `benchmarks/ray_scaling.py`.

Ray actors build their engines from the factories here, so this folder must be on their `PYTHONPATH`
(`ray_runtime_env()`).
"""

import os
import time
from dataclasses import replace
from pathlib import Path

import opentimelineio as otio
from face_fixtures import DrawnFaceBackend, template_landmarks
from otio_fixtures import (
    SOURCE_STARTS,
    TONES,
    audio_clip,
    audio_track,
    copy_renderer,
    resolve_timeline,
    video_clip,
    video_track,
    write_sources,
    write_tone_wav,
)
from queue_fixtures import TESTS, FunctionEngine

from keydub.core.engine import Engine
from keydub.core.errors import KeydubError


WIDTH, HEIGHT = 96, 80
# A frontal face in the middle of the synthetic frames, where the stand-in landmark backend reports it.
FACE = template_landmarks(48, 36, 36)


def tiny_render_options(weights: dict[str, Path]) -> dict[str, str]:
    """Render options of a lossless CPU render with the tiny weights saved by `save_tiny_weights`."""
    # Imported here: the cluster's actors import this module and need no model library (diffusers, transformers).
    from tiny_models import tiny_weight_options

    return {
        **tiny_weight_options(weights),
        "codec": "ffv1",
        "device": "cpu",
        "dtype": "float32",
    }


def drawn_face_engine(cache_dir: str) -> Engine:
    """The real engine, with the stand-in landmark backend that finds the face drawn in the synthetic clips."""
    backend = DrawnFaceBackend(lambda index: FACE, (HEIGHT, WIDTH))
    return Engine(cache_dir=cache_dir, landmark_backends={"face-alignment": backend})


class TimedEngine:
    """`drawn_face_engine` that adds its own wall-clock seconds to each render's report (`engine_seconds`), so the
    time a render spends outside the engine (scheduling, transfers) can be told apart."""

    def __init__(self, cache_dir: str) -> None:
        self.engine = drawn_face_engine(cache_dir)

    def render(self, request, progress=None, cancel=None):
        began = time.perf_counter()
        result = self.engine.render(request, progress, cancel)
        return replace(result, report={**result.report, "engine_seconds": time.perf_counter() - began})


class SlowCopyEngine(FunctionEngine):
    """The copy stand-in, `delay` seconds per frame: slow enough to kill its actor mid-job."""

    def __init__(self, delay: float) -> None:
        super().__init__(copy_renderer)
        self.delay = delay

    def render(self, request, progress=None, cancel=None):
        def slowed(event):
            time.sleep(self.delay)
            if progress is not None:
                progress(event)

        return super().render(request, slowed, cancel)


class NodePathEngine(FunctionEngine):
    """The copy stand-in that refuses any file not under `prefix`, the nodes' view of the shared storage."""

    def __init__(self, prefix: str) -> None:
        super().__init__(copy_renderer)
        self.prefix = prefix

    def render(self, request, progress=None, cancel=None):
        for path in (request.video, request.audio, request.output):
            if not str(path).startswith(self.prefix + os.sep):
                raise KeydubError(f"the node was handed {path}, not a path under {self.prefix}")
        return super().render(request, progress, cancel)


def ray_runtime_env() -> dict:
    """What the actors of a local test cluster need: this folder importable, one thread each."""
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")]))
    return {"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}}


# (name, source, offset into the source) of the clips of `write_clip_timeline`, cycling through the sources.
SHOTS = [(f"sh{10 * (index + 1):03d}", f"A00{index % 3 + 1}", 20 + 8 * (index // 3)) for index in range(12)]


def write_clip_timeline(folder: Path, clips: int = 4, frames: int = 3) -> Path:
    """`clips` dialogue clips of `frames` frames each (sh010, sh020, ... over A001-A003) over one dub stem."""
    media = folder / "media"
    sources = write_sources(media, (WIDTH, HEIGHT))
    premix = media / "premix_es.wav"
    write_tone_wav(premix, TONES["premix_es"])
    picture = video_track(
        "Video 1",
        [
            video_clip(name, sources[source], SOURCE_STARTS[source] + offset, frames, SOURCE_STARTS[source])
            for name, source, offset in SHOTS[:clips]
        ],
    )
    dub = audio_track("DX es-419", [audio_clip("premix_es", premix, 0, clips * frames)])
    path = folder / "timeline.otio"
    otio.adapters.write_to_file(resolve_timeline(f"{clips} clips", [picture, dub]), str(path))
    return path
