"""The panel's cast editor on shots composed from the shared test media: two characters named and clicked once
each, who is who in another clip, a shot's override, and the cast kept with the folder and in a cast.toml."""

import json

import numpy as np
import opentimelineio as otio
import pytest
from cast_fixtures import Side, compose_shot, dubbing_timeline, write_dialogue_wav
from conftest import testdata_file as shared_file

from keydub.core.errors import InvalidParameterError
from keydub.core.media.audio import load_audio
from keydub.core.render.request import FaceChoice, Speaker
from keydub.plugin.cast import DialogueClip, FaceMatch, ShotCast, read_cast
from keydub.plugin.jobs import ClipJob
from keydub.plugin.panel.analysis import analyse_faces
from keydub.plugin.panel.cast import CastEditor, CastMatches
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.events import CastChanged, CastMatched
from keydub.plugin.panel.session import OpenedSource, SessionStore


FRAMES = 12
# Anna and Bea side by side; then the two again, sides swapped, at other crops, sizes and frames; then a stranger;
# then Anna twice, side by side (one of them cannot be her).
SHOTS = {
    "sh010": [Side("anna", 0), Side("bea", 0)],
    "sh020": [Side("bea", 300, crop=3.2, size=280), Side("anna", 150, crop=1.8, size=360)],
    "sh030": [Side("cole", 0)],
    "sh040": [Side("anna", 40, crop=2.2, size=300), Side("anna", 200, crop=3.0, size=300)],
}
DUB_TRACK = "DX es"


@pytest.fixture(scope="module")
def two_people_timeline(tmp_path_factory):
    folder = tmp_path_factory.mktemp("panel-cast")
    shots = {name: (compose_shot(folder / f"{name}.mp4", sides, FRAMES), FRAMES) for name, sides in SHOTS.items()}
    return dubbing_timeline(folder / "episode.otio", shots, write_dialogue_wav(folder / "dx_es.wav", seconds=3))


def open_folder(timeline, out_dir) -> tuple[PanelController, CastEditor]:
    controller = PanelController(render_options={"landmark_backend": "dlib"}, handles=0)
    editor = CastEditor(controller)
    controller.open_timeline(timeline, (DUB_TRACK,), out_dir)
    return controller, editor


def people_by_track(controller: PanelController, clip_name: str) -> dict[int, str]:
    """Who each face track of a composed shot is, from where its box lies (the sides are placed left to right)."""
    session = next(s for s in controller.sessions if s.name == clip_name)
    analysis = analyse_faces(session.video, session.start_frame, session.end_frame, "dlib")
    people = {}
    for track in analysis.tracks:
        box = track.boxes[int(track.present.argmax())]
        centre_x, left = (box[0] + box[2]) / 2, 0
        for side in SHOTS[clip_name]:
            if left <= centre_x < left + side.size:
                people[track.track_id] = side.person
            left += side.size
    return people


def clip_id(controller: PanelController, name: str) -> str:
    return next(s.clip_id for s in controller.sessions if s.name == name)


def name_and_click_both(controller: PanelController, editor: CastEditor) -> None:
    """Anna and Bea, each clicked once on frame 5 of the first shot (the centres of its two sides)."""
    first = clip_id(controller, "sh010")
    assert editor.add_character() == "Character 1"
    editor.rename_character("Character 1", "Anna")
    editor.add_character("Bea")
    editor.add_reference("Anna", first, (160.0, 150.0), 5)
    editor.add_reference("Bea", first, (480.0, 150.0), 5)


@pytest.mark.slow
def test_two_characters_clicked_once_each_name_the_faces_of_another_clip(two_people_timeline, tmp_path):
    controller, editor = open_folder(two_people_timeline, tmp_path / "out")
    events = []
    editor.register_event_callback(CastChanged, events.append)
    editor.register_event_callback(CastMatched, events.append)
    name_and_click_both(controller, editor)
    editor.set_dub_track("Anna", DUB_TRACK)
    assert editor.dub_track_choices() == [DUB_TRACK]
    assert [type(event) for event in events] == [CastChanged] * 6

    matches = editor.matching().run()
    assert editor.apply(matches) and type(events[-1]) is CastMatched
    assert set(matches.shots) == {s.clip_id for s in controller.sessions} and matches.match_distance == 0.6

    second = editor.labels(clip_id(controller, "sh020"))
    people = people_by_track(controller, "sh020")
    assert sorted(people.values()) == ["anna", "bea"] and set(second) == set(people)
    for track_id, person in people.items():
        label = second[track_id]
        assert label.character == person.capitalize() and label.distance < 0.45
        assert not label.is_flagged and label.text() == f"{person.capitalize()} {label.distance:.2f}"
    # The clicked faces themselves are their own references.
    first = editor.labels(clip_id(controller, "sh010"))
    assert sorted(label.distance for label in first.values()) == pytest.approx([0.0, 0.0], abs=1e-6)
    # The stranger is nobody, and far from both.
    (stranger,) = editor.labels(clip_id(controller, "sh030")).values()
    assert stranger.character is None and stranger.distance > 0.65 and stranger.text() == f"face {stranger.track_id}"

    # Anna twice in one shot: the closer face keeps the name, the other is flagged as a conflict.
    twice = sorted(editor.labels(clip_id(controller, "sh040")).values(), key=lambda label: label.distance)
    assert [label.character for label in twice] == ["Anna", None]
    assert twice[1].conflict and twice[1].is_flagged and twice[1].text() == f"face {twice[1].track_id}: Anna twice"

    # A matching of a cast that changed since it was gathered is dropped.
    editor.add_character("Cole")
    assert not editor.apply(matches) and editor.matches is matches


@pytest.mark.slow
def test_an_override_in_one_shot_wins_over_the_matching_and_survives_rematching(two_people_timeline, tmp_path):
    controller, editor = open_folder(two_people_timeline, tmp_path / "out")
    name_and_click_both(controller, editor)
    editor.apply(editor.matching().run())
    second = clip_id(controller, "sh020")
    tracks = {person: track_id for track_id, person in people_by_track(controller, "sh020").items()}

    editor.set_override(second, tracks["bea"], "Anna")

    labels = editor.labels(second)
    assert labels[tracks["bea"]].character == "Anna" and labels[tracks["bea"]].overridden
    assert labels[tracks["bea"]].text() == "Anna (set)"
    # The face the matching took for Anna loses the name to the override, flagged.
    assert labels[tracks["anna"]].character is None and labels[tracks["anna"]].conflict
    assert labels[tracks["anna"]].text() == f"face {tracks['anna']}: Anna twice"
    # Only that shot: Bea is still Bea in the first.
    assert sorted(label.character for label in editor.labels(clip_id(controller, "sh010")).values()) == ["Anna", "Bea"]

    # Re-matched after another change (a second reference for Bea), renamed: the override stays, under the new name.
    editor.add_reference("Bea", second, (140.0, 140.0), 3)
    editor.rename_character("Anna", "Ann")
    # Before the next matching, the faces the matching named Anna are nobody's (no stale name is drawn).
    assert {label.character for label in editor.labels(clip_id(controller, "sh010")).values()} == {None, "Bea"}
    editor.apply(editor.matching().run())
    assert editor.labels(second)[tracks["bea"]].text() == "Ann (set)"

    editor.set_override(second, tracks["anna"], None)
    assert editor.labels(second)[tracks["anna"]].text() == "nobody (set)"
    editor.clear_override(second, tracks["bea"])
    assert editor.labels(second)[tracks["bea"]].character == "Bea"
    with pytest.raises(InvalidParameterError, match="the cast has no character 'Dan'"):
        editor.set_override(second, tracks["bea"], "Dan")


def test_the_cast_and_overrides_come_back_with_the_folder_and_through_a_cast_toml(tmp_path):
    from otio_fixtures import write_dubbing_timeline

    fixture = write_dubbing_timeline(tmp_path)
    controller = PanelController(handles=0)
    editor = CastEditor(controller)
    controller.open_timeline(fixture.path, ("DX es-419",), tmp_path / "out")
    first, video = controller.sessions[0].clip_id, controller.sessions[0].video
    editor.add_character("Anna")
    editor.add_character("Bob")
    editor.set_dub_track("Bob", "DX es-419")
    editor.add_reference("Anna", first, (40.5, 30.0), 2)
    editor.set_override(first, 1, "Bob")
    editor.set_override(first, 2, None)
    with pytest.raises(InvalidParameterError, match="already has a character called 'anna'"):
        editor.add_character("anna")

    reopened = PanelController(handles=0)
    restored = CastEditor(reopened)
    reopened.open_timeline(fixture.path, ("DX es-419",), tmp_path / "out")
    assert restored.cast == editor.cast and restored.overrides == {first: {1: "Bob", 2: None}}
    assert restored.character("Anna").references[0].clip == video
    assert restored.character("Bob").dub_track == "DX es-419"

    written = restored.save_cast_file(tmp_path / "cast.toml")
    assert read_cast(written) == editor.cast
    assert 'dub_track = "DX es-419"' in written.read_text()
    restored.remove_character("Bob")
    assert restored.overrides == {first: {2: None}}
    restored.open_cast_file(written)
    assert restored.names == ["Anna", "Bob"] and restored.overrides == {first: {2: None}}

    # Another source opened in the same folder keeps the cast (a show's characters) but not the shots' overrides.
    store = SessionStore(tmp_path / "out")
    assert store.load_cast(reopened.opened.source) == (restored.cast, {first: {2: None}})
    assert store.load_cast(OpenedSource(timeline=tmp_path / "other.otio", dub_tracks=("DX",))) == (restored.cast, {})


@pytest.mark.slow
def test_faces_of_characters_with_dub_tracks_become_the_jobs_speakers_with_their_own_stems(
    two_people_timeline, tmp_path
):
    # The same timeline with Anna's own dub on a second track: a real line of speech, not the shared tone.
    timeline = otio.adapters.read_from_file(str(two_people_timeline))
    anna_line = otio.schema.Track(name="DX es ANNA", kind=otio.schema.TrackKind.Audio)
    anna_line.append(
        otio.schema.Clip(
            name="anna",
            media_reference=otio.schema.ExternalReference(target_url=str(shared_file("speech_16k_mono_a.wav"))),
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, 25), otio.opentime.RationalTime(len(SHOTS) * FRAMES, 25)
            ),
        )
    )
    timeline.tracks.append(anna_line)
    path = tmp_path / "two_dubs.otio"
    otio.adapters.write_to_file(timeline, str(path))
    controller, editor = open_folder(path, tmp_path / "out")
    second = clip_id(controller, "sh020")
    one_face_hash = controller.job_hash(second)
    name_and_click_both(controller, editor)
    editor.apply(editor.matching().run())
    assert controller.job(second, write_audio=False).speakers == () and controller.job_hash(second) == one_face_hash

    editor.set_dub_track("Anna", "DX es ANNA")
    # Her stem is planned with the next matching, on its thread; till then she is no speaker.
    assert controller.job(second, write_audio=False).speakers == ()
    editor.apply(editor.matching().run())
    tracks = {person: track_id for track_id, person in people_by_track(controller, "sh020").items()}
    job = controller.job(second, write_audio=False)
    (anna,) = job.speakers
    assert anna.track_id == tracks["anna"] and anna.character == "Anna" and anna.dub_track == "DX es ANNA"
    assert anna.audio_file != job.audio_file and not anna.audio_file.exists()
    assert anna.audio_sha256 == anna.audio_file.stem and anna.distance < 0.6
    assert job.render_request(tmp_path / "out.mov").speakers == (
        Speaker(FaceChoice(track_id=tracks["anna"]), anna.audio_file, name="Anna"),
    )
    assert ClipJob.from_dict(json.loads(json.dumps(job.to_dict()))) == job  # as the queue stores it
    assert controller.job_hash(second) != one_face_hash

    # Bea speaks the main dub track; the stems are written with the clip's dub, off the caller's thread.
    editor.set_dub_track("Bea", DUB_TRACK)
    editor.apply(editor.matching().run())
    job = controller.job(second, write_audio=False)
    assert [(s.character, s.track_id) for s in job.speakers] == [
        (name, tracks[name.lower()]) for name in sorted(["Anna", "Bea"], key=lambda n: tracks[n.lower()])
    ]
    assert {s.character: s.audio_file for s in job.speakers}["Bea"] == job.audio_file
    controller.dub_audio_write([second]).run()
    stem = load_audio(anna.audio_file, 16_000)
    dub = load_audio(job.audio_file, 16_000)
    assert len(stem) == len(dub) == FRAMES * 16_000 // 25 and np.abs(stem - dub).max() > 0.1
    # A face corrected to nobody is no speaker.
    editor.set_override(second, tracks["bea"], None)
    assert [s.character for s in controller.job(second, write_audio=False).speakers] == ["Anna"]
    # A dub track the timeline lacks (a cast.toml from another show) is named, and its character is no speaker.
    editor.set_dub_track("Anna", "DX de ANNA")
    matches = editor.matching().run()
    assert matches.problems == (
        "dub track 'DX de ANNA': the timeline has no audio track named 'DX de ANNA'; audio tracks: 'DX es', "
        "'DX es ANNA'",
    )
    editor.apply(matches)
    assert controller.job(second, write_audio=False).speakers == ()


def test_labels_flag_matches_close_to_the_match_distance_and_conflicts(tmp_path):
    from otio_fixtures import write_dubbing_timeline

    fixture = write_dubbing_timeline(tmp_path)
    controller = PanelController(handles=0)
    editor = CastEditor(controller)
    controller.open_timeline(fixture.path, ("DX es-419",), tmp_path / "out")
    session = controller.sessions[0]
    editor.add_character("Anna")
    editor.add_character("Bea")
    clip = DialogueClip(session.clip_id, session.name, session.video, session.start_frame, session.end_frame, 0, 25)
    faces = (
        FaceMatch(0, (0, 10), "Anna", 0.20, "Anna"),
        FaceMatch(1, (0, 10), "Bea", 0.52, "Bea"),  # 0.52 >= 0.85 x 0.6
        FaceMatch(2, (0, 10), None, 0.40, "Anna", conflict=True),
        FaceMatch(3, (0, 10), None, 0.75, "Bea"),
    )
    assert editor.apply(CastMatches(editor.cast, {session.clip_id: ShotCast(clip, faces)}, 0.6, 0.01))

    labels = editor.labels(session.clip_id)
    assert [label.text() for label in labels.values()] == ["Anna 0.20", "Bea? 0.52", "face 2: Anna twice", "face 3"]
    assert [label.is_flagged for label in labels.values()] == [False, True, True, False]
    # Bea removed before the next matching: her faces are nobody's, unflagged.
    editor.remove_character("Bea")
    assert [label.text() for label in editor.labels(session.clip_id).values()] == [
        "Anna 0.20",
        "face 1",
        "face 2: Anna twice",
        "face 3",
    ]
