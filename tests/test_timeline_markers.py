"""QC markers on the new clips of `keydub timeline`'s output: job id and figures in `metadata["keydub"]`, the figures
as the note (also where Resolve's importer reads it), one frame at the clip's first source frame."""

import dataclasses
from pathlib import Path

import opentimelineio as otio
from otio_fixtures import RATE, copy_renderer, write_three_clip_timeline
from queue_fixtures import in_process

from keydub.core.render.request import RenderResult
from keydub.plugin.qc_marker import qc_colour, qc_figures, qc_note
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions
from keydub.plugin.timeline.timecode import to_frames
from keydub.plugin.worker.drain import render_qc


OPTIONS = PlanOptions(dub_tracks=("DX es-419",), handles=2, render_options={"codec": "ffv1"})


def renderer_with_qc(request, progress=None):
    """The copy stand-in, reporting what the engine reports: face coverage, open-mouth share, passed-through
    frames (the second clip lost its face on one frame)."""
    result = copy_renderer(request, progress)
    lost = ((request.start_frame + 1, "no face"),) if request.start_frame == 28 else ()
    report = {**result.report, "face": {"coverage": 0.9 if lost else 1.0}, "mouth": {"open_share": 0.25}}
    return dataclasses.replace(result, passed_through=lost, report=report)


def test_every_new_clip_gets_a_qc_marker_with_the_job_and_its_figures(tmp_path):
    fixture = write_three_clip_timeline(tmp_path, durations=(4, 3, 5))
    run = render_timeline(
        fixture.path, tmp_path / "renders", tmp_path / "out.otio", OPTIONS, executor=in_process(renderer_with_qc)
    )

    output = read_timeline(tmp_path / "out.otio")
    news = list(output.tracks[1].find_clips())
    assert len(news) == 3
    for clip, planned in zip(news, run.plan.clips, strict=True):
        (marker,) = clip.markers
        job = planned.job
        passed = 1 if planned.name == "sh020" else 0
        figures = marker.metadata["keydub"]
        assert figures["job_id"] == job.job_id == clip.metadata["keydub"]["job_id"]
        assert figures["frames"] == job.frame_count and figures["passed_through"] == passed
        assert figures["face_coverage"] == (0.9 if passed else 1.0) and figures["open_mouth_share"] == 0.25
        note = (
            f"AI-modified: lower face; face coverage {'90.0' if passed else '100.0'}%"
            f", open mouth 25.0%, {passed} of {job.frame_count} "
            "frames passed through"
        )
        assert marker.comment == note and marker.metadata["Resolve_OTIO"]["Note"] == note
        assert marker.color == ("YELLOW" if passed else "GREEN") and marker.name == "Keydub"
        # On the clip's first frame, in its source time (where OTIO puts a clip's markers).
        assert marker.marked_range.start_time == clip.source_range.start_time
        assert to_frames(marker.marked_range.duration, RATE, "marker") == 1


def test_a_generic_timeline_gets_markers_without_resolve_metadata(tmp_path):
    fixture = write_three_clip_timeline(tmp_path, durations=(4, 3, 5))
    timeline = read_timeline(fixture.path)
    del timeline.metadata["Resolve_OTIO"]
    run = render_timeline(
        timeline, tmp_path / "renders", None, OPTIONS, executor=in_process(copy_renderer), base_dir=tmp_path
    )
    markers = [clip.markers[0] for clip in run.timeline.tracks[1].find_clips()]
    assert len(markers) == 3 and all("Resolve_OTIO" not in marker.metadata for marker in markers)
    # A render that reports no face figures (the stand-in) says so instead of inventing them.
    assert all(
        marker.comment.startswith("AI-modified: lower face; face coverage not measured, open mouth not measured")
        for marker in markers
    )
    assert isinstance(otio.adapters.write_to_string(run.timeline), str)


def test_the_note_and_colour_follow_the_figures():
    qc = {"frames": 26, "passed_through": 0, "face_coverage": 1.0, "open_mouth_share": 0.125, "renderer": "x"}
    assert qc_figures(qc) == {"frames": 26, "passed_through": 0, "face_coverage": 1.0, "open_mouth_share": 0.125}
    assert (
        qc_note(qc) == "AI-modified: lower face; face coverage 100.0%, open mouth 12.5%, 0 of 26 frames passed through"
    )
    assert qc_colour(qc) == "Green" and qc_colour({**qc, "passed_through": 3}) == "Yellow"
    assert qc_figures({"recovered": True}) == {
        "frames": 0,
        "passed_through": 0,
        "face_coverage": None,
        "open_mouth_share": None,
    }


def test_the_note_names_who_was_synced_and_the_speech_left_untouched():
    report = {
        "face": {"coverage": 0.8},
        "mouth": {"open_share": 0.25},
        "active_speaker": {
            "turns": [
                {"range": [100, 140], "track_id": 0, "confidence": 0.71, "sure": True, "scores": {}},
                {"range": [150, 170], "track_id": 1, "confidence": 0.31, "sure": False, "scores": {}},
            ]
        },
    }
    result = RenderResult(output=Path("x.mkv"), frame_count=80, passed_through=((150, "unsure"),), report=report)
    qc = {
        **render_qc(result),
        "speakers": [
            {"character": "Anna", "track_id": 0, "distance": 0.3152, "dub": "mixed dub"},
            {"character": "Bob", "track_id": 1, "distance": None, "dub": "mixed dub"},
        ],
        "cast_notes": ["Cleo's dub on A4 speaks under the shot, but Cleo's face is not in it: not synced"],
    }

    assert qc["unsure_turns"] == [{"range": [150, 170], "confidence": 0.31}]
    assert qc_note(qc) == (
        "AI-modified: lower face; "
        "synced Anna (track 0, distance 0.315, mixed dub), Bob (track 1, distance unknown, mixed dub); "
        "face coverage 80.0%, open mouth 25.0%, 1 of 80 frames passed through; "
        "Cleo's dub on A4 speaks under the shot, but Cleo's face is not in it: not synced; "
        "source frames 150-169 left untouched: no face is sure to speak them (confidence 0.31)"
    )
    assert qc_figures(qc)["speakers"][1]["character"] == "Bob"
    assert "unsure_turns" not in render_qc(dataclasses.replace(result, report={}))
