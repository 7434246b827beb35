"""The render queue dock, offscreen, with a real `keydub worker` process (the copy stand-in engine, slowed).

The table cells are read as the editor sees them, and the progress bar as its delegate draws it; the worker is
started, cancelled, killed and restarted through the dock, and a heartbeat timer checks the UI thread never waits
while the worker renders or while a submission is written.
"""

import subprocess
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from heartbeat import Heartbeat
from media_fixtures import make_test_clip
from PySide6 import QtCore
from queue_fixtures import subprocess_environment
from test_render import write_wav
from test_worker import KILLED_WRITER

from keydub.core.compositing.crop_cache import SCRATCH_PREFIX
from keydub.core.errors import JobStoreError
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.queue import QueueController
from keydub.plugin.store import JobState
from keydub.ui.progress_delegate import BAR_MAXIMUM
from keydub.ui.queue import QueuePanel, show_mid_render
from keydub.ui.queue.panel import COLUMNS, PROGRESS_COLUMN, STAGE_COLUMN


FRAMES = 12
WORKER_START_MS = 60000


@pytest.fixture
def job(tmp_path):
    clip = make_test_clip(tmp_path / "shot.mkv", frame_count=FRAMES, frame_rate=Fraction(25))
    controller = PanelController(render_options={"codec": "ffv1"}, handles=0)
    controller.open_video(clip, write_wav(tmp_path / "dub.wav", FRAMES / 25), tmp_path / "renders")
    return controller.job(controller.current_id)


def make_panel(qtbot, folder, delay: float, engine: str = "queue_fixtures:copy_engine", **options) -> QueuePanel:
    queue = QueueController(folder, device="cpu", engine=engine)
    panel = QueuePanel(queue, environment=subprocess_environment(KEYDUB_TEST_FRAME_DELAY=str(delay)), **options)
    qtbot.addWidget(panel)
    panel.resize(900, 300)
    panel.show()
    return panel


def cells(panel, row: int = 0) -> dict[str, str]:
    model = panel.model
    return {name: model.index(row, column).data() for column, name in enumerate(COLUMNS)}


def bar(panel, row: int = 0):
    """The progress bar the Progress cell's delegate draws (`None`: a plain cell)."""
    from PySide6 import QtWidgets

    index = panel.model.index(row, PROGRESS_COLUMN)
    option = QtWidgets.QStyleOptionViewItem()
    option.initFrom(panel.table)
    option.rect = panel.table.visualRect(index)
    return panel.table.itemDelegateForColumn(PROGRESS_COLUMN).bar_option(option, index)


def wait_for_state(qtbot, panel, state: JobState, timeout: int = WORKER_START_MS):
    qtbot.waitUntil(lambda: bool(panel.model.rows) and panel.model.rows[0].state is state, timeout=timeout)


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "renders"


def test_the_dock_shows_stage_progress_eta_and_device_while_the_worker_renders(qtbot, job, folder):
    panel = make_panel(qtbot, folder, delay=0.15)
    heartbeat = Heartbeat(interval_ms=10)
    seen = []
    panel.rows_changed.connect(lambda: seen.append(cells(panel)) if panel.model.rows else None)

    panel.submit([job])  # the worker starts by itself
    heartbeat.start()
    qtbot.waitUntil(
        lambda: bool(cells(panel)["ETA"]) and cells(panel)["Progress"] not in ("", "0%"), timeout=WORKER_START_MS
    )
    live = cells(panel)
    wait_for_state(qtbot, panel, JobState.DONE)
    heartbeat.stop()

    assert live["State"] == "running" and live["Device"] == "cpu" and live["Tries"] == "1"
    done, total = map(int, live["Stage"].removeprefix("copy · frame ").split("/"))
    assert total == FRAMES and 0 < done <= FRAMES and live["Progress"] == f"{done / FRAMES:.0%}"
    minutes, seconds = map(int, live["ETA"].split(":"))
    assert 0 <= minutes * 60 + seconds <= 10
    assert cells(panel)["State"] == "done" and panel.model.rows[0].output.is_file()
    assert any(row["State"] == "running" for row in seen)
    qtbot.waitUntil(lambda: panel.controller.worker.state == "idle", timeout=10000)
    assert panel.status.text() == "the queue is empty"
    print(
        f"heartbeat during the render: {heartbeat.count} beats, longest wait {heartbeat.longest_wait() * 1000:.0f} "
        f"ms ({heartbeat.longest_gap() * 1000:.0f} ms wall clock, {heartbeat.longest_busy() * 1000:.0f} ms busy)"
    )
    assert heartbeat.count > 50 and heartbeat.longest_wait() <= 0.050
    panel.shutdown()
    assert panel.controller.worker.state == "stopped"


def test_one_bar_per_job_only_goes_forward_through_the_stages(qtbot, job, folder):
    panel = make_panel(qtbot, folder, delay=0.05, engine="staged_engine:staged_engine")
    seen = []

    def record():
        if panel.model.rows and panel.model.rows[0].state is JobState.RUNNING and bar(panel) is not None:
            seen.append((cells(panel)["Stage"], bar(panel).progress, bar(panel).text))

    panel.rows_changed.connect(record)
    panel.submit([job])
    wait_for_state(qtbot, panel, JobState.DONE)
    stages = list(dict.fromkeys(stage.split(" · ")[0] for stage, _, _ in seen))
    order = ["landmarks", "load model", "keyframes", "interpolation", "render"]
    assert stages == [stage for stage in order if stage in stages] and set(order[2:]) <= set(stages)
    values = [value for _, value, _ in seen]
    # Each stage's own count starts from zero again; the bar of the job never goes back.
    assert values == sorted(values) and 0 < values[0] < values[-1] <= BAR_MAXIMUM
    # Landmarks, model load and the skipped occlusion are 18 points of 100; each keyframe step brings its share of
    # the crops, audio and keyframes (10 points), each interpolation step its share of 62.
    steps = {"keyframes": (180, 100), "interpolation": (280, 620)}
    for stage, value, _ in seen:
        name, _, count = stage.partition(" · step ")
        if name in steps:
            done, total = map(int, count.split("/"))
            assert value == steps[name][0] + steps[name][1] * done // total, stage
    assert all(text == f"{value / BAR_MAXIMUM:.0%}" for _, value, text in seen)
    assert bar(panel).progress == BAR_MAXIMUM and cells(panel)["Stage"] == ""
    panel.shutdown()


def test_the_stage_column_is_wide_enough_to_read_and_its_tooltip_has_it_all(qtbot, job, folder):
    panel = make_panel(qtbot, folder, delay=0.2, engine="staged_engine:staged_engine", auto_start=False)
    show_mid_render(panel, [job], timeout_ms=WORKER_START_MS)
    qtbot.waitUntil(lambda: cells(panel)["Stage"].startswith("interpolation"), timeout=WORKER_START_MS)
    index = panel.model.index(0, STAGE_COLUMN)
    text = index.data()
    metrics = panel.table.fontMetrics()
    assert panel.table.columnWidth(STAGE_COLUMN) > metrics.horizontalAdvance(text) + 8
    assert panel.table.rowHeight(0) < 2 * metrics.height() + 4  # one line, not wrapped
    tooltip = index.data(QtCore.Qt.ItemDataRole.ToolTipRole)
    assert tooltip.endswith(f"of the job · {panel.model.rows[0].progress.text()}") and text in tooltip
    panel.shutdown()


def test_submit_shows_the_rows_at_once_and_writes_off_the_ui_thread(qtbot, job, folder):
    panel = make_panel(qtbot, folder, delay=0, auto_start=False)
    write = panel.controller.write_submission
    threads = []

    def slow_write(jobs, force=False):  # an fsync on a busy disk
        threads.append(QtCore.QThread.currentThread())
        time.sleep(0.4)
        return write(jobs, force)

    panel.controller.write_submission = slow_write
    heartbeat = Heartbeat(interval_ms=10)
    heartbeat.start()
    with qtbot.waitSignal(panel.submitted, timeout=10000) as submitted:
        panel.submit([job])
        assert cells(panel)["State"] == "submitting" and bar(panel) is None  # before the event loop runs
    heartbeat.stop()
    assert submitted.args == [[job.job_id]] and cells(panel)["State"] == "pending"
    assert threads and threads[0] is not panel.thread()
    assert heartbeat.longest_wait() <= 0.050
    panel.shutdown()


def test_a_submission_that_cannot_be_written_is_one_line(qtbot, job, folder):
    panel = make_panel(qtbot, folder, delay=0, auto_start=False)

    def locked(jobs, force=False):
        raise JobStoreError(f"the job store {folder}/.keydub/jobs.sqlite is locked by another process\ntry again")

    panel.controller.write_submission = locked
    with qtbot.waitSignal(panel.write_failed, timeout=10000) as failed:
        panel.submit([job])
    line = failed.args[0]
    assert line == f"Could not queue 1 job(s): the job store {folder}/.keydub/jobs.sqlite is locked by another process"
    assert panel.status.text() == line
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=10000)  # the submitting row is gone
    panel.shutdown()


def test_cancel_and_retry_from_the_dock(qtbot, job, folder):
    panel = make_panel(qtbot, folder, delay=0.4)
    panel.submit([job])
    wait_for_state(qtbot, panel, JobState.RUNNING)
    panel.select_jobs([job.job_id])
    assert panel.cancel_button.isEnabled() and not panel.retry_button.isEnabled()
    panel.cancel_button.click()
    wait_for_state(qtbot, panel, JobState.CANCELLED, timeout=20000)
    assert cells(panel)["State"] == "cancelled" and not any(folder.glob("*.mkv"))

    panel.select_jobs([job.job_id])
    assert panel.retry_button.isEnabled()
    panel.retry_button.click()  # the worker still runs and takes it again
    wait_for_state(qtbot, panel, JobState.DONE)
    assert cells(panel)["Tries"] == "2"
    panel.shutdown()


def test_a_killed_worker_shows_one_line_and_the_job_resumes_on_the_next(qtbot, job, folder):
    panel = make_panel(qtbot, folder, delay=0.5)
    second = replace(job, job_id=f"{job.job_id}-B", name="B", options=replace(job.options, seed=1))
    panel.submit([job, second])
    qtbot.waitUntil(lambda: any(row.progress for row in panel.model.rows), timeout=WORKER_START_MS)
    with qtbot.waitSignal(panel.worker_changed, timeout=10000, check_params_cb=lambda state: state == "crashed"):
        panel.worker.kill()
    line = panel.status.text()
    assert "\n" not in line and line.startswith("The worker was killed while rendering ")
    assert line.endswith("; the job is kept and resumes when the worker starts again.")
    rows = {row.job_id: row for row in panel.model.rows}
    assert [row.is_resumable for row in rows.values()].count(True) == 1
    assert all(row.state is JobState.PENDING for row in rows.values())
    assert panel.start_button.isEnabled()

    panel.environment = subprocess_environment()  # the next worker renders at full speed
    panel.start_button.click()
    qtbot.waitUntil(lambda: all(row.state is JobState.DONE for row in panel.model.rows), timeout=WORKER_START_MS)
    assert sorted(row.attempts for row in panel.model.rows) == [1, 2]
    panel.shutdown()


def test_a_worker_that_cannot_start_shows_why(qtbot, folder):
    panel = make_panel(qtbot, folder, delay=0)
    panel.controller.worker_argv = lambda: ["/nonexistent/keydub-worker", "--store", str(folder)]
    with qtbot.waitSignal(panel.worker_changed, timeout=10000):
        panel.start_worker()
    assert panel.status.text() == (
        "The worker could not start: /nonexistent/keydub-worker is not an executable "
        "program; check the Keydub installation"
    )
    panel.shutdown()


def test_mid_render_returns_a_running_job(qtbot, job, folder):
    panel = make_panel(qtbot, folder, delay=0.3, auto_start=False)
    row = show_mid_render(panel, [job], timeout_ms=WORKER_START_MS)
    assert row.state is JobState.RUNNING and row.progress.total == FRAMES and cells(panel)["State"] == "running"
    panel.shutdown()


def test_the_dock_says_which_files_a_killed_render_left_and_the_worker_removed(qtbot, folder, tmp_path):
    OutputFolder(folder).prepare()
    # The worker's temporary folder, so that it finds only this test's crop cache there.
    environment = subprocess_environment(TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(folder / "sh010_0ea703f707eb.mkv"), SCRATCH_PREFIX],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    partial, cache = map(Path, killed.stdout.split())
    assert partial.is_file() and partial.parent == folder
    panel = make_panel(qtbot, folder, delay=0, auto_start=False)
    panel.environment = environment
    assert panel.removed_label.isHidden()
    panel.start_worker()
    qtbot.waitUntil(lambda: panel.controller.worker.state == "idle", timeout=WORKER_START_MS)
    assert not partial.exists() and not cache.exists()
    assert panel.removed_label.text() == f"removed 2 files a killed render left: {partial.name}, {cache.name}"
    assert panel.removed_label.isVisibleTo(panel) and panel.removed_label.toolTip() == f"{partial}\n{cache}"
    assert panel.status.text() == "the queue is empty"  # the status line moved on; the note stays
    panel.shutdown()
    assert panel.controller.worker.state == "stopped"
