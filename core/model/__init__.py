"""The KeySync model: the audio-conditioned U-Net, the sampler maths, the keyframe/window planner, VAE helpers and
the two-stage pipeline (`keysync-architecture.md`).

The public names are imported on first use, so that the light parts (the planner, the sampler maths, the FLOP
budget) can be used without loading diffusers and the speech encoders.
"""

import importlib
from typing import Any


_EXPORTS = {
    "KeySyncPipeline": "keydub.core.model.pipeline",
    "KeySyncUNet": "keydub.core.model.unet",
    "DubbingPlan": "keydub.core.model.planner",
    "plan_dubbing": "keydub.core.model.planner",
    "ays_sigmas": "keydub.core.model.sampler",
    "encode_frames": "keydub.core.model.vae",
    "decode_latents": "keydub.core.model.vae",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
