"""Cancelling: the token, the checking progress wrapper, and the pipeline stopping within one denoising step."""

import threading

import pytest
import torch
from test_pipeline import SHORT_SIGMAS, run, tiny_pipeline

from keydub.core.cancel import CancelToken, cancellable
from keydub.core.errors import KeydubError, RenderInterruptedError
from keydub.core.progress import Progress


def test_a_token_raises_only_once_cancelled_from_any_thread():
    token = CancelToken()
    token.raise_if_cancelled()
    assert not token.is_cancelled
    thread = threading.Thread(target=token.cancel)
    thread.start()
    thread.join()
    assert token.is_cancelled and token.wait(0)
    with pytest.raises(RenderInterruptedError, match="cancelled; no output was written") as error:
        token.raise_if_cancelled()
    assert isinstance(error.value, KeydubError)


def test_a_cancellable_callback_checks_before_forwarding():
    seen = []
    token = CancelToken()
    checked = cancellable(seen.append, token)
    checked(Progress("render", 1, 3))
    token.cancel()
    with pytest.raises(RenderInterruptedError):
        checked(Progress("render", 2, 3))
    assert seen == [Progress("render", 1, 3)]
    assert cancellable(seen.append, None) == seen.append  # nothing wrapped without a token
    with pytest.raises(RenderInterruptedError):
        cancellable(None, token)(Progress("render", 1, 1))


@pytest.mark.parametrize("where", ["progress", "step callback"])
def test_the_pipeline_stops_within_one_denoising_step(where):
    pipe = tiny_pipeline()
    token = CancelToken()
    steps: list[tuple[str, int]] = []
    unet_calls = []
    forward = pipe.keyframe_unet.forward
    pipe._unet_calls[id(pipe.keyframe_unet)] = lambda *args: unet_calls.append(1) or forward(*args)

    def on_progress(event: Progress) -> None:
        if event.unit == "steps":
            steps.append((event.stage, event.done))
            if where == "progress" and event.done == 2:
                token.cancel()

    def on_step_end(pipeline, step, sigma, callback_kwargs):
        assert pipeline is pipe and callback_kwargs["stage"] == "keyframes"
        assert sigma == SHORT_SIGMAS[step]
        if where == "step callback" and step == 1:
            token.cancel()
        return None

    with pytest.raises(RenderInterruptedError):
        run(pipe, 14, progress=on_progress, callback_on_step_end=on_step_end, cancel=token)
    # Cancelled during keyframe step 2: step 3 never starts (one batched U-Net call per guided step here).
    assert steps == [("keyframes", 1), ("keyframes", 2)] if where == "progress" else [("keyframes", 1)]
    assert len(unet_calls) == 2


def test_a_step_callback_sees_every_step_and_can_replace_the_latents():
    pipe = tiny_pipeline()
    seen = []

    def record(pipeline, step, sigma, callback_kwargs):
        seen.append((callback_kwargs["stage"], step))
        assert callback_kwargs["latents"].shape == callback_kwargs["denoised"].shape
        return None

    plain = run(pipe, 14, output_type="latent", callback_on_step_end=record)
    assert seen == [("keyframes", i) for i in range(3)] + [("interpolation", i) for i in range(3)]
    noisy = run(
        pipe,
        14,
        output_type="latent",
        callback_on_step_end=lambda p, i, s, kw: {"latents": kw["latents"] + 1.0} if i == 0 else None,
    )
    assert not torch.allclose(plain[0][1], noisy[0][1])
