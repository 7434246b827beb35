"""The occlusion session's own logic, driven by a stand-in segmenter whose masks are known exactly.

`ColourSegmenter` implements the masker's `VideoSegmenter` interface (the three calls SAM2 answers) by taking
an object to be every pixel of the colour under its prompt. It cannot drift, so any difference between the
masks that come out and the painted squares is the masker's: mapping, pieces, seeds, coverage, cache.
"""

from collections import Counter

import numpy as np
import pytest
from media_fixtures import make_test_clip

from keydub.core.errors import InvalidParameterError
from keydub.core.occlusion import (
    OcclusionMaskCache,
    OcclusionMasker,
    OcclusionPrompt,
    SquareRegion,
    occluder_masks_for_range,
    save_brush_mask,
)
from keydub.core.occlusion.region import region_around
from keydub.core.occlusion.segmenter import SegmenterPrompt
from keydub.core.occlusion.session import Piece, plan_pieces


HEIGHT, WIDTH = 80, 96
RED, GREEN, GREY = (255, 0, 0), (0, 255, 0), (90, 90, 90)
# The tracked region used where exact pixels matter: as large as the stand-in's input, so no resampling.
REGION = SquareRegion(x0=16, y0=8, side=64)


def scene(index: int) -> np.ndarray:
    """Frame `index` of the synthetic shot: a red square moving right, a green one moving down, on grey."""
    frame = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame[:] = GREY
    frame[20:32, 20 + index : 32 + index] = RED
    frame[40 + index // 2 : 50 + index // 2, 60:70] = GREEN
    return frame


def painted(colour: tuple[int, int, int], index: int) -> np.ndarray:
    return np.all(scene(index) == colour, axis=-1)


class ColourSegmenter:
    """A `VideoSegmenter` whose "segmentation" of an object is the pixels sharing the colour under its prompt.

    Args:
        image_size (`int`): side of the square frames it is given.
    """

    def __init__(self, image_size: int = 64) -> None:
        self.image_size = image_size
        self.calls: Counter[str] = Counter()
        # (state number, frame index in that state, object id, prompt kind), in call order.
        self.prompts: list[tuple[int, int, int, str]] = []
        # (state number, frames in the state, start, count, reverse) of each propagation.
        self.tracked: list[tuple[int, int, int, int, bool]] = []

    def init_state(self, frames):
        self.calls["init_state"] += 1
        assert all(frame.shape == (self.image_size, self.image_size, 3) for frame in frames)
        return {"frames": list(frames), "colours": {}}

    def add_prompt(self, state, frame_index, object_id, prompt: SegmenterPrompt):
        self.calls["add_prompt"] += 1
        frame = state["frames"][frame_index]
        if prompt.mask is not None:
            kind, pixels = "mask", frame[prompt.mask]
        elif prompt.points is not None:
            x, y = prompt.points[list(prompt.labels).index(1)]
            kind, pixels = "click", frame[int(y), int(x)][None]
        else:
            x0, y0, x1, y1 = prompt.box
            kind, pixels = "box", frame[int((y0 + y1) / 2), int((x0 + x1) / 2)][None]
        self.prompts.append((self.calls["init_state"], frame_index, object_id, kind))
        colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
        state["colours"][object_id] = tuple(colours[counts.argmax()]) if len(pixels) else None
        return self._logits(state, frame_index)

    def propagate(self, state, start, count, reverse):
        self.calls["propagate"] += 1
        self.tracked.append((self.calls["init_state"], len(state["frames"]), start, count, reverse))
        for index in range(start, start - count, -1) if reverse else range(start, start + count):
            yield index, self._logits(state, index)

    @staticmethod
    def _logits(state, index):
        frame = state["frames"][index]
        nothing = np.zeros(frame.shape[:2], dtype=bool)
        # An object whose prompt fell on nothing (an empty seed) is absent everywhere, as SAM2 would track it.
        return {
            object_id: np.where(np.all(frame == colour, axis=-1) if colour else nothing, 4.0, -4.0)
            for object_id, colour in state["colours"].items()
        }


@pytest.fixture
def segmenter() -> ColourSegmenter:
    return ColourSegmenter()


@pytest.fixture
def masker(segmenter) -> OcclusionMasker:
    return OcclusionMasker(segmenter, identity="colour-v1")


def shot(start: int = 100, length: int = 20) -> np.ndarray:
    return np.stack([scene(index) for index in range(length)])


def test_pieces_go_forward_from_the_first_prompt_then_backward_sharing_one_frame():
    assert plan_pieces((100, 120), 108, 6) == (
        Piece(108, 114, reverse=False, is_seeded=False),
        Piece(113, 119, reverse=False, is_seeded=True),
        Piece(118, 120, reverse=False, is_seeded=True),
        Piece(103, 109, reverse=True, is_seeded=True),
        Piece(100, 104, reverse=True, is_seeded=True),
    )
    assert plan_pieces((0, 5), 0, 300) == (Piece(0, 5, reverse=False, is_seeded=False),)
    assert plan_pieces((0, 5), 4, 300) == (Piece(4, 5, False, False), Piece(0, 5, True, True))
    with pytest.raises(InvalidParameterError, match="piece_frames must be at least 2"):
        plan_pieces((0, 5), 0, 1)


def test_propagation_covers_the_range_once_with_exact_masks_across_pieces(masker, segmenter):
    session = masker.init_session(shot(), start_frame=100, region=REGION, piece_frames=6)
    masker.add_click(session, 108, 1, [(30 + 8, 25)], [1])
    masker.add_box(session, 115, 2, (58, 44, 72, 56))
    frames = []
    for frame, masks in masker.propagate(session):
        frames.append(frame)
        index = frame - 100
        assert set(masks) == {1, 2}
        assert all(mask.shape == (HEIGHT, WIDTH) and mask.dtype == bool for mask in masks.values())
        np.testing.assert_array_equal(masks[1], painted(RED, index), err_msg=f"frame {frame}")
        # Object 2 is first prompted on 115, three pieces away from the earliest frames: its prompt rides along
        # in every piece's state, so it is tracked over the whole range.
        np.testing.assert_array_equal(masks[2], painted(GREEN, index), err_msg=f"frame {frame}")
    assert frames == list(range(108, 120)) + list(range(107, 99, -1))
    # Five pieces; each state holds the piece plus each object's nearest prompted frame outside it.
    assert segmenter.tracked == [
        (3, 7, 0, 6, False),  # 108-113 + 115
        (4, 7, 1, 6, False),  # 108 + 113-118
        (5, 4, 2, 2, False),  # 108, 115 + 118-119
        (6, 7, 5, 6, True),  # 103-108 + 115
        (7, 6, 3, 4, True),  # 100-103 + 108, 115
    ]
    # After two interactive previews: each piece is seeded with the masks of the frame it shares with the
    # previous one (except where the editor prompted that frame: 108 for object 1), then gets the prompts.
    assert segmenter.prompts[2:] == [
        (3, 0, 1, "click"),
        (3, 6, 2, "box"),
        (4, 1, 1, "mask"),
        (4, 1, 2, "mask"),
        (4, 0, 1, "click"),
        (4, 3, 2, "box"),
        (5, 2, 1, "mask"),
        (5, 2, 2, "mask"),
        (5, 0, 1, "click"),
        (5, 1, 2, "box"),
        (6, 5, 2, "mask"),
        (6, 5, 1, "click"),
        (6, 6, 2, "box"),
        (7, 3, 1, "mask"),
        (7, 3, 2, "mask"),
        (7, 4, 1, "click"),
        (7, 5, 2, "box"),
    ]


def test_a_prompt_on_the_shared_frame_wins_over_the_seed(masker, segmenter):
    session = masker.init_session(shot(), start_frame=100, region=REGION, piece_frames=6)
    masker.add_click(session, 108, 1, [(38, 25)], [1])
    masker.add_click(session, 113, 1, [(43, 25)], [1])  # 113 is shared by the first two forward pieces
    assert len(list(masker.propagate(session))) == 20
    pieces = [prompt for prompt in segmenter.prompts if prompt[0] > 2]
    # The second piece (108 + 113-118) gets the two clicks and no seed.
    assert pieces[:4] == [(3, 0, 1, "click"), (3, 5, 1, "click"), (4, 0, 1, "click"), (4, 1, 1, "click")]


def test_interactive_prompts_answer_at_once_and_reuse_the_frame(masker, segmenter):
    session = masker.init_session(shot(), start_frame=100, region=REGION)
    masks = masker.add_click(session, 104, 1, [(27, 22)], [1])
    assert list(masks) == [1]
    np.testing.assert_array_equal(masks[1], painted(RED, 4))
    masks = masker.add_click(session, 104, 2, [(20, 12), (64, 45)], [0, 1])
    assert sorted(masks) == [1, 2] and segmenter.calls["init_state"] == 1  # same frame, same features
    np.testing.assert_array_equal(masks[2], painted(GREEN, 4))
    brush = painted(GREEN, 9)
    np.testing.assert_array_equal(masker.add_brush(session, 109, 3, brush)[3], brush)
    assert segmenter.calls["init_state"] == 2
    assert session.object_ids == (1, 2, 3) and session.prompted_frames(1) == (104,)
    # Adding clicks to the frame's earlier ones keeps them (and their order).
    masker.add_click(session, 104, 1, [(20, 12)], [0], clear_old_points=False)
    np.testing.assert_array_equal(session.prompts[(1, 104)].labels, [1, 0])
    assert list(masker.clear_object(session, 1, 104)) == [2]
    masker.remove_object(session, 3)
    assert session.object_ids == (2,)
    masker.reset(session)
    assert session.object_ids == () and session.preview is None


def test_the_region_follows_the_face_boxes_and_masks_map_back_through_a_resize(masker):
    boxes = np.tile([[24.0, 16.0, 64.0, 56.0]], (20, 1))
    boxes[3] = np.nan  # a frame without a face does not move the region
    session = masker.init_session(shot(), start_frame=100, face_boxes=boxes, region_scale=2.0, min_region_side=32)
    # 40 px of face, doubled: an 80 px square centred on the face, pushed inside the 96x80 frame.
    assert session.tracking_region() == SquareRegion(x0=4, y0=0, side=80)
    masker.add_click(session, 100, 1, [(25, 25)], [1])
    for frame, masks in masker.propagate(session):
        # 80 px of region seen at 64 px: only the squares' edges may move, by at most one source pixel.
        expected = painted(RED, frame - 100)
        assert np.array_equal(masks[1][~_edges(expected)], expected[~_edges(expected)])


def test_region_around_prompts_without_a_face_track():
    assert region_around([(40, 30, 40, 30)], (1080, 1920), 1.6, 384) == SquareRegion(x0=0, y0=0, side=384)
    assert region_around([(900, 500, 1100, 700)], (1080, 1920), 1.6, 256) == SquareRegion(840, 440, 320)
    # Taller than the frame: centred on that axis, padded.
    assert region_around([(10, 0, 20, 70)], (72, 200), 1.6, 8) == SquareRegion(0, -20, 112)
    with pytest.raises(InvalidParameterError, match="add a click first"):
        region_around([(np.nan, 0, 1, 1)], (72, 200))


def test_masks_are_clipped_to_the_region_and_padding_reads_as_black():
    frame = scene(0)
    region = SquareRegion(x0=-8, y0=60, side=32)
    crop = region.crop(frame, 32)
    assert crop.shape == (32, 32, 3)
    assert not crop[:, :8].any() and not crop[20:].any()  # left of and below the frame: black
    np.testing.assert_array_equal(crop[:20, 8:], frame[60:, :24])
    logits = np.ones((32, 32), dtype=np.float32)
    mask = region.paste(region.logits_to_mask(logits), (HEIGHT, WIDTH))
    assert mask.sum() == 20 * 24 and mask[60:, :24].all()


@pytest.mark.parametrize(
    ("action", "fragment"),
    [
        (lambda m, s: m.add_click(s, 105, 1, [(96, 10)], [1]), "click (96, 10) on frame 105 is outside the 96x80"),
        (lambda m, s: m.add_click(s, 99, 1, [(10, 10)], [1]), "frame 99 is outside the render range, source frames"),
        (lambda m, s: m.add_click(s, 120, 1, [(10, 10)], [1]), "frame 120 is outside the render range"),
        (lambda m, s: m.add_click(s, 105, 1, [(10, 10)], [0]), "only negative clicks"),
        (lambda m, s: m.add_click(s, 105, 1, [(10, 10)], [1, 1]), "1 points but 2 labels"),
        (lambda m, s: m.add_box(s, 105, 1, (10, 10, 97, 20)), "reaches outside the 96x80 frame"),
        (lambda m, s: m.add_brush(s, 105, 1, np.zeros((HEIGHT, WIDTH), bool)), "on frame 105 is empty"),
        (lambda m, s: m.add_brush(s, 105, 1, np.ones((8, 8), bool)), "has shape (8, 8)"),
        (lambda m, s: m.clear_object(s, 7, 105), "occluder 7 is unknown in this session; known occluders: [1]"),
        (lambda m, s: m.remove_object(s, 7), "occluder 7 is unknown"),
        (lambda m, s: m.clear_object(s, 1, 106), "no prompt on frame 106; its prompts are on frames [110]"),
        (lambda m, s: m.add_click(s, 105, -3, [(10, 10)], [1]), "object id -3"),
    ],
)
def test_bad_prompts_are_refused_naming_the_value(masker, action, fragment):
    session = masker.init_session(shot(), start_frame=100)
    masker.add_click(session, 110, 1, [(40, 25)], [1])
    with pytest.raises(InvalidParameterError) as error:
        action(masker, session)
    assert fragment in str(error.value)
    assert session.object_ids == (1,) and session.prompted_frames(1) == (110,)  # nothing half-added


def test_bad_sessions_are_refused(masker):
    with pytest.raises(InvalidParameterError, match="frames 95-110 .* not inside the frames given, frames 100-119"):
        masker.init_session(shot(), (95, 110), start_frame=100)
    with pytest.raises(InvalidParameterError, match=r"face_boxes has shape \(3, 4\) but the range has 20 frames"):
        masker.init_session(shot(), start_frame=100, face_boxes=np.zeros((3, 4)))
    session = masker.init_session(shot(), start_frame=100, region=REGION)
    with pytest.raises(InvalidParameterError, match="no occluder prompt yet"):
        list(masker.propagate(session))
    with pytest.raises(InvalidParameterError, match="lies outside the tracked region"):
        masker.add_click(session, 100, 1, [(2, 2)], [1])


def test_a_clip_file_is_read_in_pieces_with_exact_masks(tmp_path, masker):
    clip = make_test_clip(tmp_path / "shot.mkv", width=WIDTH, height=HEIGHT, frame_count=14, frames=scene)
    session = masker.init_session(clip, (3, 12), region=REGION, piece_frames=4)
    masker.add_click(session, 6, 1, [(27, 25)], [1])
    seen = {frame: masks[1] for frame, masks in masker.propagate(session)}
    assert sorted(seen) == list(range(3, 12))
    for frame, mask in seen.items():
        np.testing.assert_array_equal(mask, painted(RED, frame))


def test_exported_prompts_replay_to_the_same_masks(tmp_path, masker):
    session = masker.init_session(shot(), start_frame=100, region=REGION)
    masker.add_click(session, 104, 1, [(27, 22)], [1])
    masker.add_brush(session, 109, 2, painted(GREEN, 9))
    with pytest.raises(InvalidParameterError, match="pass brush_dir"):
        masker.export_prompts(session)
    prompts = masker.export_prompts(session, tmp_path)
    assert prompts[1].mask_path == tmp_path / "occluder2_frame109.png"
    replayed = masker.init_session(shot(), start_frame=100, region=REGION)
    for prompt in (OcclusionPrompt.from_dict(prompt.to_dict()) for prompt in prompts):
        masker.add_prompt(replayed, prompt)
    assert replayed.fingerprint("m") == session.fingerprint("m")
    for (frame, masks), (_, again) in zip(masker.propagate(session), masker.propagate(replayed), strict=True):
        assert all(np.array_equal(masks[key], again[key]) for key in masks), frame


def test_the_cache_skips_the_segmenter_for_the_same_prompts(tmp_path):
    # Without a face track the region is the whole 96 px frame: a 96 px stand-in sees it unresampled.
    segmenter = ColourSegmenter(image_size=96)
    masker = OcclusionMasker(segmenter, identity="colour-v1")
    cache = OcclusionMaskCache(tmp_path / "cache")
    brush = save_brush_mask(painted(GREEN, 12), tmp_path / "green.png")
    prompts = [
        OcclusionPrompt(1, 104, ((27.0, 22.0),), (1,)).to_dict(),
        {"object_id": 2, "frame": 112, "mask": str(brush)},
    ]
    first = occluder_masks_for_range(shot(), (100, 120), prompts, start_frame=100, masker=masker, cache=cache)
    calls = segmenter.calls.copy()
    assert calls["init_state"] == 2 and calls["propagate"] == 2
    for frame, union in first:
        np.testing.assert_array_equal(union, painted(RED, frame - 100) | painted(GREEN, frame - 100))
    np.testing.assert_array_equal(first.masks(107)[2], painted(GREEN, 7))

    again = occluder_masks_for_range(shot(), (100, 120), prompts, start_frame=100, masker=masker, cache=cache)
    assert segmenter.calls == calls and again.path == first.path

    moved = [dict(prompts[0], points=[[28.0, 22.0]]), prompts[1]]
    changed = occluder_masks_for_range(shot(), (100, 120), moved, start_frame=100, masker=masker, cache=cache)
    assert segmenter.calls["init_state"] == 4 and changed.path != first.path
    painted_again = painted(GREEN, 12).copy()
    painted_again[0, 0] = True  # the same file name, other content: a new key
    save_brush_mask(painted_again, brush)
    occluder_masks_for_range(shot(), (100, 120), prompts, start_frame=100, masker=masker, cache=cache)
    assert segmenter.calls["init_state"] == 6
    assert sorted(path.name.startswith(".") for path in cache.root.iterdir()) == [False, False, False]


def test_an_interrupted_run_leaves_no_cache_entry(tmp_path, masker, segmenter):
    cache = OcclusionMaskCache(tmp_path / "cache")
    prompts = [OcclusionPrompt(1, 104, ((27.0, 22.0),), (1,))]

    def failing(state, start, count, reverse):
        yield from ColourSegmenter.propagate(segmenter, state, start, count, reverse)
        raise KeyboardInterrupt

    segmenter.propagate = failing
    with pytest.raises(KeyboardInterrupt):
        occluder_masks_for_range(shot(), (100, 120), prompts, start_frame=100, masker=masker, cache=cache)
    assert list(cache.root.iterdir()) == []


def _edges(mask: np.ndarray) -> np.ndarray:
    """Pixels within one pixel of the mask's boundary."""
    grown = np.zeros_like(mask)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            grown |= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    shrunk = ~np.zeros_like(mask)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            shrunk &= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    return grown & ~shrunk
