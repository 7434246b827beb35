"""`keydub cast suggest` and `keydub cast show` on a timeline of shots composed from the shared test media."""

import json
import re
from fractions import Fraction

import cv2
import numpy as np
import pytest
from cast_fixtures import Side, compose_shot, dubbing_timeline, person_frames, write_dialogue_wav

from keydub.core.analysis import AnalysisCache
from keydub.core.faces import FaceTrack, TrackEmbedding
from keydub.plugin.cast import (
    ClipFace,
    DialogueClip,
    FaceAnalyser,
    TimelineFaces,
    dialogue_clips,
    match_cast,
    read_cast,
    suggest_cast,
)
from keydub.plugin.cli.main import main
from keydub.plugin.timeline import read_timeline


FRAMES = 15
# Four shots; each person is in two of them, anna at two different crops, sizes and frame ranges.
SHOTS = {
    "sh010": [Side("anna", 0), Side("bea", 0)],
    "sh020": [Side("cole", 0)],
    "sh030": [Side("anna", 150, crop=1.8, size=360)],
    "sh040": [Side("bea", 300, crop=3.2, size=280), Side("cole", 120, crop=2.0, size=360)],
}


@pytest.fixture(scope="module")
def cast_timeline(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cast")
    shots = {name: (compose_shot(folder / f"{name}.mp4", sides, FRAMES), FRAMES) for name, sides in SHOTS.items()}
    wav = write_dialogue_wav(folder / "dx_es.wav", seconds=4)
    return dubbing_timeline(folder / "episode.otio", shots, wav)


def person_of(face) -> str:
    """Who a face of a composed shot is, from where its box lies (the sides are placed left to right)."""
    sides = SHOTS[face.clip.name]
    frame, box = face.best_view()
    centre_x = (box[0] + box[2]) / 2
    left = 0
    for side in sides:
        if left <= centre_x < left + side.size:
            return side.person
        left += side.size
    raise AssertionError(f"face at x={centre_x} lies in no side of {face.clip.name}")


@pytest.mark.slow
def test_suggest_gives_one_cluster_per_person_across_crops_and_ranges(cast_timeline):
    clips, skipped = dialogue_clips(read_timeline(cast_timeline), cast_timeline.parent)
    assert [clip.name for clip in clips] == list(SHOTS) and skipped == []
    faces = FaceAnalyser("dlib", cache=AnalysisCache()).timeline_faces(clips)
    assert len(faces.faces) == 6 and all(face.embedding is not None for face in faces.faces)

    suggestion = suggest_cast(faces)

    clusters = [sorted((face.clip.name, person_of(face)) for face in members) for members in suggestion.clusters]
    assert sorted(clusters) == [
        [("sh010", "anna"), ("sh030", "anna")],
        [("sh010", "bea"), ("sh040", "bea")],
        [("sh020", "cole"), ("sh040", "cole")],
    ]
    # The figures behind it: every pair of one person is under dlib's 0.6, every pair of two people above it.
    same, different = [], []
    for i, a in enumerate(faces.faces):
        for b in faces.faces[:i]:
            (same if person_of(a) == person_of(b) else different).append(a.embedding.distance(b.embedding))
    assert max(same) < 0.45 and min(different) > 0.65, (sorted(same), sorted(different))


@pytest.mark.slow
def test_suggest_command_writes_a_cast_and_a_contact_sheet_row_per_identity(cast_timeline, tmp_path, capsys):
    cast_file = tmp_path / "cast.toml"

    status = main(["cast", "suggest", str(cast_timeline), "-o", str(cast_file), "--backend", "dlib", "--json"])

    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert [len(c["faces"]) for c in result["characters"]] == [2, 2, 2]
    cast = read_cast(cast_file)
    assert [c.name for c in cast.characters] == ["Character 1", "Character 2", "Character 3"]
    assert all(c.dub_track is None and len(c.references) == 2 for c in cast.characters)
    sheet = cv2.imread(result["contact_sheet"])
    assert result["contact_sheet"] == str(tmp_path / "cast_faces.png")
    # One row of 112-pixel thumbnails per identity (112 + 2 x 8 margin + 16 for the clip names).
    assert sheet.shape[0] == 3 * (112 + 16 + 16)
    # Each row holds two thumbnails (non-background pixels) and then nothing.
    first_row = sheet[8:120]
    thumbnails = first_row[:, 200 : 200 + 3 * 120].reshape(112, 3, 120, 3)[:, :, :112]
    assert [bool((thumbnails[:, k] != 32).any()) for k in range(3)] == [True, True, False]

    # The suggested cast read back finds each character in its two clips, with its references' own faces at 0.
    status = main(["cast", "show", str(cast_file), str(cast_timeline), "--backend", "dlib", "--json"])
    assert status == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["match_distance"] == 0.6 and shown["unmatched"] == []
    for character in shown["characters"]:
        assert len(character["matches"]) == 2
        assert all(match["distance"] < 0.45 for match in character["matches"])
        assert min(match["distance"] for match in character["matches"]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_show_names_the_renamed_characters_and_leaves_strangers_unmatched(cast_timeline, tmp_path, capsys):
    # Only anna, from a picture of her face (a frame of her clip, not one of the shots'), and bea from a click.
    picture = tmp_path / "anna.png"
    frames = person_frames(Side("anna", 220, crop=3.0, size=400), 1)
    cv2.imwrite(str(picture), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    shots = {clip.name: clip for clip in dialogue_clips(read_timeline(cast_timeline), cast_timeline.parent)[0]}
    (tmp_path / "cast.toml").write_text(
        'version = 1\n\n[[character]]\nname = "Anna"\ndub_track = "DX es ANNA"\n\n[[character.reference]]\n'
        'image = "anna.png"\n\n[[character]]\nname = "Bea"\n\n[[character.reference]]\n'
        f'clip = "{shots["sh010"].video}"\nframe = 3\npoint = [480.0, 160.0]\n'
    )

    assert main(["cast", "show", str(tmp_path / "cast.toml"), str(cast_timeline), "--backend", "dlib"]) == 0

    lines = capsys.readouterr().out.splitlines()
    clips = [match.group(1) if (match := re.search(r" (sh\d+): ", line)) else None for line in lines]
    assert lines[0] == "Anna (DX es ANNA, 1 reference faces)"
    assert clips[1:3] == ["sh010", "sh030"]
    assert lines[3] == "Bea (no dub track, 1 reference faces)"
    assert clips[4:6] == ["sh010", "sh040"]
    assert lines[6] == "Faces that match no character (distance 0.6 or more):"
    # cole, in two shots, is in the cast under no name.
    assert sorted(clips[7:]) == ["sh020", "sh040"] and all("nearest" in line for line in lines[7:])
    distances = [float(line.rsplit("distance ", 1)[1]) for line in lines[1:3] + lines[4:6]]
    assert all(d < 0.6 for d in distances), lines


def test_two_faces_on_screen_together_are_never_one_character(tmp_path):
    clip = DialogueClip("V1@00:00:00:00", "sh010", tmp_path / "a.mov", 0, 20, 0, Fraction(25))
    later = DialogueClip("V1@00:00:00:20", "sh020", tmp_path / "b.mov", 0, 20, 20, Fraction(25))

    def face(on: DialogueClip, track_id: int, first: int, vector: list[float]) -> ClipFace:
        track = FaceTrack(track_id, first, np.zeros((10, 68, 2), np.float32), np.ones(10, bool), np.zeros((10, 4)))
        embedding = TrackEmbedding(track_id, "dlib-resnet", np.array(vector, np.float32), (first,))
        return ClipFace(on, track, embedding)

    faces = TimelineFaces(
        clips=(clip, later),
        faces=(
            face(clip, 0, 0, [0.1, 0.0]),  # Anna, closest
            face(clip, 1, 5, [0.3, 0.0]),  # also near Anna, on screen with track 0 (frames 5-14 against 0-9)
            face(clip, 2, 10, [0.0, 2.0]),  # Bob
            face(later, 0, 0, [0.35, 0.0]),  # Anna again, alone in the next shot
        ),
        skipped=(),
        recognition="dlib-resnet",
        same_person_distance=0.6,
    )
    references = {"Anna": np.array([[0.0, 0.0]]), "Bob": np.array([[0.0, 2.1], [5.0, 5.0]]), "Cleo": np.zeros((0, 2))}

    first, second = match_cast(faces, references)

    assert [(m.track_id, m.character, m.conflict) for m in first.faces] == [
        (0, "Anna", False),
        (1, None, True),
        (2, "Bob", False),
    ]
    assert first.faces[1].nearest == "Anna" and first.faces[1].distance == pytest.approx(0.3)
    assert first.face_of("Anna").track_id == 0 and first.face_of("Cleo") is None
    assert second.face_of("Anna").distance == pytest.approx(0.35) and second.face_of("Bob") is None
    assert match_cast(faces, references, match_distance=0.2)[1].faces[0].character is None
