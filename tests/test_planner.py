"""Keyframe and window planning: every frame is covered once, and the layout is the official one where it exists."""

import pytest

from keydub.core.errors import InvalidParameterError
from keydub.core.model.planner import plan_dubbing


def official_layout(num_frames: int, window_length: int = 14) -> tuple[list[int], list[list[int]], list[list]]:
    """The index logic of the official `create_pipeline_inputs` (overlap 1, `add_zero_flag=True`), re-typed.

    Returns the keyframes, the windows `[first, last]` and the 14-slot keyframe batches (`None` = dummy slot).
    """
    keyframes, windows = [], []
    for start in range(0, num_frames - window_length + 1, window_length - 1):
        end = start + window_length - 1
        for index in (start, end):
            if index not in keyframes:
                keyframes.append(index)
        windows.append([start, end])
    slots = list(keyframes)
    for at in range(0, len(keyframes) + (len(keyframes) + 1) % window_length, window_length):
        slots.insert(at, None)
    slots += [slots[-1]] * ((window_length - len(slots) % window_length) % window_length)
    batches = [slots[i : i + window_length] for i in range(0, len(slots), window_length)]
    return keyframes, windows, batches


@pytest.mark.parametrize("num_frames", range(1, 401))
def test_every_input_frame_gets_exactly_one_output_frame(num_frames):
    plan = plan_dubbing(num_frames)
    outputs = [position for window in plan.windows for position in window.output_positions]
    assert outputs == list(range(num_frames))
    assert num_frames <= plan.grid_length <= max(num_frames + 12, 14)
    for window in plan.windows:
        assert len(window.positions) == 14
        assert window.start % 13 == 0 and window.start in plan.keyframes and window.stop - 1 in plan.keyframes
    assert plan.keyframes == tuple(range(0, plan.grid_length, 13))
    assert plan.keyframes[-1] == plan.grid_length - 1
    for batch in plan.batches:
        assert len(batch.slots) == 14 and batch.slots[0] == 0
        assert batch.slots[1 : 1 + len(batch.keyframes)] == batch.keyframes
        assert set(batch.slots[1 + len(batch.keyframes) :]) <= {batch.keyframes[-1]}
        assert batch.kept_slots == tuple(0 < i <= len(batch.keyframes) for i in range(14))
        # Windows are generated as soon as both of their keyframes exist.
        assert all(window.stop - 1 in batch.keyframes for window in batch.windows)
        assert set(batch.keyframes) - {0} <= {window.stop - 1 for window in batch.windows}


@pytest.mark.parametrize("num_frames", [14, 27, 1132])
def test_layout_equals_the_official_one_when_nothing_trails(num_frames):
    keyframes, windows, batches = official_layout(num_frames)
    plan = plan_dubbing(num_frames)
    assert list(plan.keyframes) == keyframes
    assert [[w.start, w.stop - 1] for w in plan.windows] == windows
    # Official dummy slots are `None`; ours name the identity frame, 0 by default.
    assert [list(b.slots) for b in plan.batches] == [[0 if s is None else s for s in b] for b in batches]
    assert plan.grid_length == num_frames


def test_official_reference_numbers_for_1132_frames():
    plan = plan_dubbing(1132)
    assert len(plan.keyframes) == 88 and len(plan.windows) == 87 and len(plan.batches) == 7
    assert plan.batches[0].slots == (0, *range(0, 13 * 13, 13))
    assert plan.batches[-1].keyframes == tuple(range(13 * 78, 1132, 13))  # 10 keyframes, 3 padding slots
    assert plan.batches[-1].slots[-3:] == (1131, 1131, 1131)
    assert [w.index for w in plan.batches[1].windows] == list(range(12, 25))
    assert plan.batches[1].span == range(156, 326)


def test_hundred_frames_extends_the_official_layout_with_a_held_last_frame():
    keyframes, windows, batches = official_layout(100)
    plan = plan_dubbing(100)
    # The official code stops at frame 91 and drops frames 92..99.
    assert keyframes == list(range(0, 92, 13)) and windows[-1] == [78, 91]
    assert list(plan.keyframes) == [*keyframes, 104]
    assert [[w.start, w.stop - 1] for w in plan.windows] == [*windows, [91, 104]]
    assert plan.batches[0].slots == (0, *keyframes, 104, 104, 104, 104, 104)
    last = plan.windows[-1]
    assert last.output_positions == range(92, 100)
    assert [plan.source(p) for p in last.positions] == [*range(91, 100), 99, 99, 99, 99, 99]


def test_short_clips_use_one_window():
    plan = plan_dubbing(1)
    assert plan.keyframes == (0, 13) and plan.grid_length == 14
    assert [w.output_positions for w in plan.windows] == [range(0, 1)]
    assert {plan.source(p) for p in range(14)} == {0}
    plan = plan_dubbing(5)
    assert [plan.source(p) for p in plan.windows[0].positions] == [0, 1, 2, 3, 4, *[4] * 9]


def test_identity_frame_fills_every_dummy_slot():
    plan = plan_dubbing(400, identity_index=37)
    assert [batch.slots[0] for batch in plan.batches] == [37, 37, 37]
    assert plan.keyframes == plan_dubbing(400).keyframes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_frames": 0}, "at least 1 frame"),
        ({"num_frames": 10, "identity_index": 10}, "outside the clip's frames 0..9"),
        ({"num_frames": 10, "identity_index": -1}, "outside"),
        ({"num_frames": 10, "window_length": 1}, "window_length"),
    ],
)
def test_bad_plans_are_refused(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        plan_dubbing(**kwargs)


def test_source_refuses_positions_outside_the_grid():
    with pytest.raises(IndexError):
        plan_dubbing(20).source(27)
