"""Stand-ins shared by the panel's scripted session and the command-line render it is compared with.

The synthetic clip has a drawn face no detector finds, and the released SAM 2.1 is far too slow on a CPU, so both
sides use the same two stand-ins: `DrawnFaceBackend` reporting `FACE`, and a tiny SAM 2.1 whose random weights are
seeded, hence equal in every process. `engine()` is what the `keydub worker` subprocess builds
(`--engine panel_e2e_engine:engine`); everything else about the render is the real engine's.
"""

import torch
from face_fixtures import DrawnFaceBackend, template_landmarks

from keydub.core.engine import Engine


WIDTH, HEIGHT, FRAMES = 128, 96, 12
FACE = template_landmarks(64, 44, 44)
SAM2_SEED = 1234


def drawn_face() -> DrawnFaceBackend:
    return DrawnFaceBackend(lambda index: FACE, (HEIGHT, WIDTH))


def tiny_masker():
    """SAM 2.1 tiny at a 64-pixel input, seeded: the same weights in every process."""
    from keydub.core.occlusion import OcclusionMasker

    torch.manual_seed(SAM2_SEED)
    return OcclusionMasker.from_config("tiny", device="cpu", image_size=64)


class StandInEngine(Engine):
    """The real engine with the drawn-face detector and the seeded tiny SAM 2.1."""

    def occlusion_masker(self, pretrained=None, variant=None, device="auto"):
        with self._lock:
            key = ("tiny-seeded", None, "cpu")
            if key not in self._occlusion_maskers:
                self._occlusion_maskers[key] = tiny_masker()
            return self._occlusion_maskers[key]


def engine() -> Engine:
    backend = drawn_face()
    return StandInEngine(landmark_backends={"face-alignment": backend, "dlib": backend})
