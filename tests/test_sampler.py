"""The sampler maths against hand-computed numbers; no U-Net is involved."""

import math

import pytest
import torch

from keydub.core.errors import InvalidParameterError
from keydub.core.model import sampler
from keydub.core.model.sampler import (
    ays_sigmas,
    check_sigmas,
    denoise_guided,
    euler_step,
    guide,
    initial_noise_scale,
    keep_outside_mask,
    precondition,
)


def test_preconditioning_matches_hand_values():
    # sigma = 0.75: sigma^2 + 1 = 1.5625 = 1.25^2.
    c = precondition(0.75)
    assert c.c_skip == pytest.approx(0.64, abs=1e-15)
    assert c.c_out == pytest.approx(-0.6, abs=1e-15)
    assert c.c_in == pytest.approx(0.8, abs=1e-15)
    assert c.c_noise == pytest.approx(-0.07192051811294521, abs=1e-15)  # ln(0.75) / 4
    # sigma = 2.4: sigma^2 + 1 = 6.76 = 2.6^2.
    c = precondition(2.4)
    assert (c.c_skip, c.c_out, c.c_in) == pytest.approx((1 / 6.76, -2.4 / 2.6, 1 / 2.6), abs=1e-15)
    # The first AYS level: c_noise = ln(700) / 4.
    assert precondition(700.0).c_noise == pytest.approx(1.6377700837, abs=1e-10)


def test_preconditioning_rejects_non_positive_sigma():
    with pytest.raises(InvalidParameterError, match="positive"):
        precondition(0.0)


def test_ays_ten_steps_is_the_official_list_plus_zero():
    sigmas = ays_sigmas(10)
    assert sigmas == (700.0, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002, 0.0)
    assert len(sigmas) - 1 == 11  # Euler steps (= guided model evaluations)


def test_ays_more_steps_interpolates_log_linearly():
    # 11 points on the same grid as the base list reproduce it.
    assert ays_sigmas(11) == pytest.approx(ays_sigmas(10), rel=1e-12)
    sigmas = ays_sigmas(21)
    assert len(sigmas) == 22 and sigmas[-1] == 0.0
    # Every other value is a base sigma; the ones between are geometric means of their neighbours.
    assert sigmas[0:21:2] == pytest.approx(sampler.AYS_BASE_SIGMAS, rel=1e-12)
    assert sigmas[1] == pytest.approx(math.sqrt(700.0 * 54.5), rel=1e-12)  # 195.3202...
    assert sigmas[19] == pytest.approx(math.sqrt(0.034 * 0.002), rel=1e-12)
    assert all(a > b for a, b in zip(sigmas, sigmas[1:], strict=False))


@pytest.mark.parametrize("steps", [9, 1, 0, -3, 10.0, True])
def test_ays_rejects_fewer_than_ten_steps(steps):
    with pytest.raises(InvalidParameterError, match="at least 10"):
        ays_sigmas(steps)


@pytest.mark.parametrize("sigmas", [[5.0, 1.0], [1.0, 2.0, 0.0], [0.0], [3.0, 3.0, 0.0], [2.0, -1.0, 0.0]])
def test_custom_schedules_must_decrease_to_zero(sigmas):
    with pytest.raises(InvalidParameterError, match="ending with 0.0"):
        check_sigmas(sigmas)


def test_initial_noise_scale_is_sqrt_one_plus_sigma_squared():
    assert initial_noise_scale(700.0) == pytest.approx(700.000714285350, abs=1e-9)
    assert initial_noise_scale(0.75) == 1.25


def test_euler_step_hand_value_and_exact_last_step():
    x, denoised = torch.tensor([1.0]), torch.tensor([0.4])
    # d = (1 - 0.4) / 2 = 0.3; x + (0.5 - 2) * 0.3 = 0.55
    assert euler_step(x, denoised, 2.0, 0.5).item() == pytest.approx(0.55, abs=1e-7)
    odd = torch.tensor([0.1234567])
    assert euler_step(torch.tensor([3.3]), odd, 0.002, 0.0) is odd


def test_guidance_combination():
    uc, ref, full = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([4.0])
    assert guide(uc, ref, full).item() == 13.0  # 1 + 2 * (2 - 1) + 5 * (4 - 2)
    assert guide(uc, ref, full, audio_guidance=1.5, ref_guidance=3.0).item() == 7.0
    assert guide(uc, ref, full, audio_guidance=1.0, ref_guidance=1.0).item() == 4.0  # plain conditional


def test_keep_outside_mask_selects_exactly():
    latents, clean = torch.full((1, 2, 2), 7.0), torch.arange(4.0).reshape(1, 2, 2)
    mask = torch.tensor([[[True, False], [False, True]]])
    assert keep_outside_mask(latents, clean, mask).tolist() == [[[7.0, 1.0], [2.0, 7.0]]]


def _masked_case(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    shape = (2, 3, 4, 4, 4)
    clean = torch.randn(shape, generator=generator)
    noise = torch.randn(shape, generator=generator)
    mask = torch.rand((2, 3, 1, 4, 4), generator=generator) > 0.5
    return clean, noise, mask


def test_denoise_guided_hand_value():
    clean, latents, mask = (
        torch.full((1, 1, 1, 1, 2), -9.0),
        torch.ones(1, 1, 1, 1, 2),
        torch.tensor([[[[[True, False]]]]]),
    )
    seen = {}

    def model(scaled, c_noise):
        seen["scaled"], seen["c_noise"] = scaled.clone(), c_noise
        return torch.stack([torch.zeros_like(scaled), torch.ones_like(scaled), torch.full_like(scaled, 2.0)])

    out = denoise_guided(model, latents, 0.75, clean, mask)
    # The model sees c_in * composite: 0.8 * 1 inside, 0.8 * clean outside, and c_noise = ln(0.75) / 4.
    assert seen["scaled"].flatten().tolist() == pytest.approx([0.8, -7.2])
    assert seen["c_noise"] == pytest.approx(math.log(0.75) / 4)
    # D_k = -0.6 * F_k + 0.64 * 1 = (0.64, 0.04, -0.56); guided = 0.64 + 2 * (-0.6) + 5 * (-0.6) = -3.56.
    assert out.flatten().tolist() == pytest.approx([-3.56, -9.0], abs=1e-6)
    assert out.flatten()[1].item() == -9.0


def _toy_model(scaled: torch.Tensor, c_noise: float) -> torch.Tensor:
    """A deterministic non-linear stand-in for the three branches of a network."""
    return torch.stack([torch.tanh(scaled * k + c_noise) * (k - 1.5) for k in (1.0, 2.0, 3.0)])


def test_sample_keeps_clean_latents_exactly_outside_the_mask():
    clean, noise, mask = _masked_case()
    calls = []

    def model(scaled, c_noise):
        calls.append(c_noise)
        return _toy_model(scaled, c_noise)

    out = sampler.sample(model, noise, clean, mask, ays_sigmas(10))
    assert len(calls) == 11
    assert torch.equal(out[~mask.expand_as(out)], clean[~mask.expand_as(out)])
    assert not torch.allclose(out[mask.expand_as(out)], clean[mask.expand_as(out)])


def test_sample_matches_a_retyped_reference_loop():
    clean, noise, mask = _masked_case(seed=1)
    sigmas = ays_sigmas(10)
    steps = []

    def record(step, sigma, tensors):
        steps.append((step, sigma, tuple(sorted(tensors))))

    out = sampler.sample(_toy_model, noise, clean, mask, sigmas, callback_on_step_end=record)

    # The official loop as written in k-diffusion style: x_T = eps * sqrt(1 + sigma_0^2), then Euler steps.
    x = noise * math.sqrt(1.0 + sigmas[0] ** 2)
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:], strict=True):
        c_skip, c_out = 1 / (sigma**2 + 1), -sigma / math.sqrt(sigma**2 + 1)
        c_in, c_noise = 1 / math.sqrt(sigma**2 + 1), 0.25 * math.log(sigma)
        x_masked = x * mask + clean * ~mask
        e_uc, e_ref, e_full = (
            (f * c_out + x_masked * c_skip) * mask + clean * ~mask for f in _toy_model(x_masked * c_in, c_noise)
        )
        denoised = e_uc + 2.0 * (e_ref - e_uc) + 5.0 * (e_full - e_ref)
        derivative = (x - denoised) / sigma  # official `to_d`, then `x + dt * d`
        x = x + (sigma_next - sigma) * derivative
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)
    assert steps == [(i, sigmas[i], ("denoised", "latents")) for i in range(11)]


def test_a_step_callback_can_replace_the_latents_and_stop_the_loop():
    clean, noise, mask = _masked_case(seed=2)
    sigmas = ays_sigmas(10)
    steps = []

    def stop_after_three(step, sigma, tensors):
        steps.append(step)
        if step == 2:
            raise KeyboardInterrupt
        return {"latents": tensors["denoised"]}

    with pytest.raises(KeyboardInterrupt):
        sampler.sample(_toy_model, noise, clean, mask, sigmas, callback_on_step_end=stop_after_three)
    assert steps == [0, 1, 2]
    # Replacing the latents by the x0-prediction after every step changes the result.
    replaced = sampler.sample(
        _toy_model, noise, clean, mask, sigmas, callback_on_step_end=lambda step, sigma, t: {"latents": t["denoised"]}
    )
    plain = sampler.sample(_toy_model, noise, clean, mask, sigmas)
    assert not torch.allclose(replaced, plain)
