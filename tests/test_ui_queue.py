"""The render queue dock, offscreen, with a real `keydub worker` process (the copy stand-in engine, slowed).

The table cells are read as the editor sees them; the worker is started, cancelled, killed and restarted through
the dock, and a heartbeat timer checks the UI thread never waits while the worker renders.
"""

from dataclasses import replace
from fractions import Fraction

import pytest
from heartbeat import Heartbeat
from media_fixtures import make_test_clip
from queue_fixtures import subprocess_environment
from test_render import write_wav

from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.queue import QueueController
from keydub.plugin.store import JobState
from keydub.ui.queue import QueuePanel, show_mid_render
from keydub.ui.queue.panel import COLUMNS


FRAMES = 12
WORKER_START_MS = 60000


@pytest.fixture
def job(tmp_path):
    clip = make_test_clip(tmp_path / "shot.mkv", frame_count=FRAMES, frame_rate=Fraction(25))
    controller = PanelController(render_options={"codec": "ffv1"}, handles=0)
    controller.open_video(clip, write_wav(tmp_path / "dub.wav", FRAMES / 25), tmp_path / "renders")
    return controller.job(controller.current_id)


def make_panel(qtbot, folder, delay: float, **options) -> QueuePanel:
    queue = QueueController(folder, device="cpu", engine="queue_fixtures:copy_engine")
    panel = QueuePanel(queue, environment=subprocess_environment(KEYDUB_TEST_FRAME_DELAY=str(delay)), **options)
    qtbot.addWidget(panel)
    panel.resize(900, 300)
    panel.show()
    return panel


def cells(panel, row: int = 0) -> dict[str, str]:
    model = panel.model
    return {name: model.index(row, column).data() for column, name in enumerate(COLUMNS)}


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
    done, total = map(int, live["Stage"].removeprefix("copy ").split("/"))
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
    second = replace(job, job_id=f"{job.job_id}-B", name="B", options={**job.options, "seed": 1})
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
