"""A tiny FFV1 render stays bit-identical: its decoded frames and audio hash as the first-format code's did.

The hashes were taken with the code before `RenderOptions` (a flat request, the render path loading its own models)
and again after it: the same seeded tiny weights, clip and dub give the same pixels and samples. Container bytes
vary (muxer metadata), so the decoded frames and samples are hashed. Float results depend on the thread count and
the CPU's vector unit and maker (the same AVX-512 code gives other frames on AMD and Intel), so the render runs on
one thread and the comparison runs where the hashes were taken (torch 2.13 on AVX-512 CPUs of each maker, the Intel
hashes taken before and after several speakers came to the render path); elsewhere it is skipped, saying why.
"""

import hashlib

import numpy as np
import pytest
import torch
from media_fixtures import make_test_clip
from test_render import FRAME_SIZE, HEIGHT, WIDTH, drawn_face, request_for, write_wav
from tiny_models import save_tiny_weights

from keydub.core.media import read_frames
from keydub.core.media.audio import load_audio
from keydub.core.model.pipeline import KeySyncPipeline
from keydub.core.render import render_clip


# Where the hashes were taken: (torch version, CPU capability, CPU maker) -> (decoded frames, audio at 48 kHz).
REFERENCE = {
    ("2.13.0+cpu", "AVX512", "AuthenticAMD"): (
        "1cb9010148528beb68159d819521eea79a7053ccc1d28edd3008814f487f5627",
        "e048f77421b3b7e9b6d720296cbde9ef3fdc53dad5f91ea3df5873e32fbf7573",
    ),
    ("2.13.0+cpu", "AVX512", "GenuineIntel"): (
        "ddda64378c1cc7b7843f90fef381c11bf6c0e71fe13c1272ad90168a73ff6a3e",
        "e048f77421b3b7e9b6d720296cbde9ef3fdc53dad5f91ea3df5873e32fbf7573",
    ),
}


def cpu_maker() -> str:
    """The CPU's vendor id (`GenuineIntel`, `AuthenticAMD`), "" where the system does not say."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("vendor_id")), "")
    except OSError:
        return ""


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_tiny_ffv1_render_decodes_to_the_same_frames_and_audio(tmp_path, one_thread):
    environment = (torch.__version__, torch.backends.cpu.get_cpu_capability(), cpu_maker())
    if environment not in REFERENCE:
        pytest.skip(f"the reference hashes are for {', '.join(map(str, REFERENCE))}, not {environment}")
    weights = save_tiny_weights(tmp_path / "weights", FRAME_SIZE)
    clip = make_test_clip(tmp_path / "clip.mkv", width=WIDTH, height=HEIGHT, frame_count=30, frames="noise")
    request = request_for(clip, write_wav(tmp_path / "dub.wav", 1.5), tmp_path / "out.mkv", weights)
    pipeline = KeySyncPipeline.from_pretrained(weights["keysync"], weights["vae"], weights["hubert"], weights["wavlm"])

    result = render_clip(request, pipeline=pipeline, landmark_backend=drawn_face(30))

    frames = hashlib.sha256()
    for frame in read_frames(result.output):
        frames.update(np.ascontiguousarray(frame).tobytes())
    audio = load_audio(result.output, 48000)
    assert result.report["frames"]["generated"] == 30, "every frame has the face: the model ran on all of them"
    assert (frames.hexdigest(), hashlib.sha256(audio.tobytes()).hexdigest()) == REFERENCE[environment]
