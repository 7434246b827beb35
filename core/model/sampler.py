"""The KeySync sampler: the diffusion maths as small pure functions (diffusers' "scheduler" role).

Everything here follows the official KeySync sampling code (see `keysync-architecture.md` §6):

- v-scaling preconditioning with EDM's `c_noise` (`precondition`, §6.1);
- the "Align Your Steps" sigma list (`ays_sigmas`, §6.3);
- latent replacement: outside the mask the clean latents of the input video are written back before and after every
  model call (`keep_outside_mask`, §6.2);
- 3-branch audio/identity guidance on the x0-predictions (`guide`, §6.5);
- the deterministic Euler loop started from `eps * sqrt(1 + sigma_0^2)` (`sample`, §6.4).

No model is imported here: the loop calls a `GuidedModel`, a function the pipeline builds around a U-Net, that
returns the raw network output of the three guidance branches batched together.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from keydub.core.errors import InvalidParameterError
from keydub.core.model.sampling import DEFAULT_AUDIO_GUIDANCE, DEFAULT_REF_GUIDANCE, MIN_AYS_STEPS


# The 10-step AYS schedule of the official `AYSDiscretization`; the final sigma 0 is appended by `ays_sigmas`.
AYS_BASE_SIGMAS: tuple[float, ...] = (700.0, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002)
# Order of the guidance branches along the batch axis, as in the official `AudioRefMultiCondGuider.prepare_inputs`:
# no audio and no identity/keyframe condition, identity/keyframe condition only, everything.
GUIDANCE_BRANCHES: tuple[str, ...] = ("unconditional", "reference", "full")

GuidedModel = Callable[[torch.Tensor, float], torch.Tensor]
"""`(scaled_input [B,T,4,h,w], c_noise) -> raw outputs [3,B,T,4,h,w]`, branches in `GUIDANCE_BRANCHES` order."""

StepCallback = Callable[[int, float, dict[str, torch.Tensor]], dict[str, torch.Tensor] | None]
"""`(step, sigma, {"latents", "denoised"}) -> replaced tensors or None`, called after each Euler step."""


@dataclass(frozen=True)
class Preconditioning:
    """The four preconditioning coefficients of one noise level.

    Args:
        c_skip (`float`): weight of the noisy input in the x0-prediction, `1 / (sigma^2 + 1)`.
        c_out (`float`): weight of the network output in the x0-prediction, `-sigma / sqrt(sigma^2 + 1)`.
        c_in (`float`): scale applied to the noisy input before the network, `1 / sqrt(sigma^2 + 1)`.
        c_noise (`float`): the network's timestep input, `0.25 * ln(sigma)`.
    """

    c_skip: float
    c_out: float
    c_in: float
    c_noise: float


def precondition(sigma: float) -> Preconditioning:
    """SVD's v-prediction scaling with EDM's `c_noise` (official `VScalingWithEDMcNoise`).

    Args:
        sigma (`float`): the noise level, strictly positive.

    Returns:
        `Preconditioning`: the coefficients, computed in float64.
    """
    if not sigma > 0:
        raise InvalidParameterError(f"noise level sigma must be positive, got {sigma}")
    return Preconditioning(
        c_skip=1.0 / (sigma**2 + 1.0),
        c_out=-sigma / math.sqrt(sigma**2 + 1.0),
        c_in=1.0 / math.sqrt(sigma**2 + 1.0),
        c_noise=0.25 * math.log(sigma),
    )


def ays_sigmas(num_steps: int = MIN_AYS_STEPS) -> tuple[float, ...]:
    """The official AYS noise levels for `num_steps`, ending with the final 0.

    Like the official code, `num_steps=10` returns the 11 base sigmas plus 0 (12 sigmas, so 11 Euler steps and 11
    guided model evaluations); for more steps the base list is interpolated log-linearly to `num_steps` values (so
    `num_steps=11` gives the same list as 10, and `n > 11` gives `n` Euler steps).

    Args:
        num_steps (`int`, defaults to 10): at least 10.

    Returns:
        `tuple[float, ...]`: decreasing sigmas, the last one 0.0.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < MIN_AYS_STEPS:
        raise InvalidParameterError(
            f"num_steps must be an integer of at least {MIN_AYS_STEPS} (the Align-Your-Steps schedule KeySync was "
            f"tuned with cannot be shortened), got {num_steps!r}; use 10 for the official setting"
        )
    if num_steps == MIN_AYS_STEPS:
        return (*AYS_BASE_SIGMAS, 0.0)
    # Interpolate log(sigma) linearly in "schedule position", from the smallest sigma up, then reverse.
    base_positions = np.linspace(0.0, 1.0, len(AYS_BASE_SIGMAS))
    log_sigmas_rising = np.log(np.array(AYS_BASE_SIGMAS[::-1], dtype=np.float64))
    positions = np.linspace(0.0, 1.0, num_steps)
    sigmas = np.exp(np.interp(positions, base_positions, log_sigmas_rising))[::-1]
    return (*(float(s) for s in sigmas), 0.0)


def check_sigmas(sigmas: Sequence[float]) -> tuple[float, ...]:
    """Validate a custom noise schedule: strictly decreasing positive values followed by a final 0.

    Args:
        sigmas (`Sequence[float]`): at least one positive sigma, then 0.

    Returns:
        `tuple[float, ...]`: the schedule as floats.
    """
    values = tuple(float(s) for s in sigmas)
    is_valid = (
        len(values) >= 2
        and values[-1] == 0.0
        and all(s > 0 for s in values[:-1])
        and all(a > b for a, b in zip(values, values[1:], strict=False))
    )
    if not is_valid:
        raise InvalidParameterError(
            f"a custom sigma schedule must be strictly decreasing positive values ending with 0.0, got {values}"
        )
    return values


def initial_noise_scale(sigma_max: float) -> float:
    """Scale of the starting latents, `sqrt(1 + sigma_max^2)` (the official sampler's choice, not `sigma_max`)."""
    return math.sqrt(1.0 + sigma_max**2)


def keep_outside_mask(latents: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Write the clean latents back everywhere outside the mask.

    Args:
        latents (`torch.Tensor`): `[..., C, h, w]` latents being generated.
        clean (`torch.Tensor`): the clean (scaled) latents of the input frames, same shape.
        mask (`torch.Tensor`): boolean `[..., 1, h, w]`, `True` where the model may generate.

    Returns:
        `torch.Tensor`: `latents` inside the mask, `clean` (bit-exact) outside.
    """
    return torch.where(mask, latents, clean)


def guide(
    unconditional: torch.Tensor,
    reference: torch.Tensor,
    full: torch.Tensor,
    *,
    audio_guidance: float = DEFAULT_AUDIO_GUIDANCE,
    ref_guidance: float = DEFAULT_REF_GUIDANCE,
) -> torch.Tensor:
    """3-branch guidance of the official `AudioRefMultiCondGuider` (non-normalised variant).

    `e_uc + ref_guidance * (e_ref - e_uc) + audio_guidance * (e_full - e_ref)`.

    Args:
        unconditional (`torch.Tensor`): x0-prediction without audio and without the identity/keyframe condition.
        reference (`torch.Tensor`): x0-prediction with the identity/keyframe condition but without audio.
        full (`torch.Tensor`): x0-prediction with every condition.
        audio_guidance (`float`, defaults to 5.0): weight of the audio direction.
        ref_guidance (`float`, defaults to 2.0): weight of the identity/keyframe direction.
    """
    return unconditional + ref_guidance * (reference - unconditional) + audio_guidance * (full - reference)


def euler_step(latents: torch.Tensor, denoised: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
    """One deterministic Euler step of the probability-flow ODE from `sigma` to `sigma_next`.

    A step to `sigma_next == 0` returns `denoised` itself: it is the same value in exact arithmetic, and
    computing it as `x - (x - denoised)` would lose the bit-exact clean latents outside the mask.
    """
    if sigma_next == 0.0:
        return denoised
    derivative = (latents - denoised) / sigma
    return latents + (sigma_next - sigma) * derivative


def denoise_guided(
    model: GuidedModel,
    latents: torch.Tensor,
    sigma: float,
    clean: torch.Tensor,
    mask: torch.Tensor,
    *,
    audio_guidance: float = DEFAULT_AUDIO_GUIDANCE,
    ref_guidance: float = DEFAULT_REF_GUIDANCE,
) -> torch.Tensor:
    """One guided denoiser evaluation (official `DenoiserDub` + `AudioRefMultiCondGuider`).

    1. Composite: clean latents outside the mask, the current latents inside.
    2. One batched model call for the three guidance branches on `c_in * composite`.
    3. x0-prediction per branch, `c_out * F + c_skip * composite`, with the clean latents written back outside the
       mask, then the guidance combination.

    Args:
        model (`GuidedModel`): see `GuidedModel`.
        latents (`torch.Tensor`): `[B,T,4,h,w]` current latents (float32).
        sigma (`float`): current noise level.
        clean (`torch.Tensor`): `[B,T,4,h,w]` clean scaled latents of the input frames.
        mask (`torch.Tensor`): boolean `[B,T,1,h,w]`, `True` inside the region to generate.
        audio_guidance, ref_guidance (`float`): see `guide`.

    Returns:
        `torch.Tensor`: the guided x0-prediction, `[B,T,4,h,w]`, equal to `clean` outside the mask.
    """
    coefficients = precondition(sigma)
    composite = keep_outside_mask(latents, clean, mask)
    raw = model(composite * coefficients.c_in, coefficients.c_noise).to(latents.dtype)
    if raw.shape != (len(GUIDANCE_BRANCHES), *latents.shape):
        raise ValueError(f"the guided model returned shape {tuple(raw.shape)}, expected (3, {tuple(latents.shape)})")
    denoised = keep_outside_mask(raw * coefficients.c_out + composite * coefficients.c_skip, clean, mask)
    return guide(denoised[0], denoised[1], denoised[2], audio_guidance=audio_guidance, ref_guidance=ref_guidance)


def sample(
    model: GuidedModel,
    noise: torch.Tensor,
    clean: torch.Tensor,
    mask: torch.Tensor,
    sigmas: Sequence[float],
    *,
    audio_guidance: float = DEFAULT_AUDIO_GUIDANCE,
    ref_guidance: float = DEFAULT_REF_GUIDANCE,
    callback_on_step_end: StepCallback | None = None,
) -> torch.Tensor:
    """The official deterministic Euler sampler (`EulerEDMSampler` with no churn) with masked guidance.

    Args:
        model (`GuidedModel`): the three-branch network call.
        noise (`torch.Tensor`): `[B,T,4,h,w]` standard normal noise (float32).
        clean (`torch.Tensor`): `[B,T,4,h,w]` clean scaled latents of the input frames.
        mask (`torch.Tensor`): boolean `[B,T,1,h,w]`, `True` inside the region to generate.
        sigmas (`Sequence[float]`): decreasing noise levels ending with 0 (`ays_sigmas`).
        audio_guidance, ref_guidance (`float`): see `guide`.
        callback_on_step_end (`StepCallback`, *optional*): called after each step as
            `callback(step, sigma, {"latents": ..., "denoised": ...})`, `step` counting from 0 and `sigma` the level
            the step started from; a returned `"latents"` replaces the latents the next step starts from (diffusers'
            `callback_on_step_end`). Raising from it stops the sampling (how a render is cancelled).

    Returns:
        `torch.Tensor`: the generated latents, bit-exact `clean` outside the mask.
    """
    sigmas = check_sigmas(sigmas)
    latents = noise * initial_noise_scale(sigmas[0])
    for step, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:], strict=True)):
        denoised = denoise_guided(
            model, latents, sigma, clean, mask, audio_guidance=audio_guidance, ref_guidance=ref_guidance
        )
        latents = euler_step(latents, denoised, sigma, sigma_next)
        if callback_on_step_end is not None:
            outputs = callback_on_step_end(step, sigma, {"latents": latents, "denoised": denoised}) or {}
            latents = outputs.get("latents", latents)
    return latents
