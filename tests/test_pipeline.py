"""KeySyncPipeline end to end with tiny random models: coverage, determinism, masking, keyframes, memory."""

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKLTemporalDecoder
from tiny_models import save_tiny_weights, tiny_pipeline_components

from keydub.core.errors import AudioError, InvalidParameterError, WeightsNotFoundError
from keydub.core.model.pipeline import KeySyncPipeline
from keydub.core.model.sampling import SamplingConfig
from keydub.core.model.vae import SVD_VAE_CONFIG, decode_latents, encode_frames, spatial_factor


FRAME_SIZE = 64
# Three Euler steps instead of the official eleven, for every test but the official-schedule one.
SHORT_SIGMAS = (700.0, 4.248, 0.173, 0.0)


class SyntheticClip:
    """A lazily generated clip: frame `i` is the same whenever it is read, and nothing is held between reads.

    Records the largest slice read, so tests can check the pipeline reads chunk by chunk.
    """

    def __init__(self, num_frames: int, size: int = FRAME_SIZE, masks: bool = False) -> None:
        self.num_frames, self.size, self.masks = num_frames, size, masks
        self.largest_read = 0

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: slice) -> torch.Tensor:
        frames = range(self.num_frames)[index]
        self.largest_read = max(self.largest_read, len(frames))
        return torch.stack([self._mask(i) if self.masks else self._frame(i) for i in frames])

    def _frame(self, i: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(10_000 + i)
        ramp = torch.linspace(-0.8, 0.8, self.size)
        across, down = ramp[None, :].expand(self.size, -1), ramp[:, None].expand(-1, self.size)
        face = torch.stack([across, down, -across])
        return (face + 0.2 * torch.randn(3, self.size, self.size, generator=generator)).clamp(-1, 1)

    def _mask(self, i: int) -> torch.Tensor:
        mask = torch.zeros(1, self.size, self.size)
        top = self.size // 2 + (i % 3) * self.size // 16  # the mouth box moves a little
        mask[:, top:, self.size // 4 : 3 * self.size // 4] = 1.0
        return mask


def dub_waveform(num_frames: int, seed: int = 0) -> np.ndarray:
    """Noise bursts as stand-in speech, exactly as long as `num_frames` frames at 25 fps (640 samples each)."""
    rng = np.random.default_rng(seed)
    envelope = np.abs(np.sin(np.arange(num_frames * 640) / 1600.0))
    return (0.3 * envelope * rng.standard_normal(num_frames * 640)).astype(np.float32)


def run(pipe: KeySyncPipeline, num_frames: int, **kwargs) -> list[tuple[int, torch.Tensor]]:
    frames, masks = SyntheticClip(num_frames), SyntheticClip(num_frames, masks=True)
    kwargs = {"frame_rate": Fraction(25), "sampling": SamplingConfig(sigmas=SHORT_SIGMAS), **kwargs}
    return list(pipe(frames, masks, dub_waveform(num_frames), **kwargs))


def latent_masks(num_frames: int) -> torch.Tensor:
    """The test masks at latent resolution (nearest, as the pipeline does), `[n, 1, h, w]` bool."""
    pixels = SyntheticClip(num_frames, masks=True)[0:num_frames]
    return torch.nn.functional.interpolate(pixels, size=(FRAME_SIZE // 8,) * 2, mode="nearest") > 0.5


def tiny_pipeline(**options) -> KeySyncPipeline:
    return KeySyncPipeline(**tiny_pipeline_components(FRAME_SIZE), **options)


def joined(chunks: list[tuple[int, torch.Tensor]]) -> torch.Tensor:
    assert [start for start, _ in chunks] == list(np.cumsum([0] + [len(c) for _, c in chunks[:-1]]))
    return torch.cat([chunk for _, chunk in chunks])


@pytest.fixture(scope="module")
def short_runs() -> dict[str, torch.Tensor]:
    """60 frames as latents: twice alike, then with every batch size at 1 (U-Net, VAE encoder and decoder)."""
    return {
        "seed 0": joined(run(tiny_pipeline(), 60, output_type="latent")),
        "seed 0 again": joined(run(tiny_pipeline(), 60, output_type="latent")),
        "seed 0, one at a time": joined(
            run(tiny_pipeline(unet_batch_size=1, encode_chunk_size=1, decode_chunk_size=1), 60, output_type="latent")
        ),
    }


def test_sixty_frames_become_sixty_frames_with_the_official_schedule():
    pipe = tiny_pipeline()
    frames, masks = SyntheticClip(60), SyntheticClip(60, masks=True)
    events = []
    chunks = list(pipe(frames, masks, dub_waveform(60), frame_rate=Fraction(25), progress=events.append))
    assert [(start, len(chunk)) for start, chunk in chunks] == [(0, 14), (14, 13), (27, 13), (40, 13), (53, 7)]
    video = joined(chunks)
    assert video.shape == (60, 3, FRAME_SIZE, FRAME_SIZE) and video.dtype == torch.float32
    assert video.min() >= -1.0 and video.max() <= 1.0 and video.std() > 0.05
    # Input read in encoder chunks (16 frames), never the whole clip.
    assert frames.largest_read == 16 and masks.largest_read == 16
    # Every denoising step is reported: 11 official Euler steps per sampler call, one call per stage here.
    assert pipe.planned_steps(60) == 11
    stages = [(e.stage, e.done, e.total, e.unit) for e in events if e.stage != "audio features"]
    assert stages == [
        *[("keyframes", i, 11, "steps") for i in range(1, 12)],
        *[("interpolation", i, 11, "steps") for i in range(1, 12)],
    ]


def test_same_seed_gives_the_same_result(short_runs):
    assert short_runs["seed 0"].shape == (60, 4, FRAME_SIZE // 8, FRAME_SIZE // 8)
    assert torch.equal(short_runs["seed 0"], short_runs["seed 0 again"])


def test_batch_sizes_change_nothing_but_float_rounding(short_runs):
    # Not bit-equal on CPU: oneDNN/MKL pick other kernels for other batch sizes (about 3e-6 per U-Net call),
    # which the guidance scales amplify over the steps.
    torch.testing.assert_close(short_runs["seed 0"], short_runs["seed 0, one at a time"], rtol=0, atol=2e-4)


def test_another_seed_gives_another_result():
    pipe = tiny_pipeline()
    first, second = (
        run(pipe, 14, output_type="latent"),
        run(pipe, 14, output_type="latent", sampling=SamplingConfig(sigmas=SHORT_SIGMAS, seed=1)),
    )
    assert (first[0][1] - second[0][1]).abs().max() > 0.1
    generator = torch.Generator().manual_seed(1)
    assert torch.equal(run(pipe, 14, output_type="latent", generator=generator)[0][1], second[0][1])


def test_outside_the_mask_latents_are_the_input_latents_bit_exact(short_runs):
    pipe = tiny_pipeline()
    frames = SyntheticClip(60)
    clean = encode_frames(pipe.vae, frames[0:60], chunk_size=16)
    inside = latent_masks(60).expand_as(clean)
    generated = short_runs["seed 0"]
    assert torch.equal(generated[~inside], clean[~inside])
    assert (generated[inside] - clean[inside]).abs().mean() > 0.1


def record_keyframes(pipe: KeySyncPipeline, monkeypatch: pytest.MonkeyPatch) -> dict[int, torch.Tensor]:
    """Collects every keyframe latent the pipeline generates, by position, while it runs."""
    keyframes = {}
    generate = pipe.generate_keyframes

    def record(*args, **kwargs):
        result = generate(*args, **kwargs)
        for batch_keyframes in result:
            keyframes.update(batch_keyframes)
        return result

    monkeypatch.setattr(pipe, "generate_keyframes", record)
    return keyframes


def test_window_boundaries_are_the_generated_keyframes(monkeypatch):
    pipe = tiny_pipeline()
    keyframes = record_keyframes(pipe, monkeypatch)
    latents = joined(run(pipe, 30, output_type="latent"))
    # 30 frames: keyframes 0, 13, 26 and 39 (past the clip, holding frame 29).
    assert sorted(keyframes) == [0, 13, 26, 39]
    for position in (0, 13, 26):
        assert torch.equal(latents[position], keyframes[position].cpu())
    assert not torch.equal(latents[27], latents[26])


def test_model_inputs_follow_the_official_layout(monkeypatch):
    """Channels, guidance branches and audio of the first U-Net call of each stage (§3.3, §4, §6.5)."""
    pipe = tiny_pipeline()
    calls = {}
    for stage in ("keyframe", "interpolation"):
        unet = getattr(pipe, f"{stage}_unet")
        unet.register_forward_pre_hook(lambda module, args, stage=stage: calls.setdefault(stage, args))
    keyframes = record_keyframes(pipe, monkeypatch)
    run(pipe, 14, output_type="latent")
    scale = pipe.vae.config.scaling_factor
    keyframe_audio, interpolation_audio = pipe.encode_audio(dub_waveform(14), 14, Fraction(25))

    sample, c_noise, audio = calls["keyframe"]
    assert sample.shape == (3, 14, 8, 8, 8) and c_noise == pytest.approx(0.25 * np.log(700.0))
    identity = encode_frames(pipe.vae, SyntheticClip(14)[0:1], chunk_size=1)[0] / scale
    assert torch.equal(sample[0, :, 4:], torch.zeros(14, 4, 8, 8))  # unconditional: no identity
    for branch in (1, 2):
        assert all(torch.equal(sample[branch, t, 4:], identity) for t in range(14))
    # Slots: identity frame 0 (dummy), keyframes 0 and 13, then padding with the last keyframe.
    assert torch.equal(audio[2], keyframe_audio[[0, 0, *[13] * 12]])
    assert not audio[:2].any()

    sample, c_noise, audio = calls["interpolation"]
    assert sample.shape == (3, 14, 9, 8, 8)
    middle = pipe.learned_mask.expand(12, -1, -1, -1)
    for branch in range(3):
        assert torch.equal(sample[branch, 1:13, 4:8], middle)  # z_m, also without condition
        assert sample[branch, :, 8].flatten(1).amax(1).tolist() == [1.0, *[0.0] * 12, 1.0]
        assert sample[branch, :, 8].flatten(1).amin(1).tolist() == [1.0, *[0.0] * 12, 1.0]
    assert not sample[0, [0, 13], 4:8].any()
    for branch in (1, 2):
        assert torch.equal(sample[branch, 0, 4:8], keyframes[0] / scale)
        assert torch.equal(sample[branch, 13, 4:8], keyframes[13] / scale)
    assert torch.equal(audio[2], interpolation_audio[0:14]) and not audio[:2].any()


def test_vae_helpers_encode_the_mode_and_decode_frame_by_frame():
    vae = tiny_pipeline_components(FRAME_SIZE)["vae"]
    frames = SyntheticClip(5)[0:5]
    latents = encode_frames(vae, frames, chunk_size=2)
    with torch.no_grad():
        posterior = vae.encode(frames).latent_dist
    torch.testing.assert_close(latents, posterior.mean * 0.18215, rtol=0, atol=1e-6)
    decoded = decode_latents(vae, latents, chunk_size=5)
    with torch.no_grad():
        alone = torch.cat([vae.decode(z[None] / 0.18215, num_frames=1).sample for z in latents])
    assert decoded.shape == (5, 3, FRAME_SIZE, FRAME_SIZE)
    torch.testing.assert_close(decoded, alone, rtol=0, atol=2e-5)


def test_svd_vae_config_is_the_real_svd_vae():
    with init_empty_weights():
        vae = AutoencoderKLTemporalDecoder(**SVD_VAE_CONFIG)
    assert sum(p.numel() for p in vae.parameters()) == 97_742_847  # SVD's VAE: 34.2 M encoder + 63.6 M decoder
    assert spatial_factor(vae) == 8


def test_short_clips_keep_every_frame():
    pipe = tiny_pipeline()
    one = run(pipe, 1)
    assert [(start, chunk.shape) for start, chunk in one] == [(0, (1, 3, FRAME_SIZE, FRAME_SIZE))]
    five = run(pipe, 5, output_type="latent")
    assert [(start, len(chunk)) for start, chunk in five] == [(0, 5)]


def test_identity_frame_is_selectable():
    pipe = tiny_pipeline()
    first = joined(run(pipe, 20, output_type="latent"))
    other = joined(run(pipe, 20, output_type="latent", identity_index=11))
    assert first.shape == other.shape == (20, 4, 8, 8)
    assert (first - other).abs().max() > 1e-3


def test_bfloat16_stays_close_to_float32():
    pipe = tiny_pipeline()
    reference = joined(run(pipe, 14, output_type="latent"))
    pipe.to(torch_dtype=torch.bfloat16)
    assert pipe.dtype == torch.bfloat16 and pipe.vae.dtype == torch.float32
    half = joined(run(pipe, 14, output_type="latent"))
    assert half.dtype == torch.float32
    inside = latent_masks(14).expand_as(reference)
    assert torch.equal(half[~inside], reference[~inside])
    # About 7 %: bf16 keeps 8 bits of mantissa and the audio guidance scale (5) amplifies branch differences.
    error = (half - reference)[inside].abs().mean() / reference[inside].abs().mean()
    assert 0 < error < 0.15


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"masks": SyntheticClip(59, masks=True)}, "59 masks for 60 frames"),
        ({"frames": SyntheticClip(60, size=32), "masks": SyntheticClip(60, 32, True)}, r"\[n, 3, 64, 64\]"),
        ({"frames": SyntheticClip(0), "masks": SyntheticClip(0, masks=True)}, "no frames"),
        ({"audio_waveform": np.zeros((2, 100), np.float32)}, "mono float array"),
        ({"frame_rate": 25.0}, "positive Fraction"),
        ({"sampling": {"steps": 5, "sigmas": None}}, "at least 10"),
        ({"sampling": {"sigmas": (1.0, 2.0, 0.0)}}, "strictly decreasing"),
        ({"identity_index": 60}, "outside the clip's frames 0..59"),
        ({"sampling": {"audio_guidance": float("nan")}}, "audio_guidance must be a finite number"),
        ({"output_type": "np"}, "output_type"),
    ],
)
def test_bad_inputs_fail_before_any_work(change, message):
    pipe = tiny_pipeline()
    sampling = {"sigmas": SHORT_SIGMAS, **change.get("sampling", {})}
    arguments = {
        "frames": SyntheticClip(60),
        "masks": SyntheticClip(60, masks=True),
        "audio_waveform": dub_waveform(60),
        "frame_rate": Fraction(25),
        **{name: value for name, value in change.items() if name != "sampling"},
    }
    with pytest.raises(InvalidParameterError, match=message):
        clip = arguments.pop("frames"), arguments.pop("masks"), arguments.pop("audio_waveform")
        pipe(*clip, sampling=SamplingConfig(**sampling), **arguments)


def test_audio_shorter_than_the_clip_fails_before_any_frame():
    pipe = tiny_pipeline()
    chunks = pipe(SyntheticClip(60), SyntheticClip(60, masks=True), dub_waveform(40), frame_rate=Fraction(25))
    with pytest.raises(AudioError, match="pass audio that covers the whole clip"):
        next(chunks)


def test_components_must_fit_together():
    components = tiny_pipeline_components(FRAME_SIZE)
    components["interpolation_unet"], components["keyframe_unet"] = (
        components["keyframe_unet"],
        components["interpolation_unet"],
    )
    with pytest.raises(InvalidParameterError, match="keyframe_unet in_channels is 9, not 8"):
        KeySyncPipeline(**components)


def test_from_pretrained_loads_every_component(tmp_path):
    paths = save_tiny_weights(tmp_path, FRAME_SIZE)
    loaded = KeySyncPipeline.from_pretrained(
        paths["keysync"], paths["vae"], paths["hubert"], paths["wavlm"], unet_batch_size=2
    )
    assert loaded.unet_batch_size == 2 and loaded.frame_size == (FRAME_SIZE, FRAME_SIZE)
    assert torch.equal(
        run(loaded, 14, output_type="latent")[0][1],
        run(tiny_pipeline(unet_batch_size=2), 14, output_type="latent")[0][1],
    )


def test_from_pretrained_needs_the_interpolation_learned_mask(tmp_path):
    paths = save_tiny_weights(tmp_path, FRAME_SIZE)
    (paths["keysync"] / "interpolation" / "learned_mask.safetensors").unlink()
    with pytest.raises(WeightsNotFoundError, match="no learned_mask.safetensors"):
        KeySyncPipeline.from_pretrained(paths["keysync"], paths["vae"], paths["hubert"], paths["wavlm"])


MEMORY_PROBE = r"""
import ctypes, json, sys, threading, time
from fractions import Fraction
import torch
sys.path[:0] = sys.argv[1:3]
unet_batch_size, long_frames = int(sys.argv[3]), int(sys.argv[4])
from test_pipeline import SyntheticClip, dub_waveform, memory_probe_pipeline
from keydub.core.model.sampling import SamplingConfig

torch.set_num_threads(1)
libc = ctypes.CDLL("libc.so.6")

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc.mallinfo2.restype = MallInfo2

def heap_in_use():
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd  # bytes handed out by malloc, mapped blocks included

# A sampling thread records the peak heap per phase (torch releases the GIL while it computes).
phase, peaks, running = ["setup"], {}, [True]

def sample():
    while running[0]:
        peaks[phase[0]] = max(peaks.get(phase[0], 0), heap_in_use())
        time.sleep(0.0005)

def measure(pipe, name, num_frames):
    frames, masks = SyntheticClip(num_frames, size=32), SyntheticClip(num_frames, size=32, masks=True)
    waveform = dub_waveform(num_frames)
    phase[0] = f"{name} audio"

    def on_progress(event):
        # A phase per round (one keyframe batch at the default batch size): from its keyframes to the next round's
        # keyframes (windows, decode, encode).
        if event.stage == "keyframes":
            phase[0] = f"{name} batch {event.done}"

    count, after_chunk = 0, []
    one_step = SamplingConfig(sigmas=(700.0, 0.0))
    for _, chunk in pipe(frames, masks, waveform, frame_rate=Fraction(25), sampling=one_step, progress=on_progress):
        count += len(chunk)
        del chunk
        after_chunk.append(heap_in_use())
    phase[0] = "idle"
    return {"frames": count, "after_chunk": after_chunk}

threading.Thread(target=sample, daemon=True).start()
pipe = memory_probe_pipeline(unet_batch_size=unet_batch_size)
measure(pipe, "warm-up", 60)  # lazy initialisations and allocator caches
result = {"short": measure(pipe, "short", 60), "long": measure(pipe, "long", long_frames)}
running[0] = False
time.sleep(0.01)
print(json.dumps({**result, "peaks": peaks}))
"""


def memory_probe_pipeline(**options) -> KeySyncPipeline:
    """The memory test's pipeline: 32x32 crops (4x4 latents) keep 600 frames fast."""
    components = tiny_pipeline_components(32)
    # Short encoder windows: attention over a speech window is the audio encoders' largest transient.
    for name in ("keyframe_audio", "interpolation_audio"):
        components[name] = type(components[name])(components[name].model, chunk_tokens=100, overlap_tokens=25)
    return KeySyncPipeline(**components, **options)


def measure_memory(unet_batch_size: int = 3, long_frames: int = 600) -> dict:
    """Heap in use while a 60-frame then a `long_frames` clip run through one pipeline, in a fresh process: the peak
    of each phase (audio, then each round) and the level after each delivered chunk."""
    tests = Path(__file__).resolve().parent
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(tests), str(tests.parent), str(unet_batch_size), str(long_frames)],
        capture_output=True,
        text=True,
        timeout=600,
        env={
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "PATH": "/usr/bin:/bin",
            # Fixed glibc thresholds: large blocks are mapped and unmapped, freed memory goes back at once, so
            # resident memory follows what is allocated instead of what the allocator happens to cache.
            "MALLOC_MMAP_THRESHOLD_": "131072",
            "MALLOC_TRIM_THRESHOLD_": "131072",
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_memory_does_not_grow_with_clip_length():
    memory = measure_memory()
    short, long, peaks = memory["short"], memory["long"], memory["peaks"]
    assert (short["frames"], long["frames"]) == (60, 600)
    batches = [peaks[f"long batch {b}"] for b in (1, 2, 3, 4)]
    # Within the 600-frame clip, each keyframe batch peaks at the same heap: nothing accumulates as frames go by.
    assert max(batches) - batches[0] < 256 * 1024, peaks
    # Between clips, generation differs only by the clip-wide state, the waveform (2.5 KiB per frame at 25 fps) and
    # the audio tokens; keeping decoded frames (12 KiB per frame here) or input pixels would exceed 8 KiB per frame.
    assert max(batches) - peaks["short batch 1"] < (600 - 60) * 8 * 1024, peaks
    # The heap after each delivered chunk is flat from the second batch on (one batch = 13 windows).
    later = long["after_chunk"][13:]
    assert max(later) - min(later) < 256 * 1024, later


@pytest.mark.slow
def test_memory_does_not_grow_with_clip_length_when_rounds_hold_two_batches():
    # 6 sequences per call: two keyframe batches per round, so 1200 frames (8 batches) are 4 rounds.
    memory = measure_memory(unet_batch_size=6, long_frames=1200)
    short, long, peaks = memory["short"], memory["long"], memory["peaks"]
    assert (short["frames"], long["frames"]) == (60, 1200)
    assert "long batch 5" not in peaks
    rounds = [peaks[f"long batch {r}"] for r in (1, 2, 3, 4)]
    assert max(rounds) - rounds[0] < 256 * 1024, peaks
    # A round of two batches holds a second batch's latents and windows (a few hundred KiB at 4x4 latents) more
    # than the short clip's one-batch round; anything kept per frame would exceed 8 KiB per frame.
    assert max(rounds) - peaks["short batch 1"] < (1200 - 60) * 8 * 1024, peaks
    # The heap after each delivered chunk is flat over the full rounds 2 and 3 (26 windows each); the last round's
    # smaller batch reshapes its tensors, a few hundred KiB and nothing that grows with the clip.
    middle, after = long["after_chunk"][26:78], long["after_chunk"]
    assert max(middle) - min(middle) < 256 * 1024, middle
    assert max(after) - min(after) < 1024 * 1024, after
