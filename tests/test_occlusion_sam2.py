"""SAM 2.1 itself behind the occlusion session: built from the package's config with random weights, tiny input.

Random weights segment nothing in particular, so these tests check the plumbing SAM2 depends on: the state built
from in-memory frames, clicks, a box, a brush mask, two objects, a correction, forward and backward tracking over
pieces, masks at source resolution, and strict checkpoint loading.
"""

import sys
import tempfile
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from keydub.core.errors import CheckpointConversionError, OcclusionBackendError
from keydub.core.occlusion import (
    OcclusionMaskCache,
    OcclusionMasker,
    OcclusionPrompt,
    Sam2Segmenter,
    SquareRegion,
    occluder_masks_for_range,
)
from keydub.core.occlusion import masker as masker_module
from keydub.core.occlusion.segmenter import build_sam2_segmenter


pytest.importorskip("sam2.build_sam", reason="sam2 is not installed (the keydub[occlusion] extra)")

# The smallest input the Hiera backbone runs at keeps a whole session to a few seconds on CPU.
IMAGE_SIZE = 64


@pytest.fixture(scope="module")
def masker() -> Iterator[OcclusionMasker]:
    torch.manual_seed(0)
    yield OcclusionMasker.from_config("tiny", device="cpu", image_size=IMAGE_SIZE)


def test_session_runs_end_to_end_on_random_weights(masker, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    height, width = 90, 120
    frames = np.random.default_rng(0).integers(0, 256, (7, height, width, 3), dtype=np.uint8)
    session = masker.init_session(frames, start_frame=40, min_region_side=64, piece_frames=3)
    brush = np.zeros((height, width), dtype=bool)
    brush[30:50, 50:80] = True
    answers = [
        masker.add_click(session, 43, 1, [(60, 45)], [1]),
        masker.add_box(session, 43, 2, (20, 30, 70, 80)),
        masker.add_brush(session, 45, 2, brush),
        masker.add_click(session, 46, 1, [(62, 47), (10, 80)], [1, 0]),  # a correction on a later frame
    ]
    assert [sorted(masks) for masks in answers] == [[1], [1, 2], [2], [1]]
    assert all(mask.shape == (height, width) and mask.dtype == bool for masks in answers for mask in masks.values())
    # A brush prompt is taken as the mask itself (SAM2 turns mask inputs straight into output).
    assert answers[2][2][30:50, 50:80].mean() > 0.9 and answers[2][2].sum() < 1.2 * brush.sum()

    region = session.tracking_region()
    outside = np.ones((height, width), dtype=bool)
    outside[max(region.y0, 0) : region.y0 + region.side, max(region.x0, 0) : region.x0 + region.side] = False
    tracked = {}
    for frame, masks in masker.propagate(session):
        assert frame not in tracked and sorted(masks) == [1, 2]
        assert all(mask.shape == (height, width) and mask.dtype == bool for mask in masks.values())
        assert not any(mask[outside].any() for mask in masks.values())
        tracked[frame] = masks
    # Forward from the first prompt (43) in pieces of 3 sharing a frame, then backward to the window's start.
    assert list(tracked) == [43, 44, 45, 46, 42, 41, 40]
    # A prompted frame comes out of tracking as the editor saw it when prompting (with the final region).
    np.testing.assert_array_equal(tracked[43][1], masker.add_click(session, 43, 1, [(60, 45)], [1])[1])
    # Frames go to SAM2 from memory: no JPEG folder is written anywhere.
    assert list(tmp_path.iterdir()) == []


def test_state_built_from_memory_matches_sam2s_own(masker, tmp_path):
    """Our in-memory state must carry every field `init_state` fills (it changes with sam2 releases)."""
    Image.fromarray(np.zeros((32, 48, 3), dtype=np.uint8)).save(tmp_path / "0.jpg")
    predictor = masker.segmenter.predictor
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reference = predictor.init_state(str(tmp_path))
    ours = masker.segmenter.init_state([np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)])
    assert set(ours) == set(reference)
    assert ours["images"][0].shape == reference["images"][0].shape == (3, IMAGE_SIZE, IMAGE_SIZE)
    # The same normalisation as SAM2's loader: a black frame is -mean/std per channel.
    np.testing.assert_allclose(ours["images"][0][:, 0, 0], reference["images"][0][:, 0, 0].float(), atol=1e-6)


def test_checkpoints_load_strictly(masker, tmp_path):
    predictor = masker.segmenter.predictor
    weights = {key: value.detach().clone().contiguous() for key, value in predictor.state_dict().items()}
    save_file(weights, tmp_path / "tiny.safetensors")
    loaded, identity = build_sam2_segmenter(tmp_path / "tiny.safetensors", "tiny", "cpu", IMAGE_SIZE)
    assert isinstance(loaded, Sam2Segmenter) and identity.startswith("sam2.1-tiny:64:")
    for key, value in loaded.predictor.state_dict().items():
        assert torch.equal(value, weights[key]), key

    torch.save({"model": {"image_encoder.neck.convs.0.conv.weight": torch.zeros(1)}}, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointConversionError, match=r"does not match SAM 2\.1 'tiny': \d+ missing"):
        build_sam2_segmenter(tmp_path / "wrong.pt", "tiny", "cpu", IMAGE_SIZE)


def test_missing_sam2_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sam2.build_sam", None)
    monkeypatch.delattr(sys.modules["sam2"], "build_sam", raising=False)
    with pytest.raises(OcclusionBackendError, match=r"pip install 'keydub\[occlusion\]'"):
        OcclusionMasker.from_config("tiny", device="cpu", image_size=IMAGE_SIZE)
    # Said before the weights are looked for: a first run would otherwise download 900 MB to be told this.
    looked_up = []
    monkeypatch.setattr(masker_module, "resolve_sam2_checkpoint", lambda *args: looked_up.append(args))
    with pytest.raises(OcclusionBackendError, match=r"pip install 'keydub\[occlusion\]'"):
        OcclusionMasker.from_pretrained()
    assert looked_up == []


def test_real_clip_window_is_cached_at_source_resolution(masker, talking_clip, tmp_path, monkeypatch):
    # A hand-placed face box of the speaker (portrait 1080x1920); the region is cut around it and the masks come
    # back at the clip's full resolution.
    boxes = np.tile([[340.0, 560.0, 740.0, 1060.0]], (3, 1))
    prompts = [OcclusionPrompt(1, 120, ((540.0, 930.0),), (1,))]
    states = []
    init_state = masker.segmenter.init_state

    def counting_init_state(frames):
        states.append(len(frames))
        return init_state(frames)

    monkeypatch.setattr(masker.segmenter, "init_state", counting_init_state)
    cache = OcclusionMaskCache(tmp_path)
    masks = occluder_masks_for_range(talking_clip, (120, 123), prompts, face_boxes=boxes, masker=masker, cache=cache)
    again = occluder_masks_for_range(talking_clip, (120, 123), prompts, face_boxes=boxes, masker=masker, cache=cache)
    assert states == [3] and again.path == masks.path  # one piece of three frames, then the cache
    assert masks.region == SquareRegion(x0=140, y0=410, side=800)  # 1.6 x the 500 px box, on its centre
    frames = []
    for frame, union in masks:
        frames.append(frame)
        assert union.shape == (1920, 1080) and union.dtype == bool
        assert not union[:410].any() and not union[1210:].any() and not union[:, :140].any()
    assert frames == [120, 121, 122]
