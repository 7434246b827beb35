"""Occlusion prompts as data: command-line forms, JSON round trip, timecode frames, brush mask files."""

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from media_fixtures import make_test_clip

from keydub.core.errors import InvalidParameterError
from keydub.core.media import probe
from keydub.core.occlusion import (
    OcclusionPrompt,
    load_brush_mask,
    merge_prompts,
    parse_occluder_args,
    parse_occluder_click,
    parse_occluder_mask,
    save_brush_mask,
)


def test_click_forms_parse_to_points_labels_and_object_ids():
    assert parse_occluder_click("450,610@12") == OcclusionPrompt(1, 12, ((450.0, 610.0),), (1,))
    assert parse_occluder_click("-430.5,580@12") == OcclusionPrompt(1, 12, ((430.5, 580.0),), (0,))
    assert parse_occluder_click("3:20,30@0") == OcclusionPrompt(3, 0, ((20.0, 30.0),), (1,))
    assert parse_occluder_click("2:-20,30@7").labels == (0,)
    assert parse_occluder_click("380,520,620,760@5") == OcclusionPrompt(1, 5, box=(380.0, 520.0, 620.0, 760.0))


def test_mask_form_keeps_windows_drive_letters_and_at_signs_in_paths(tmp_path):
    prompt = parse_occluder_mask(f"{tmp_path}/hand@v2.png@120")
    assert (prompt.object_id, prompt.frame, prompt.mask_path) == (1, 120, tmp_path / "hand@v2.png")
    windows = parse_occluder_mask(r"4:C:\masks\mic.png@9")
    assert (windows.object_id, windows.frame) == (4, 9)
    assert str(windows.mask_path).endswith(r"C:\masks\mic.png")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("450,610", "no frame"),
        ("450;610@3", "'450;610' is neither a click"),
        ("450,610@", "incomplete"),
        ("@3", "incomplete"),
        ("450,610,7@3", "neither a click"),
        ("450,abc@3", "neither a click"),
        ("450,610@-2", "'-2' is a timecode"),
        ("450,610@1:00", "'1:00' is a timecode"),
        ("500,500,400,600@3", "box (500.0, 500.0, 400.0, 600.0) is empty"),
    ],
)
def test_malformed_clicks_are_refused_with_the_value(text, fragment):
    with pytest.raises(InvalidParameterError, match=None) as error:
        parse_occluder_click(text)
    assert fragment in str(error.value)


def test_timecode_frames_convert_through_the_clips_start_timecode(tmp_path):
    clip = make_test_clip(
        tmp_path / "tc.mkv", frame_rate=Fraction(30000, 1001), frame_count=40, timecode="00:59:59;28", drop_frame=True
    )
    info = probe(clip)
    # 00:59:59;28 is frame 107890 at 29.97 drop-frame; 01:00:00;02 is 107892 + 2 (the ;00 and ;01 labels of
    # minute 60 exist because 60 is divisible by ten), so it is the clip's fifth frame.
    assert parse_occluder_click("10,10@01:00:00;02", info).frame == 4
    assert parse_occluder_mask("m.png@00:59:59;29", info).frame == 1
    with pytest.raises(InvalidParameterError, match="before the clip's first frame"):
        parse_occluder_click("10,10@00:59:59;00", info)
    with pytest.raises(InvalidParameterError, match="needs the clip's frame rate"):
        parse_occluder_click("10,10@01:00:00;02")


def test_clicks_of_one_object_on_one_frame_merge_in_order(tmp_path):
    prompts = parse_occluder_args(
        ["10,20@5", "2:30,40@5", "-15,25@5", "1,2,50,60@5", "7,8@9"], [f"3:{tmp_path}/m.png@5"]
    )
    assert prompts == (
        OcclusionPrompt(1, 5, ((10.0, 20.0), (15.0, 25.0)), (1, 0), box=(1.0, 2.0, 50.0, 60.0)),
        OcclusionPrompt(1, 9, ((7.0, 8.0),), (1,)),
        OcclusionPrompt(2, 5, ((30.0, 40.0),), (1,)),
        OcclusionPrompt(3, 5, mask_path=tmp_path / "m.png"),
    )
    with pytest.raises(InvalidParameterError, match="two boxes on frame 5"):
        merge_prompts([parse_occluder_click("1,2,5,6@5"), parse_occluder_click("1,2,7,8@5")])
    with pytest.raises(InvalidParameterError, match="brush mask stands alone"):
        parse_occluder_args(["10,20@5"], [f"{tmp_path}/m.png@5"])


def test_prompt_round_trips_through_json_and_accepts_a_timecode_frame(tmp_path):
    prompt = OcclusionPrompt(2, 17, ((1.5, 2.0), (3.0, 4.0)), (1, 0), box=(0.0, 0.0, 10.0, 12.0))
    assert OcclusionPrompt.from_dict(json.loads(json.dumps(prompt.to_dict()))) == prompt
    brush = OcclusionPrompt(1, 3, mask_path=tmp_path / "b.png")
    assert OcclusionPrompt.from_dict(json.loads(json.dumps(brush.to_dict()))) == brush
    info = probe(make_test_clip(tmp_path / "c.mkv", frame_count=30, timecode="10:00:00:00"))
    data = dict(prompt.to_dict(), frame="10:00:01:02")  # 25 fps: one second and two frames in
    assert OcclusionPrompt.from_dict(data, info).frame == 27


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"object_id": 1, "frame": 0, "points": [[1, 2]], "labels": [1, 0]}, "1 points but 2 labels"),
        ({"object_id": 1, "frame": 0, "points": [[1, 2]], "labels": [2]}, "label 2 is not 1"),
        ({"object_id": -1, "frame": 0, "points": [[1, 2]], "labels": [1]}, "object id -1"),
        ({"object_id": 1, "frame": 0}, "has no click, box or brush mask"),
        ({"object_id": 1, "frame": 0, "box": [1, 2, 3]}, "four finite pixel coordinates"),
        ({"object_id": 1, "frame": 0, "mask": "m.png", "points": [[1, 2]], "labels": [1]}, "both a brush"),
        ({"object_id": 1, "points": [[1, 2]], "labels": [1]}, "malformed"),
        ({"object_id": 1, "frame": 0, "point": [1, 2]}, "unknown fields ['point']"),
        ({"object_id": 1, "frame": 2.5, "points": [[1, 2]], "labels": [1]}, "frame 2.5"),
    ],
)
def test_bad_prompt_data_is_refused_naming_the_problem(data, fragment):
    with pytest.raises(InvalidParameterError) as error:
        OcclusionPrompt.from_dict(data)
    assert fragment in str(error.value)


def test_brush_mask_png_round_trip_and_checks(tmp_path):
    mask = np.zeros((48, 64), dtype=bool)
    mask[10:20, 30:50] = True
    path = save_brush_mask(mask, tmp_path / "hand.png")
    assert [p.name for p in tmp_path.iterdir()] == ["hand.png"]  # no temporary file left behind
    np.testing.assert_array_equal(load_brush_mask(path, (48, 64)), mask)
    with pytest.raises(InvalidParameterError, match=r"is 64x48 but the clip is 80x48"):
        load_brush_mask(path, (48, 80))
    save_brush_mask(np.zeros((48, 64), dtype=bool), tmp_path / "empty.png")
    with pytest.raises(InvalidParameterError, match="empty.png is empty"):
        load_brush_mask(tmp_path / "empty.png", (48, 64))
    with pytest.raises(InvalidParameterError, match="cannot be read"):
        load_brush_mask(tmp_path / "missing.png", (48, 64))
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InvalidParameterError, match="is not an image"):
        load_brush_mask(tmp_path / "text.png", (48, 64))


def test_painted_rgba_layer_reads_its_alpha(tmp_path):
    import cv2

    layer = np.zeros((8, 8, 4), dtype=np.uint8)
    layer[2:5, 3:6, 3] = 200  # painted, semi-opaque: at least half of the range counts as occluder
    layer[6, 6, 3] = 100
    cv2.imwrite(str(tmp_path / "layer.png"), layer)
    expected = np.zeros((8, 8), dtype=bool)
    expected[2:5, 3:6] = True
    np.testing.assert_array_equal(load_brush_mask(Path(tmp_path / "layer.png"), (8, 8)), expected)
