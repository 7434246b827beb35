"""The panel controllers' typed events and the face analyses kept by clip, without Qt."""

from pathlib import Path

import pytest

from keydub.plugin.panel.analysis import FaceAnalysis
from keydub.plugin.panel.events import ClipChanged, ClipsChanged, EventSource, MasksChanged
from keydub.plugin.panel.face_analyses import FaceAnalyses
from keydub.plugin.panel.session import ClipSession


def test_callbacks_get_the_events_of_their_class_in_order_until_unregistered():
    source, received = EventSource(), []
    first, second = (
        (lambda event: received.append(("first", event))),
        (lambda event: received.append(("second", event))),
    )
    source.register_event_callback(ClipChanged, first)
    source.register_event_callback(ClipChanged, second)
    source.register_event_callback(MasksChanged, first)
    source._emit(ClipChanged("shot 1"))
    source._emit(ClipsChanged())  # nobody subscribed
    source._emit(MasksChanged([3, 4]))
    assert received == [
        ("first", ClipChanged("shot 1")),
        ("second", ClipChanged("shot 1")),
        ("first", MasksChanged([3, 4])),
    ]
    source.unregister_event_callback(ClipChanged, first)
    source.unregister_event_callback(ClipChanged, first)  # a second time changes nothing
    source._emit(ClipChanged("shot 2"))
    assert received[3:] == [("second", ClipChanged("shot 2"))]


def test_subscribing_to_something_that_is_not_a_panel_event_is_refused():
    with pytest.raises(TypeError, match="'clip.changed' is not a panel event; subscribe to one of ClipsChanged"):
        EventSource().register_event_callback("clip.changed", print)


def session(start: int, end: int) -> ClipSession:
    return ClipSession("shot", "shot", Path("shot.mov"), start, end)


def test_an_analysis_is_kept_until_its_clips_range_changes():
    analyses = FaceAnalyses()
    analysis = FaceAnalysis(Path("shot.mov"), 0, 24, tracks=[])
    analyses.put("shot", analysis)
    assert "shot" in analyses and analyses["shot"] is analysis and analyses.get("shot") is analysis
    assert analyses.get(None) is None and analyses.get("other") is None
    assert not analyses.drop_if_stale(session(0, 24)) and "shot" in analyses
    assert analyses.drop_if_stale(session(4, 24)) and "shot" not in analyses
    assert not analyses.drop_if_stale(session(4, 24))  # nothing left to drop
    analyses.put("shot", analysis)
    analyses.clear()
    assert analyses.get("shot") is None
