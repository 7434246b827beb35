"""What a sampling run is asked for (`SamplingConfig`) and the official values: light to import (no torch).

The KeySync defaults (`keysync-architecture.md` §6): 10 Align-Your-Steps steps, audio guidance 5, identity
(reference) guidance 2, seed 0. The command line, job checks and the panel take their limits and defaults from
here; `keydub.core.model.sampler` does the maths.
"""

import math
from dataclasses import dataclass

from keydub.core.errors import InvalidParameterError


# The official discretisation refuses fewer steps than this (it cannot shorten the AYS list).
MIN_AYS_STEPS = 10
# Above this a render would take days for nothing.
MAX_STEPS = 1000
DEFAULT_AUDIO_GUIDANCE = 5.0
DEFAULT_REF_GUIDANCE = 2.0
# Guidance scales far outside a few tens turn the output into noise.
MAX_GUIDANCE = 100.0
# torch's generators take seeds of up to 64 bits.
MAX_SEED = 2**64 - 1


@dataclass(frozen=True)
class SamplingConfig:
    """How the sampler runs, one value from the request to the Euler loop.

    Args:
        steps (`int`, defaults to 10): AYS steps (10 means the official 11 Euler steps; at least 10).
        sigmas (`tuple[float, ...] | None`): a custom decreasing noise schedule ending with 0, replacing the AYS
            one (fewer steps for previews and tests).
        audio_guidance (`float`, defaults to 5.0): weight of the audio direction.
        ref_guidance (`float`, defaults to 2.0): weight of the identity/keyframe direction.
        seed (`int`, defaults to 0): every clip's noise seed (noise is drawn on the CPU, so results do not depend
            on the device).
    """

    steps: int = MIN_AYS_STEPS
    sigmas: tuple[float, ...] | None = None
    audio_guidance: float = DEFAULT_AUDIO_GUIDANCE
    ref_guidance: float = DEFAULT_REF_GUIDANCE
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("audio_guidance", "ref_guidance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidParameterError(f"{name} must be a finite number, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise InvalidParameterError(f"seed must be a whole number from 0 to {MAX_SEED}, got {self.seed!r}")

    def guidance(self) -> dict[str, float]:
        """The guidance scales, as `keydub.core.model.sampler.sample` takes them."""
        return {"audio_guidance": self.audio_guidance, "ref_guidance": self.ref_guidance}
