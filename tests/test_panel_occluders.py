"""The panel's occluder editor over SAM 2.1 with random weights (tiny input): prompts, strokes, undo, tracking.

Random weights segment nothing in particular, so the tracked masks are checked against the masker run directly on
the same prompts (bit-exact), and brush strokes against the painted pixels.
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from keydub.core.occlusion import OcclusionMasker, parse_occluder_args
from keydub.plugin.panel.events import TrackingProgressed
from keydub.plugin.panel.occluders import (
    PALETTE,
    Direction,
    OccluderEditor,
    TrackingCancelledError,
    stroke_mask,
)


pytest.importorskip("sam2.build_sam", reason="sam2 is not installed (the keydub[occlusion] extra)")

HEIGHT, WIDTH, START, LENGTH = 90, 120, 40, 7


@pytest.fixture(scope="module")
def masker() -> Iterator[OcclusionMasker]:
    torch.manual_seed(0)
    yield OcclusionMasker.from_config("tiny", device="cpu", image_size=64)


def clip_frames() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (LENGTH, HEIGHT, WIDTH, 3), dtype=np.uint8)


def open_session(masker):
    return masker.init_session(clip_frames(), start_frame=START, min_region_side=64, piece_frames=3)


@pytest.fixture
def editor(masker, tmp_path) -> OccluderEditor:
    return OccluderEditor(masker, open_session(masker), brush_dir=tmp_path)


def test_a_click_then_propagation_gives_the_maskers_own_masks_on_every_frame(editor, masker):
    events = []
    editor.register_event_callback(TrackingProgressed, events.append)
    hand = editor.add_object("hand")
    editor.click(43, hand.object_id, 60.0, 45.0)
    assert sorted(editor.masks_on(43)) == [hand.object_id] and editor.masks_on(44) == {}

    assert editor.propagate(Direction.BOTH) == LENGTH
    reference = open_session(masker)
    masker.add_click(reference, 43, hand.object_id, [(60.0, 45.0)], [1])
    tracked = dict(masker.propagate(reference))
    assert editor.tracked_frames == tuple(range(START, START + LENGTH))
    for frame, masks in tracked.items():
        np.testing.assert_array_equal(editor.masks_on(frame)[hand.object_id], masks[hand.object_id])
    assert [event.done for event in events] == list(range(1, LENGTH + 1))
    assert {event.total for event in events} == {LENGTH}


def test_forward_and_backward_track_from_the_earliest_prompt(editor):
    editor.click(43, 1, 60.0, 45.0)
    editor.click(45, 1, 62.0, 47.0)  # a correction on a later frame
    assert editor.propagate("forward") == 4
    assert editor.tracked_frames == (43, 44, 45, 46)
    assert editor.propagate(Direction.BACKWARD) == 4
    assert editor.tracked_frames == tuple(range(START, START + LENGTH))
    assert not editor.is_tracking_stale


def test_a_correction_marks_tracking_stale_and_retracking_uses_it(editor, masker):
    editor.click(43, 1, 60.0, 45.0)
    editor.propagate()
    editor.click(46, 1, 30.0, 20.0, positive=True)
    assert editor.is_tracking_stale
    editor.propagate()
    reference = open_session(masker)
    masker.add_click(reference, 43, 1, [(60.0, 45.0)], [1])
    masker.add_click(reference, 46, 1, [(30.0, 20.0)], [1])
    for frame, masks in masker.propagate(reference):
        np.testing.assert_array_equal(editor.masks_on(frame)[1], masks[1])


def test_propagation_stops_when_asked_and_keeps_what_it_tracked(editor):
    editor.click(43, 1, 60.0, 45.0)
    with pytest.raises(TrackingCancelledError, match="stopped after 2 of 7 frames"):
        editor.propagate(should_stop=lambda: len(editor.tracked_frames) >= 2)
    assert editor.tracked_frames == (43, 44)


def test_a_brush_stroke_paints_the_mask_and_undo_redo_restore_it(editor):
    stroke = [(30.0, 30.0), (70.0, 30.0)]
    edit = editor.paint(44, 1, stroke, radius=6)
    painted = stroke_mask((HEIGHT, WIDTH), stroke, 6)
    mask = editor.masks_on(44)[1]
    assert edit.before is None and edit.after.brush is not None
    np.testing.assert_array_equal(edit.after.brush, painted)
    # SAM2 takes a mask prompt as the mask itself, up to its low-resolution round trip.
    assert mask[painted].mean() > 0.9 and mask[~painted].mean() < 0.02

    editor.apply(1, 44, edit.before)  # undo
    assert editor.masks_on(44) == {} and (1, 44) not in editor.session.prompts
    editor.apply(1, 44, edit.after)  # redo
    np.testing.assert_array_equal(editor.masks_on(44)[1], mask)


def test_the_eraser_removes_pixels_and_erasing_everything_removes_the_prompt(editor):
    editor.paint(44, 1, [(30.0, 30.0), (70.0, 30.0)], radius=6)
    before = editor.masks_on(44)[1]
    edit = editor.paint(44, 1, [(50.0, 30.0)], radius=8, erase=True)
    after = editor.masks_on(44)[1]
    assert edit.text.startswith("Eraser") and not after[30, 50] and before[30, 50]
    assert editor.paint(44, 1, [(50.0, 60.0)], radius=3, erase=True) is None  # nothing there to erase
    editor.paint(44, 1, [(10.0, 30.0), (110.0, 30.0)], radius=20, erase=True)
    assert editor.masks_on(44) == {} and (1, 44) not in editor.session.prompts


def test_a_click_is_undone_back_to_the_previous_clicks(editor):
    first = editor.click(43, 1, 60.0, 45.0)
    single = editor.masks_on(43)[1]
    second = editor.click(43, 1, 20.0, 70.0, positive=False)
    assert second.before is first.after and second.after.labels.tolist() == [1, 0]
    editor.apply(1, 43, second.before)
    assert editor.session.prompts[(1, 43)].labels.tolist() == [1]
    np.testing.assert_array_equal(editor.masks_on(43)[1], single)


def test_objects_have_their_colours_and_hide_and_delete(editor):
    hand, mic = editor.add_object("hand"), editor.add_object("mic")
    assert (hand.colour, mic.colour) == PALETTE[:2]
    editor.paint(44, hand.object_id, [(20.0, 20.0)], radius=8)
    editor.paint(44, mic.object_id, [(90.0, 60.0)], radius=8)
    overlay = editor.overlay(44)
    assert tuple(overlay[20, 20]) == (*hand.colour, 110) and tuple(overlay[60, 90]) == (*mic.colour, 110)
    assert tuple(overlay[80, 5]) == (0, 0, 0, 0)

    editor.set_visible(hand.object_id, False)
    overlay = editor.overlay(44)
    assert tuple(overlay[20, 20]) == (0, 0, 0, 0) and tuple(overlay[60, 90]) == (*mic.colour, 110)
    assert hand.object_id in editor.session.object_ids  # hidden, still rendered

    editor.delete_object(mic.object_id)
    assert [o.name for o in editor.objects] == ["hand"] and editor.session.object_ids == (hand.object_id,)
    assert editor.overlay(44) is None


def test_the_panels_prompts_are_the_command_lines(editor, tmp_path):
    editor.click(43, 1, 60.0, 45.0)
    editor.click(43, 1, 20.5, 70.25, positive=False)
    editor.box(45, 2, (80.0, 10.0, 30.0, 50.0))  # dragged right to left
    editor.click(45, 2, 55.0, 30.0)
    editor.paint(46, 3, [(40.0, 40.0), (60.0, 50.0)], radius=5)

    occluders = editor.request_occluders()
    (png,) = tmp_path.glob("occluder3_frame46_*.png")  # named by content: a repainted mask is a new job
    by_hand = parse_occluder_args(
        ["1:60,45@43", "1:-20.5,70.25@43", "2:30,10,80,50@45", "2:55,30@45"], [f"3:{png}@46"]
    )
    assert occluders == tuple(prompt.to_dict() for prompt in by_hand)
    assert len(png.stem.rpartition("_")[2]) == 12
    assert tuple(prompt.to_dict() for prompt in parse_occluder_args(*editor.command_line())) == occluders

    editor.paint(46, 3, [(20.0, 20.0)], radius=4)
    repainted = Path(editor.request_occluders()[-1]["mask"])
    assert repainted != png and repainted.is_file() and png.is_file()  # the queued job's mask stays


def test_saved_prompts_reload_into_the_same_masks(editor, masker, tmp_path):
    editor.click(43, 1, 60.0, 45.0)
    editor.paint(45, 2, [(40.0, 40.0)], radius=7)
    saved = editor.request_occluders()

    reopened = OccluderEditor(masker, open_session(masker), brush_dir=tmp_path / "unused")
    reopened.load(saved)
    assert [o.object_id for o in reopened.objects] == [1, 2]
    assert reopened.session.fingerprint("m") == editor.session.fingerprint("m")
    for frame in (43, 45):
        for object_id, mask in editor.masks_on(frame).items():
            np.testing.assert_array_equal(reopened.masks_on(frame)[object_id], mask)


def test_bad_strokes_are_refused():
    with pytest.raises(ValueError, match="brush size 0 must be a positive"):
        stroke_mask((10, 10), [(1, 1)], 0)


def test_a_clips_job_carries_the_occluders_keydub_render_parses(masker, tmp_path, monkeypatch):
    """Prompts made in the panel reach the render request exactly as `--occluder` / `--occluder-mask` give them."""
    from media_fixtures import make_test_clip
    from test_render import write_wav

    from keydub.plugin.cli.main import main
    from keydub.plugin.panel.controller import PanelController

    clip = make_test_clip(tmp_path / "shot.mkv", width=WIDTH, height=HEIGHT, frame_count=LENGTH, frames="noise")
    dub = write_wav(tmp_path / "dub.wav", LENGTH / 25)
    controller = PanelController(handles=0)
    controller.open_video(clip, dub, tmp_path / "out")
    clip_id = controller.current_id
    editor = OccluderEditor(
        masker,
        masker.init_session(clip),
        brush_path=lambda object_id, frame: controller.brush_mask_path(clip_id, object_id, frame),
    )
    editor.click(2, 1, 60.0, 45.0)
    editor.click(2, 1, 20.5, 70.25, positive=False)
    editor.box(4, 2, (30.0, 10.0, 80.0, 50.0))
    editor.paint(5, 3, [(40.0, 40.0), (60.0, 50.0)], radius=5)
    controller.set_occluders(clip_id, editor.request_occluders())
    from_panel = controller.job(clip_id).render_request(tmp_path / "out.mkv").occluders

    seen = {}

    def capture(engine, request, progress=None, cancel=None, analysis=None):
        seen["request"] = request
        raise KeyboardInterrupt  # the request is all this test needs

    monkeypatch.setattr("keydub.core.engine.Engine.render", capture)
    png = Path(from_panel[-1]["mask"])
    named = controller.brush_mask_path(clip_id, 3, 5)
    assert png.parent == named.parent and png.name.startswith(f"{named.stem}_")
    argv = [
        "render",
        str(clip),
        "--audio",
        str(dub),
        "-o",
        str(tmp_path / "cli.mkv"),
        "--occluder",
        "1:60,45@2",
        "--occluder=1:-20.5,70.25@2",
        "--occluder",
        "2:30,10,80,50@4",
        "--occluder-mask",
        f"3:{png}@5",
    ]
    assert main(argv) == 130
    assert from_panel == seen["request"].occluders and len(from_panel) == 3
