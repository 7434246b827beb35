"""The Qt side of the panel's plumbing: controller events delivered on the GUI thread, and short tasks whose
stale answers are dropped."""

import threading

import pytest


pytest.importorskip("PySide6")
from PySide6 import QtCore  # noqa: E402

from keydub.core.errors import KeydubError  # noqa: E402
from keydub.core.progress import Progress  # noqa: E402
from keydub.plugin.panel.events import ClipChanged, CurrentChanged, EventSource, MasksChanged  # noqa: E402
from keydub.ui.events import EventBridge  # noqa: E402
from keydub.ui.tasks import TaskRunner  # noqa: E402


class Receiver:
    def __init__(self):
        self.events, self.threads = [], []

    def __call__(self, event):
        self.events.append(event)
        self.threads.append(QtCore.QThread.currentThread())


def test_an_event_on_the_gui_thread_is_delivered_at_once_and_one_from_another_thread_on_the_gui_thread(qtbot):
    source, bridge = EventSource(), EventBridge()
    clips, masks = Receiver(), Receiver()
    bridge.subscribe(source, {ClipChanged: clips, MasksChanged: masks})
    source._emit(ClipChanged("shot"))
    assert clips.events == [ClipChanged("shot")]  # before `_emit` returned, as a plain callback

    model_thread = threading.Thread(target=lambda: source._emit(MasksChanged([7])))
    model_thread.start()
    model_thread.join()
    assert masks.events == []  # queued to the GUI thread, not called on the model thread
    qtbot.waitUntil(lambda: masks.events == [MasksChanged([7])], timeout=5000)
    assert masks.threads == [QtCore.QCoreApplication.instance().thread()]
    assert clips.events == [ClipChanged("shot")]


def test_unsubscribing_stops_delivery_and_drops_events_already_queued(qtbot):
    kept_source, dropped_source, bridge = EventSource(), EventSource(), EventBridge()
    kept, dropped = Receiver(), Receiver()
    bridge.subscribe(kept_source, {CurrentChanged: kept})
    bridge.subscribe(dropped_source, {CurrentChanged: dropped})
    for source, clip_id in ((kept_source, "kept"), (dropped_source, "dropped")):
        emitter = threading.Thread(target=lambda source=source, clip_id=clip_id: source._emit(CurrentChanged(clip_id)))
        emitter.start()
        emitter.join()
    bridge.unsubscribe(dropped_source)
    dropped_source._emit(CurrentChanged("after"))
    qtbot.waitUntil(lambda: kept.events == [CurrentChanged("kept")], timeout=5000)
    qtbot.wait(50)
    assert dropped.events == []
    bridge.unsubscribe()
    kept_source._emit(CurrentChanged("after"))
    assert kept.events == [CurrentChanged("kept")]


def test_only_the_current_task_of_a_kind_answers_and_a_stale_one_is_dropped(qtbot):
    runner = TaskRunner()
    started, finished, failures, progress, answers = [], [], [], [], []
    runner.started.connect(started.append)
    runner.finished.connect(lambda: finished.append(True))
    runner.failed.connect(failures.append)
    runner.progressed.connect(lambda done, total: progress.append((done, total)))
    release = threading.Event()

    def slow(report):
        release.wait(10)
        report(Progress("landmarks", 1, 2))
        raise KeydubError("the first clip is unreadable")

    def fast(report):
        report(Progress("landmarks", 3, 4))
        return "second clip"

    first = runner.run("analysis", slow, answers.append, "Finding faces in shot 1…")
    second = runner.run("analysis", fast, answers.append, "Finding faces in shot 2…")
    assert second == first + 1 and started == ["Finding faces in shot 1…", "Finding faces in shot 2…"]
    qtbot.waitUntil(lambda: answers == ["second clip"], timeout=5000)
    assert runner.is_busy  # the stale thread still runs
    release.set()
    qtbot.waitUntil(lambda: not runner.is_busy, timeout=5000)
    # The stale task's progress and failure never reached the window.
    assert (answers, progress, failures, finished) == (["second clip"], [(3, 4)], [], [True])


def test_a_failure_of_the_task_or_of_applying_its_answer_is_one_line(qtbot):
    runner = TaskRunner()
    failures = []
    runner.failed.connect(failures.append)

    def fail(report):
        raise KeydubError("dub.wav does not exist; check the path")

    def refuse(result):
        raise KeydubError(f"{result} has no audio track")

    runner.run("open", fail, print, "Opening…")
    qtbot.waitUntil(lambda: not runner.is_busy, timeout=5000)
    runner.run("open", lambda report: "cut.otio", refuse, "Opening…")
    qtbot.waitUntil(lambda: not runner.is_busy, timeout=5000)
    assert failures == ["dub.wav does not exist; check the path", "cut.otio has no audio track"]
