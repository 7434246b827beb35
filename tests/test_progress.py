"""Progress events: known totals, units, JSON round trip, job tags, and the wall-clock ETA of a job."""

import pytest

from keydub.core.files import sha256_file
from keydub.core.progress import EtaEstimator, Progress, Stage, Unit, for_job


def test_progress_round_trips_and_refuses_unknown_totals_and_units():
    event = Progress(Stage.KEYFRAMES, 3, 22, job_id="job-1", unit=Unit.STEPS)
    assert Progress.from_dict(event.to_dict()) == event
    assert event.to_dict() == {"stage": "keyframes", "done": 3, "total": 22, "job_id": "job-1", "unit": "steps"}
    assert Progress.from_dict({"stage": "render", "done": 1, "total": 2}).unit == "frames"
    with pytest.raises(ValueError, match="known count"):
        Progress(Stage.LANDMARKS, 1, None)
    with pytest.raises(ValueError, match="unit"):
        Progress(Stage.RENDER, 1, 2, unit="f")
    assert Progress(Stage.RENDER, 0, 0).fraction == 1.0 and Progress(Stage.RENDER, 1, 4).fraction == 0.25


def test_events_are_tagged_with_their_job():
    seen = []
    for_job(seen.append, "a1")(Progress(Stage.RENDER, 1, 2))
    assert seen == [Progress(Stage.RENDER, 1, 2, job_id="a1")]


def test_hashing_reports_bytes(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"x" * 1000)
    seen = []
    sha256_file(path, seen.append)
    assert seen == [Progress(Stage.HASH, 1000, 1000, unit=Unit.BYTES)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_follows_the_interpolation_steps_once_they_advance():
    clock = FakeClock()
    eta = EtaEstimator(clock=clock)
    assert eta.remaining_seconds() is None and eta.finish_time() is None
    eta.update(Progress(Stage.LOAD_MODEL, 1, 1))
    clock.now += 30  # model loading and landmarks do not count towards the rate
    eta.update(Progress(Stage.INTERPOLATION, 1, 10, unit=Unit.STEPS))
    clock.now += 2
    eta.update(Progress(Stage.RENDER, 5, 100))  # interleaved stages do not reset it
    clock.now += 2
    eta.update(Progress(Stage.INTERPOLATION, 3, 10, unit=Unit.STEPS))
    # 2 steps in 4 s: 7 steps left take 14 s.
    assert eta.remaining_seconds() == pytest.approx(14.0)
    assert eta.finish_time() == pytest.approx(clock.now + 14.0)
    clock.now += 14
    eta.update(Progress(Stage.INTERPOLATION, 10, 10, unit=Unit.STEPS))
    eta.update(Progress(Stage.RENDER, 100, 100))
    assert eta.remaining_seconds() == 0.0


def test_eta_of_a_download_uses_its_bytes():
    clock = FakeClock()
    eta = EtaEstimator(clock=clock)
    eta.update(Progress(Stage.DOWNLOAD, 0, 1000, unit=Unit.BYTES))
    clock.now += 5
    eta.update(Progress(Stage.DOWNLOAD, 250, 1000, unit=Unit.BYTES))
    assert eta.remaining_seconds() == pytest.approx(15.0)


def test_the_progress_bar_keeps_a_bar_per_stage_in_its_unit(capsys):
    from keydub.plugin.cli._output import ProgressBar

    with ProgressBar() as bar:
        bar(Progress(Stage.DOWNLOAD, 512 * 1024, 2 * 1024 * 1024, unit=Unit.BYTES))
        bar(Progress(Stage.KEYFRAMES, 3, 22, unit=Unit.STEPS))
        bar(Progress(Stage.DOWNLOAD, 1024 * 1024, 2 * 1024 * 1024, unit=Unit.BYTES))  # its bar is still there
        assert set(bar._bars) == {Stage.DOWNLOAD, Stage.KEYFRAMES}
        bar(Progress(Stage.KEYFRAMES, 22, 22, unit=Unit.STEPS))
        assert set(bar._bars) == {Stage.DOWNLOAD}  # a finished stage's bar is closed
    drawn = capsys.readouterr().err
    assert "1.00M/2.00M" in drawn and "3/22" in drawn and "step" in drawn
