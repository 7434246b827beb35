"""`keydub timeline --cast`: each shot's characters synced, each to its own dub stem or to the mixed dub, on a
timeline of shots composed from the shared test media (two real people and a stylised face)."""

import dataclasses
import json
import wave

import numpy as np
import opentimelineio as otio
import pytest
from cast_fixtures import Side, compose_shot, dubbing_timeline, write_dialogue_wav
from otio_fixtures import copy_renderer
from queue_fixtures import FunctionEngine
from ray_fixtures import tiny_render_options
from tiny_models import TINY_FRAME_SIZE, save_tiny_weights

from keydub.core.analysis import AnalysisCache
from keydub.core.engine import Engine
from keydub.core.media import read_frames
from keydub.core.render.options import RenderOptions
from keydub.plugin.cast import FaceAnalyser, read_cast
from keydub.plugin.cli.main import main
from keydub.plugin.jobs import CastSpeaker
from keydub.plugin.qc_marker import qc_note
from keydub.plugin.store import JobState
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.executors import InProcessExecutor
from keydub.plugin.timeline.otio_file import read_timeline
from keydub.plugin.timeline.plan import PlanOptions


FRAMES = 15
SIDE = 320
# anna and bea are the cast; cole is in it under no name. Record frames: sh010 0-15, sh020 15-30, sh030 30-45,
# sh040 45-60.
SHOTS = {
    "sh010": [Side("anna", 0), Side("bea", 0)],
    "sh020": [Side("anna", 40), Side("bea", 40), Side("cole", 0)],
    "sh030": [Side("cole", 60)],
    "sh040": [Side("anna", 80)],
}
# Each character's dub track: a tone of its own under sh010, sh020 and sh040 (where bea is not on screen).
TONES = {"DX es ANNA": 220.0, "DX es BEA": 330.0}


@pytest.fixture(scope="module")
def timeline_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cast_timeline")
    shots = {name: (compose_shot(folder / f"{name}.mp4", sides, FRAMES), FRAMES) for name, sides in SHOTS.items()}
    mix = write_dialogue_wav(folder / "dx_es.wav", seconds=3)
    lines = {}
    for track, tone in TONES.items():
        wav = write_dialogue_wav(folder / f"{track.split()[-1].lower()}.wav", seconds=1.2, frequency=tone)
        lines[track] = [(wav, 0, 2 * FRAMES), (wav, 3 * FRAMES, FRAMES)]
    return dubbing_timeline(folder / "episode.otio", shots, mix, lines)


@pytest.fixture(scope="module")
def analyser(tmp_path_factory):
    return FaceAnalyser("dlib", cache=AnalysisCache(tmp_path_factory.mktemp("analysis")))


def write_cast(path, timeline_file, bea_clip="sh010", dub_tracks=True, consent=True):
    """Anna and Bea, each from a click on their side of a shot (Bea's shot and frame chosen by `bea_clip`)."""
    folder = timeline_file.parent
    bea_frame = 3 if bea_clip == "sh010" else 7

    def character(name, track, clip, frame, x):
        text = f'[[character]]\nname = "{name}"\n'
        text += f'dub_track = "{track}"\n' if dub_tracks else ""
        text += f'consent = "release {name.lower()}-01"\n' if consent else ""
        return (
            text + f'\n[[character.reference]]\nclip = "{folder / clip}.mp4"\nframe = {frame}\npoint = [{x}, 160.0]\n'
        )

    path.write_text(
        "version = 1\n\n"
        + character("Anna", "DX es ANNA", "sh010", 3, 160.0)
        + "\n"
        + character("Bea", "DX es BEA", bea_clip, bea_frame, 480.0)
    )
    return read_cast(path)


def side_tracks(analyser, shot_file) -> dict[str, int]:
    """The face track ids of a composed shot, by the person on each side (from where the boxes lie)."""
    sides = SHOTS[shot_file.stem]
    tracks, _ = analyser.analyse(shot_file)
    people = {}
    for track in tracks:
        box = track.box_at(track.first_frame + int(np.flatnonzero(track.present)[0]))
        people[sides[int((box[0] + box[2]) / 2) // SIDE].person] = track.track_id
    return people


def dominant_frequency(path) -> float:
    with wave.open(str(path)) as stream:
        rate = stream.getframerate()
        samples = np.frombuffer(stream.readframes(stream.getnframes()), "<i4").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def options(cast, **changes):
    return PlanOptions(
        dub_tracks=("DX es",),
        render_options=RenderOptions(landmark_backend="dlib", codec="ffv1"),
        cast=cast,
        **changes,
    )


def batch(timeline_file, out_dir, cast, analyser, engine, output=None):
    return render_timeline(
        timeline_file,
        out_dir,
        output or out_dir / "out.otio",
        options(cast),
        executor=InProcessExecutor(engine),
        face_analyser=analyser,
        overwrite=True,
    )


@pytest.mark.slow
def test_two_dub_tracks_give_each_face_its_own_stem_and_leave_the_third_face_alone(timeline_file, analyser, tmp_path):
    cast = write_cast(tmp_path / "cast.toml", timeline_file)
    engine = FunctionEngine(copy_renderer)

    run = batch(timeline_file, tmp_path / "renders", cast, analyser, engine)

    states = {outcome.name: outcome.state for outcome in run.outcomes}
    assert states == {
        "sh010": JobState.DONE,
        "sh020": JobState.DONE,
        "sh030": JobState.SKIPPED,
        "sh040": JobState.DONE,
    }
    requests = {request.video.stem: request for request in engine.requests}
    assert sorted(requests) == ["sh010", "sh020", "sh040"]
    for shot, request in requests.items():
        people = side_tracks(analyser, request.video)
        expected = {"anna": "Anna", "bea": "Bea"} if shot != "sh040" else {"anna": "Anna"}
        # Each character's face track carries its own stem (its tone), name and consent; cole's is in no request.
        assert {speaker.face.track_id: speaker.name for speaker in request.speakers} == {
            people[person]: name for person, name in expected.items()
        }
        for speaker in request.speakers:
            assert dominant_frequency(speaker.audio) == pytest.approx(TONES[f"DX es {speaker.name.upper()}"], abs=2)
            assert speaker.consent == f"release {speaker.name.lower()}-01"
            assert speaker.face.point is None
        assert not request.active_speaker
        if "cole" in people:
            assert people["cole"] not in {speaker.face.track_id for speaker in request.speakers}
    # Three people in sh020: cole's track is there and left out.
    assert len(side_tracks(analyser, requests["sh020"].video)) == 3

    by_name = {outcome.name: outcome for outcome in run.outcomes}
    assert by_name["sh030"].message.startswith("no character of the cast is in the shot (track 0 nearest ")
    assert by_name["sh040"].qc["cast_notes"] == [
        "Bea's dub on DX es BEA speaks under the shot, but Bea's face is not in it: not synced"
    ]
    # QC, markers and the output timeline name who was synced, with the distance.
    sh010 = by_name["sh010"].qc["speakers"]
    assert [(s["character"], s["dub"]) for s in sh010] == [("Anna", "DX es ANNA"), ("Bea", "DX es BEA")]
    assert all(s["distance"] == pytest.approx(0.0, abs=1e-4) for s in sh010)  # the references' own faces
    sh020 = by_name["sh020"].qc["speakers"]
    assert all(0 < s["distance"] < 0.45 for s in sh020), sh020
    output = read_timeline(tmp_path / "renders" / "out.otio")
    assert [c["name"] for c in output.metadata["keydub"]["cast"]["character"]] == ["Anna", "Bea"]
    new_track = next(track for track in output.video_tracks() if track.name.startswith("Keydub"))
    clips = {clip.metadata["keydub"]["source_clip"]: clip for clip in new_track if isinstance(clip, otio.schema.Clip)}
    assert sorted(clips) == ["sh010", "sh020", "sh040"]
    anna, bea = sh020
    note = clips["sh020"].markers[0].comment
    assert note.startswith(
        "AI-modified: lower face; "
        f"synced Anna (track {anna['track_id']}, distance {anna['distance']:.3f}, DX es ANNA), "
        f"Bea (track {bea['track_id']}, distance {bea['distance']:.3f}, DX es BEA); face coverage"
    )
    assert clips["sh040"].markers[0].comment.endswith("Bea's face is not in it: not synced")
    assert [dict(s) for s in clips["sh020"].markers[0].metadata["keydub"]["speakers"]] == sh020


@pytest.mark.slow
def test_a_new_reference_for_one_character_renders_only_that_characters_shots_again(timeline_file, analyser, tmp_path):
    engine = FunctionEngine(copy_renderer)
    first = batch(
        timeline_file, tmp_path / "renders", write_cast(tmp_path / "a.toml", timeline_file), analyser, engine
    )
    assert len(engine.requests) == 3

    # Bea is now referenced by a click on her face in sh020: the same face tracks match, at other distances.
    again = batch(
        timeline_file, tmp_path / "renders", write_cast(tmp_path / "b.toml", timeline_file, "sh020"), analyser, engine
    )

    before = {outcome.name: outcome.job_hash for outcome in first.outcomes}
    after = {outcome.name: outcome.job_hash for outcome in again.outcomes}
    assert before["sh030"] is None and after["sh030"] is None
    assert after["sh040"] == before["sh040"], "Anna's shot without Bea keeps its hash"
    assert after["sh010"] != before["sh010"] and after["sh020"] != before["sh020"]
    assert sorted(request.video.stem for request in engine.requests[3:]) == ["sh010", "sh020"]
    assert [outcome.was_rendered for outcome in again.outcomes] == [True, True, False, False]
    # The distances moved (Bea's reference is another frame of another shot) but are not what changed the hashes:
    # a job differing only in a distance hashes the same.
    distances = {o.name: [s["distance"] for s in o.qc["speakers"]] for o in again.outcomes if o.qc.get("speakers")}
    assert distances["sh020"][1] == pytest.approx(0.0, abs=1e-4) and distances["sh010"][1] > 0
    job = next(clip.job for clip in again.plan.clips if clip.name == "sh010")
    moved = dataclasses.replace(
        job, speakers=tuple(dataclasses.replace(s, distance=(s.distance or 0) + 0.2) for s in job.speakers)
    )
    assert moved.content_hash() == job.content_hash()
    renamed = dataclasses.replace(job, speakers=(dataclasses.replace(job.speakers[0], track_id=7), job.speakers[1]))
    assert renamed.content_hash() != job.content_hash()


@pytest.mark.slow
def test_characters_without_dub_tracks_follow_the_mixed_dub_where_they_speak(timeline_file, analyser, tmp_path):
    cast = write_cast(tmp_path / "cast.toml", timeline_file, dub_tracks=False, consent=False)
    engine = FunctionEngine(copy_renderer)

    run = batch(timeline_file, tmp_path / "renders", cast, analyser, engine)

    assert [outcome.state for outcome in run.outcomes].count(JobState.DONE) == 3
    for request in engine.requests:
        people = side_tracks(analyser, request.video)
        assert request.active_speaker and request.audio is not None
        assert all(speaker.audio is None and speaker.consent == "" for speaker in request.speakers)
        assert {speaker.face.track_id for speaker in request.speakers} == {
            people[person] for person in ("anna", "bea") if person in people
        }
        # The engine fills each speaker in with the mixed dub, the clip's one audio.
        assert {speaker.audio for speaker in request.face_speakers()} == {request.audio}
    sh040 = next(outcome for outcome in run.outcomes if outcome.name == "sh040")
    assert sh040.qc["speakers"][0]["dub"] == "mixed dub" and sh040.qc["cast_notes"] == []
    assert "synced Anna (track 0, distance " in qc_note(sh040.qc)


@pytest.mark.slow
def test_timeline_command_dry_run_lists_who_is_synced_and_who_is_missing(timeline_file, tmp_path, capsys):
    write_cast(tmp_path / "cast.toml", timeline_file)
    args = [str(timeline_file), "--dub-track", "DX es", "--cast", str(tmp_path / "cast.toml")]
    args += ["--landmark-backend", "dlib", "--out-dir", str(tmp_path / "renders"), "--dry-run"]

    assert main(["timeline", *args]) == 0

    out = capsys.readouterr().out
    assert "    synced Anna (track 0, distance 0.000, DX es ANNA), Bea (track 1, distance 0.000, DX es BEA)" in out
    assert "    Bea's dub on DX es BEA speaks under the shot, but Bea's face is not in it: not synced" in out
    assert "    Bea's stem DX es BEA: bea: 0.600 s from 0.600 s of bea.wav, at +0.000 s" in out
    assert "skipped" in out and "no character of the cast is in the shot" in out
    assert not (tmp_path / "renders").exists()

    assert main(["timeline", *args, "--json"]) == 0
    clips = {clip["name"]: clip for clip in json.loads(capsys.readouterr().out)["clips"]}
    assert [s["character"] for s in clips["sh020"]["qc"]["speakers"]] == ["Anna", "Bea"]


@pytest.mark.slow
def test_a_clip_with_its_own_landmark_backend_is_skipped_not_given_anothers_track_ids(
    timeline_file, analyser, tmp_path
):
    timeline = read_timeline(timeline_file)
    clip = next(clip for clip in timeline.find_clips() if clip.name == "sh040")
    clip.metadata["keydub"] = {"params": {"landmark_backend": "face-alignment"}}

    run = render_timeline(
        timeline,
        tmp_path / "renders",
        None,
        options(write_cast(tmp_path / "cast.toml", timeline_file)),
        face_analyser=analyser,
        base_dir=timeline_file.parent,
        dry_run=True,
    )

    outcomes = {outcome.name: outcome for outcome in run.outcomes}
    assert outcomes["sh040"].state is JobState.SKIPPED
    assert outcomes["sh040"].message == (
        "its landmark backend 'face-alignment' (metadata keydub.params) is not the batch's 'dlib', which the cast's "
        "faces are matched with; drop it from the clip's params"
    )
    assert outcomes["sh010"].state is JobState.PENDING and outcomes["sh020"].state is JobState.PENDING


def test_the_cast_flag_refuses_a_bad_cast_file_in_one_line(tmp_path, capsys):
    cast = tmp_path / "cast.toml"
    cast.write_text('[[character]]\nname = "Anna"\nconsent = 42\n')
    timeline = tmp_path / "t.otio"
    otio.adapters.write_to_file(otio.schema.Timeline(name="t"), str(timeline))

    status = main(["timeline", str(timeline), "--dub-track", "DX", "--cast", str(cast), "--dry-run"])

    assert status != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "character 'Anna' consent is 42; give a non-empty text" in err[0], err


def test_a_cast_speaker_is_the_engines_speaker():
    speaker = CastSpeaker("Anna", 3, "d" * 64, consent="release 7", dub_track="A3", distance=0.2)
    engine_speaker = speaker.render_speaker()
    assert (engine_speaker.face.track_id, engine_speaker.name, engine_speaker.consent) == (3, "Anna", "release 7")
    assert engine_speaker.audio is None
    assert speaker.hashed() == {"track_id": 3, "digest": "d" * 64, "audio": None}


@pytest.mark.slow
def test_a_timeline_renders_each_character_from_its_stem_and_leaves_the_stranger_bit_exact(timeline_file, tmp_path):
    weights = save_tiny_weights(tmp_path / "weights", TINY_FRAME_SIZE)
    cache = tmp_path / "cache"
    # The batch's face matching and the engine share one analysis cache: the faces are tracked once.
    analyser = FaceAnalyser("dlib", cache=AnalysisCache(cache / "analysis"))
    engine = Engine(cache_dir=cache)
    render_options = {**tiny_render_options(weights), "landmark_backend": "dlib"}
    plan_options = PlanOptions(
        dub_tracks=("DX es",),
        only=("sh020",),
        render_options=render_options,
        cast=write_cast(tmp_path / "cast.toml", timeline_file),
    )

    run = render_timeline(
        timeline_file,
        tmp_path / "renders",
        tmp_path / "out.otio",
        plan_options,
        executor=InProcessExecutor(engine),
        face_analyser=analyser,
    )

    (outcome,) = [outcome for outcome in run.outcomes if outcome.name == "sh020"]
    assert outcome.state is JobState.DONE, outcome.message
    job = next(clip.job for clip in run.plan.clips if clip.name == "sh020")
    source = np.stack(list(read_frames(job.source.path, job.start_frame, job.end_frame)))
    rendered = np.stack(list(read_frames(outcome.output)))
    assert rendered.shape == source.shape
    changed = (source != rendered).any(axis=(0, 3))  # (height, width): pixels changed in any frame
    sides = {side.person: changed[:, k * SIDE : (k + 1) * SIDE] for k, side in enumerate(SHOTS["sh020"])}
    # Both characters' lower faces are regenerated; cole, in no character, is the source to the bit.
    assert sides["anna"].sum() > 500 and sides["bea"].sum() > 500, {p: int(s.sum()) for p, s in sides.items()}
    assert not sides["cole"].any()
    assert not changed[: SIDE // 4].any(), "the foreheads are left alone"
    assert [s["character"] for s in outcome.qc["speakers"]] == ["Anna", "Bea"]


@pytest.mark.slow
def test_a_mixed_dub_timeline_syncs_only_the_character_who_speaks_in_the_original(tmp_path):
    # anna talks with her own audio (the shot's original dialogue) beside bea, who listens; one mixed dub.
    anna, bea = Side("anna", 0), Side("bea", 0)
    shot = compose_shot(tmp_path / "sh110.mp4", [anna, bea], 50, audio_from=anna)
    timeline_file = dubbing_timeline(
        tmp_path / "talk.otio", {"sh110": (shot, 50)}, write_dialogue_wav(tmp_path / "dx.wav", seconds=2)
    )
    (tmp_path / "cast.toml").write_text(
        "".join(
            f'[[character]]\nname = "{name}"\n[[character.reference]]\nclip = "{shot}"\nframe = 3\n'
            f"point = [{x}, 160.0]\n"
            for name, x in (("Anna", 160.0), ("Bea", 480.0))
        )
    )
    weights = save_tiny_weights(tmp_path / "weights", TINY_FRAME_SIZE)
    cache = tmp_path / "cache"
    engine = Engine(cache_dir=cache)
    plan_options = PlanOptions(
        dub_tracks=("DX es",),
        render_options={**tiny_render_options(weights), "landmark_backend": "dlib"},
        cast=read_cast(tmp_path / "cast.toml"),
    )

    run = render_timeline(
        timeline_file,
        tmp_path / "renders",
        tmp_path / "out.otio",
        plan_options,
        executor=InProcessExecutor(engine),
        face_analyser=FaceAnalyser("dlib", cache=AnalysisCache(cache / "analysis")),
    )

    (outcome,) = run.outcomes
    assert outcome.state is JobState.DONE, outcome.message
    synced = [(s["character"], s["dub"]) for s in outcome.qc["speakers"]]
    assert synced == [("Anna", "mixed dub"), ("Bea", "mixed dub")]
    job = run.plan.clips[0].job
    assert job.active_speaker and all(speaker.audio_file is None for speaker in job.speakers)
    source = np.stack(list(read_frames(job.source.path, job.start_frame, job.end_frame)))
    rendered = np.stack(list(read_frames(outcome.output)))
    changed = (source != rendered).any(axis=(2, 3))  # (frames, width)
    anna_frames = changed[:, :SIDE].any(axis=1)
    # anna, who speaks in the original from about frame 5 on, is regenerated there (the silence before it is
    # the source: 5 frames passed through); bea, who only listens, is the source on every frame.
    assert anna_frames.sum() >= 40 and not anna_frames[:4].any(), anna_frames.astype(int)
    assert outcome.qc["passed_through"] == 50 - anna_frames.sum()
    assert outcome.qc["unsure_turns"] == [], "every stretch of her speech was sure to be hers"
    assert not changed[:, SIDE:].any()
