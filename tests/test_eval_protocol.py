"""The leakage protocol end to end on two short synthetic clips, with a stand-in renderer that draws mouths.

The clips show red lips with a dark gap between them that opens on known frames; the stand-in renderer redraws
the gap from the driving audio's loudness and, for the `first` reference only, copies the input's open mouth
(leakage by construction). A landmark source measures the drawn lips from the pixels, so LipLeak, the open
shares and the SyncNet scores come from real pixels through the same code path as real renders.
"""

import json
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from media_fixtures import make_test_clip

from keydub.core.errors import AudioError, InvalidParameterError, OutputExistsError
from keydub.core.evaluation.protocol import (
    ProtocolItem,
    ProtocolReport,
    ReferenceSummary,
    lip_sync_discrepancy,
    mismatched_partners,
    pair_inputs,
    plan_generations,
    run_protocol,
    write_protocol_report,
)
from keydub.core.media import load_audio, probe, read_frames
from keydub.core.media.writer import VideoWriter
from keydub.core.metrics.syncnet import SyncNet, SyncNetScorer


SIZE = 96
SKIN, LIP, GAP = (200, 160, 140), (190, 40, 50), (20, 10, 10)
LIP_ROWS, LIP_COLS = slice(58, 70), slice(33, 63)  # lips 30 px wide around row 64
OPEN_GAP = 12  # MAR 3 * 12 / (2 * 30) = 0.6
FRAMES = 8  # SyncNet needs 6; 8 frames give 3 windows at 25 fps
CLIPS = {  # name: (rate, frames with an open mouth, frames without a face)
    "anna": (Fraction(25), {2, 3, 6}, {4}),
    "ben": (Fraction(24000, 1001), {0, 1, 5}, set()),
}


def draw_face(gap: int) -> np.ndarray:
    frame = np.full((SIZE, SIZE, 3), SKIN, np.uint8)
    frame[LIP_ROWS, LIP_COLS] = LIP
    if gap:
        frame[64 - gap // 2 : 64 + gap - gap // 2, LIP_COLS.start + 2 : LIP_COLS.stop - 2] = GAP
        frame[64 - gap // 2 : 64 + gap - gap // 2, LIP_COLS.start : LIP_COLS.start + 2] = LIP
    return frame


def source_frame(name: str, index: int) -> np.ndarray:
    _, open_frames, faceless = CLIPS[name]
    if index in faceless:
        return np.full((SIZE, SIZE, 3), 90, np.uint8)
    return draw_face(OPEN_GAP if index in open_frames else 0)


def measured_landmarks(frames) -> np.ndarray:
    """68 points per frame: the inner lips measured from the drawn pixels, the rest a fixed face outline."""
    angles = np.linspace(0, 2 * np.pi, 68)
    outline = np.stack([48 + 30 * np.cos(angles), 48 + 30 * np.sin(angles)], axis=1)
    result = []
    for frame in frames:
        lips = (frame[..., 0] > 150) & (frame[..., 1] < 80)
        gap = (frame < 50).all(axis=-1)
        columns = np.flatnonzero((lips | gap).any(axis=0))
        if columns.size == 0:
            result.append(np.full((68, 2), np.nan))
            continue
        left, right = columns.min(), columns.max() + 1
        points = outline.copy()
        points[60], points[64] = (left, 64), (right, 64)
        for k, (top, bottom) in enumerate(((61, 67), (62, 66), (63, 65)), start=1):
            x = left + (right - left) * k // 4
            height = int(gap[:, x].sum())
            points[top], points[bottom] = (x, 64 - height / 2), (x, 64 + height / 2)
        result.append(points)
    return np.stack(result)


def write_speech(path: Path, rate: Fraction, open_frames: set[int]) -> Path:
    """A tone that is loud under the open-mouth frames and silent elsewhere, 16-bit 16 kHz."""
    times = np.arange(round(FRAMES / rate * 16000)) / 16000
    loud = np.isin(np.floor(times * float(rate)).astype(int), sorted(open_frames))
    samples = np.where(loud, 0.42 * np.sin(2 * np.pi * 220 * times), 0.0)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


class DrawingRenderer:
    """Redraws the mouth from the driving audio's loudness; copies the input's open mouth for `first`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, generation, progress=None) -> None:
        self.calls.append((generation.item.name, generation.setup, generation.reference))
        info = probe(generation.item.video)
        samples_per_frame = Fraction(16000) / info.frame_rate
        audio = load_audio(
            generation.driving_audio, 16000, duration=Fraction(info.frame_count) / info.frame_rate, pad=True
        )
        with VideoWriter(generation.output, like=info, codec="ffv1") as writer:
            for index, frame in enumerate(read_frames(generation.item.video)):
                if (frame[..., 0] > 150).any():  # a face: regenerate its mouth
                    piece = audio[round(index * samples_per_frame) : round((index + 1) * samples_per_frame)]
                    gap = OPEN_GAP if np.sqrt(np.mean(piece**2)) > 0.1 else 0
                    if generation.reference == "first":
                        gap = max(gap, int((frame[64, 48] < 50).all()) * OPEN_GAP)
                    frame = draw_face(gap)
                writer.write(frame)


@pytest.fixture
def dataset(tmp_path) -> tuple[Path, Path]:
    videos, audios = tmp_path / "videos", tmp_path / "audios"
    videos.mkdir()
    audios.mkdir()
    for name, (rate, open_frames, _) in CLIPS.items():
        make_test_clip(
            videos / f"{name}.mkv",
            width=SIZE,
            height=SIZE,
            frame_rate=rate,
            frame_count=FRAMES,
            frames=lambda index, name=name: source_frame(name, index),
        )
        write_speech(audios / f"{name}.wav", rate, open_frames)
    return videos, audios


@pytest.fixture(scope="module")
def scorer() -> SyncNetScorer:
    torch.manual_seed(0)
    return SyncNetScorer(SyncNet(embedding_dim=64, channel_divisor=16).eval(), batch_size=16)


def test_landmark_measure_reads_the_drawing():
    mar = measured_landmarks([draw_face(0), draw_face(OPEN_GAP), np.full((SIZE, SIZE, 3), 90, np.uint8)])
    from keydub.core.metrics import mar_series

    np.testing.assert_allclose(mar_series(mar)[:2], [0.0, 0.6])
    assert np.isnan(mar[2]).all()


def test_protocol_end_to_end(dataset, tmp_path, scorer):
    videos, audios = dataset
    items = pair_inputs(videos, audios)
    renderer = DrawingRenderer()
    report = run_protocol(
        items,
        tmp_path / "report",
        landmarks=measured_landmarks,
        scorer=scorer,
        renderer=renderer,
        suffix=".mkv",
        settings={"renderer": "drawing"},
    )

    assert len(renderer.calls) == len(report.rows) == 2 * 2 * 3
    assert {(row.name, row.setup, row.reference) for row in report.rows} == set(renderer.calls)
    rows = {(row.name, row.setup, row.reference): row for row in report.rows}
    # Frames and faces: anna 8 frames at 25 fps with one faceless frame; ben 8 frames at 23.976.
    assert {row.frames for row in report.rows} == {FRAMES}
    assert rows["anna", "SI", "first"].missing_frames == 1 and rows["ben", "SI", "first"].missing_frames == 0
    # Silent input: `first` copies the input's open mouths, `auto` keeps the mouth shut.
    assert rows["anna", "SI", "first"].open_frames == 3 and rows["ben", "SI", "first"].open_frames == 3
    assert rows["anna", "SI", "auto"].open_frames == rows["ben", "SI", "auto"].open_frames == 0
    # Audio-matched: the mouth opens under the loud frames of the own audio.
    assert rows["anna", "AM", "auto"].open_frames == 3 and rows["ben", "AM", "auto"].open_frames == 3
    assert rows["anna", "SI", "auto"].driving_audio == "anna.silent.wav"
    assert rows["anna", "XM", "auto"].driving_audio == "ben.wav"
    assert rows["ben", "XM", "auto"].driving_audio == "anna.wav"

    first, auto = report.summaries
    assert (first.reference, auto.reference) == ("first", "auto")
    assert first.lipleak == pytest.approx((3 + 3) / (7 + 8))  # pooled over the frames with a face
    assert auto.lipleak == 0.0
    for summary in report.summaries:
        values = [
            summary.lse_c_s,
            summary.lse_d_s,
            summary.lse_c_am,
            summary.lse_d_am,
            summary.lse_c_xm,
            summary.lse_d_xm,
            summary.lsd,
        ]
        assert all(value is not None and np.isfinite(value) for value in values)
        am = [row for row in report.rows if row.reference == summary.reference and row.setup == "AM"]
        assert summary.lse_c_am == pytest.approx(np.mean([row.lse_c for row in am]))
        assert summary.lsd == pytest.approx(
            0.5 * (abs(summary.lse_c_am - summary.lse_c_xm) + abs(summary.lse_d_am - summary.lse_d_xm))
        )
    assert all(row.lse_d > 0 and row.lse_c >= 0 and -15 <= row.offset <= 15 for row in report.rows)
    # Per video: each video's own LipLeak and LSD, from its own rows only.
    per_video = {(summary.video, summary.reference): summary for summary in report.per_video}
    assert list(per_video) == [("anna", "first"), ("anna", "auto"), ("ben", "first"), ("ben", "auto")]
    assert per_video["anna", "first"].lipleak == pytest.approx(3 / 7)  # frame 4 has no face
    assert per_video["ben", "first"].lipleak == pytest.approx(3 / 8)
    for (name, reference), summary in per_video.items():
        am, xm, si = (rows[name, setup, reference] for setup in ("AM", "XM", "SI"))
        assert (summary.lse_c_am, summary.lse_d_xm, summary.lse_c_s) == (am.lse_c, xm.lse_d, si.lse_c)
        assert summary.lsd == pytest.approx(0.5 * (abs(am.lse_c - xm.lse_c) + abs(am.lse_d - xm.lse_d)))
    # ben at 23.976 fps is scored on 9 instants at 25 fps (4 windows), anna on its own 8 frames (3 windows).

    markdown_path, json_path = write_protocol_report(report, tmp_path / "report")
    markdown = markdown_path.read_text()
    for column in (
        "LipLeak",
        "LSE-C_S",
        "LSE-D_S",
        "LSE-C (AM)",
        "LSE-D (AM)",
        "LSE-C (XM)",
        "LSE-D (XM)",
        "LSD",
        "Video",
        "Setup",
        "Driving audio",
        "Open mouth",
        "No face",
        "Offset",
    ):
        assert f"| {column} |" in markdown or f" {column} |" in markdown
    # Two per-video rows (one per reference) and six generations per video.
    assert markdown.count("\n| anna |") == 2 + 6 and markdown.count("\n| ben |") == 2 + 6
    assert "## Per video" in markdown and "## Per generation" in markdown
    data = json.loads(json_path.read_text())
    assert set(data["summary"][0]) == {
        "reference",
        "video",
        "lipleak",
        "lse_c_s",
        "lse_d_s",
        "lse_c_am",
        "lse_d_am",
        "lse_c_xm",
        "lse_d_xm",
        "lsd",
    }
    assert data["summary"][0]["video"] is None
    assert [(entry["video"], entry["reference"]) for entry in data["per_video"]] == list(per_video)
    assert len(data["videos"]) == 12 and data["settings"] == {"renderer": "drawing"}
    assert data["summary"][0]["lipleak"] == pytest.approx(6 / 15)
    # A library caller gets the rule and message of every output: refused unless asked to overwrite.
    with pytest.raises(OutputExistsError) as refused:
        write_protocol_report(report, tmp_path / "report")
    assert str(refused.value) == (
        f"-o (Markdown report) {markdown_path} already exists; choose another name or pass --overwrite"
    )
    markdown_path.write_text("stale")
    assert write_protocol_report(report, tmp_path / "report", overwrite=True) == (markdown_path, json_path)
    assert markdown_path.read_text() == markdown

    # A second run scores the videos already generated instead of rendering them again.
    again = run_protocol(
        items,
        tmp_path / "report",
        landmarks=measured_landmarks,
        scorer=scorer,
        renderer=renderer,
        suffix=".mkv",
        setups=("SI",),
        references=("first",),
    )
    assert len(renderer.calls) == 12
    assert again.summaries[0].lipleak == first.lipleak and again.summaries[0].lsd is None


def test_pairing_is_by_name_and_mismatch_is_a_deterministic_derangement(tmp_path):
    videos, audios = tmp_path / "v", tmp_path / "a"
    videos.mkdir()
    audios.mkdir()
    for name in ("c", "a", "b"):
        (videos / f"{name}.mov").touch()
        (audios / f"{name}.wav").touch()
    (videos / "notes.txt").touch()
    items = pair_inputs(videos, audios)
    assert [(item.name, item.video.name, item.audio.name) for item in items] == [
        ("a", "a.mov", "a.wav"),
        ("b", "b.mov", "b.wav"),
        ("c", "c.mov", "c.wav"),
    ]
    assert mismatched_partners(3) == [1, 2, 0]
    plan = plan_generations(items, tmp_path / "out", setups=("XM",), references=("first",))
    assert [(g.item.name, g.driving_audio.name, g.scoring_audio.name) for g in plan] == [
        ("a", "b.wav", "b.wav"),
        ("b", "c.wav", "c.wav"),
        ("c", "a.wav", "a.wav"),
    ]
    assert plan == plan_generations(
        list(reversed(items))[::-1], tmp_path / "out", setups=("XM",), references=("first",)
    )
    silent = plan_generations(items, tmp_path / "out", setups=("SI",), references=("auto",))
    assert [g.driving_audio.name for g in silent] == ["a.silent.wav", "b.silent.wav", "c.silent.wav"]
    assert all(g.driving_audio.parent.name == "silence" and g.scoring_audio == g.item.audio for g in silent)
    assert silent[0].output == tmp_path / "out" / "videos" / "a.SI.auto.mov"


def test_pairing_errors_say_what_to_do(tmp_path):
    videos, audios = tmp_path / "v", tmp_path / "a"
    videos.mkdir()
    audios.mkdir()
    (videos / "a.mov").touch()
    with pytest.raises(InvalidParameterError, match="at least two"):
        pair_inputs(videos, audios)
    (videos / "b.mov").touch()
    (audios / "a.wav").touch()
    with pytest.raises(AudioError, match="no audio named like the video\\(s\\) b"):
        pair_inputs(videos, audios)
    with pytest.raises(InvalidParameterError, match="is not a folder"):
        pair_inputs(tmp_path / "missing", audios)
    (audios / "a.flac").touch()
    with pytest.raises(InvalidParameterError, match="share a name"):
        pair_inputs(videos, audios)
    with pytest.raises(InvalidParameterError, match="at least two videos"):
        mismatched_partners(1)


def test_lsd_formula_and_missing_setups():
    assert lip_sync_discrepancy(7.0, 6.5, 5.0, 8.0) == pytest.approx(0.5 * (2.0 + 1.5))
    summary = ReferenceSummary.from_rows("first", [])
    assert summary.lipleak is None and summary.lsd is None


def test_silent_only_plan_needs_no_audio(tmp_path):
    item = ProtocolItem("solo", tmp_path / "solo.mov")
    plan = plan_generations([item], tmp_path, setups=("SI",), references=("first",))
    assert len(plan) == 1 and plan[0].scoring_audio is None
    with pytest.raises(InvalidParameterError, match="own audio"):
        plan_generations([item], tmp_path, setups=("SI", "AM"), references=("first",))


def test_reports_obey_the_shared_output_check(tmp_path):
    report = ProtocolReport(rows=(), summaries=(), per_video=(), threshold=0.25)
    (tmp_path / "qc" / "report.json").mkdir(parents=True)
    with pytest.raises(InvalidParameterError) as refused:
        write_protocol_report(report, tmp_path / "qc", overwrite=True)
    json_path = tmp_path / "qc" / "report.json"
    assert str(refused.value) == (
        f"-o (JSON report) {json_path} is an existing folder, not a file name; name a file inside it, e.g. "
        f"{json_path / 'output.mov'}"
    )
    assert sorted(path.name for path in (tmp_path / "qc").iterdir()) == ["report.json"]
    # A new folder is created for the reports.
    markdown_path, _ = write_protocol_report(report, tmp_path / "new" / "qc")
    assert markdown_path == tmp_path / "new" / "qc" / "report.md" and markdown_path.read_text().startswith("# Lip")


def test_a_render_path_that_cannot_be_written_is_refused_before_the_first_render(dataset, tmp_path):
    videos, audios = dataset
    folder = tmp_path / "report"
    # The last render of the plan is in the way; the first renders and every silent audio could be written.
    blocked = folder / "videos" / "ben.XM.auto.mkv"
    blocked.mkdir(parents=True)
    renderer = DrawingRenderer()
    with pytest.raises(InvalidParameterError) as refused:
        run_protocol(
            pair_inputs(videos, audios),
            folder,
            landmarks=measured_landmarks,
            scorer=None,
            renderer=renderer,
            suffix=".mkv",
        )
    assert str(refused.value) == (
        f"-o (render 12 of 12) {blocked} is an existing folder, not a file name; name a file inside it, e.g. "
        f"{blocked / 'output.mov'}"
    )
    assert renderer.calls == [] and sorted(path.name for path in folder.iterdir()) == ["videos"]
