"""Who speaks: Silero voice activity per frame, mouth articulation, turns and their confidence, on synthetic faces
and on shots composed from the shared media (the talking clip with its own audio beside another person)."""

import json
from fractions import Fraction

import numpy as np
import pytest
from cast_fixtures import Side, compose_shot
from face_fixtures import template_landmarks

from keydub.core.analysis import AnalysisCache, analyse_clip
from keydub.core.audio.vad import SileroVoiceActivity, frame_voice_activity, voice_activity
from keydub.core.errors import NoAudioStreamError
from keydub.core.faces import FaceTrack
from keydub.core.faces.active_speaker import (
    STILL_MOUTH,
    UNSURE_BELOW,
    find_active_speakers,
    mouth_articulation,
    speech_segments,
)
from keydub.core.speakers import find_clip_speakers
from keydub.plugin.cli.main import main


RATE = Fraction(25)


def face_track(track_id: int, x: float, openings: np.ndarray) -> FaceTrack:
    """A frontal face at `x` whose inner lips are `openings[i]` face sizes apart on frame i."""
    landmarks = np.stack([template_landmarks(x, 100, 80, mouth_open=float(o)) for o in openings])
    boxes = np.tile(np.array([x - 40, 60, x + 40, 150], np.float32), (len(openings), 1))
    return FaceTrack(track_id, 0, landmarks, np.ones(len(openings), bool), boxes)


def talking(frames: int, seed: int) -> np.ndarray:
    """Mouth openings of someone talking: a new opening every two or three frames."""
    return np.repeat(np.random.default_rng(seed).uniform(0.0, 0.06, frames // 2 + 1), 2)[:frames]


def test_frames_take_the_mean_of_the_vad_windows_centred_in_them():
    # 32 ms windows centred at 16, 48, 80, 112, 144 ms; 40 ms frames: frame 2 ([80, 120) ms) holds two centres.
    probabilities = np.array([1.0, 0.0, 0.25, 0.75, 1.0])
    assert frame_voice_activity(probabilities, 4, RATE).tolist() == [1.0, 0.0, 0.5, 1.0]
    # 60 fps: frames of 16.7 ms; one without a centre takes its nearest window.
    assert frame_voice_activity(probabilities[:2], 4, Fraction(60)).tolist() == [1.0, 1.0, 0.0, 0.0]
    assert frame_voice_activity(probabilities[:1], 3, RATE).tolist() == [1.0, 0.0, 0.0]


def test_speech_runs_bridge_breaths_drop_clicks_and_split_long_lines():
    voice = np.zeros(300)
    voice[10:40] = 1  # a line
    voice[43:60] = 1  # ... a 3-frame breath (0.12 s): the same run
    voice[100:104] = 1  # a 4-frame click (0.16 s): dropped
    voice[150:280] = 0.9  # 5.2 s without a pause: two turns of 2.6 s
    assert speech_segments(voice, RATE) == [(10, 60), (150, 215), (215, 280)]


def test_the_face_whose_mouth_moves_with_the_voice_is_the_speaker():
    voice = np.zeros(150)
    voice[20:70] = 1
    voice[90:140] = 1
    first = np.zeros(150)
    first[20:70] = talking(50, 1)
    second = np.zeros(150)
    second[90:140] = talking(50, 2)
    tracks = [face_track(0, 100, first), face_track(1, 300, second)]

    speakers = find_active_speakers(tracks, voice, RATE)

    assert [(t.start, t.end, t.track_id) for t in speakers.turns] == [(20, 70, 0), (90, 140, 1)]
    assert all(t.confidence > 0.85 and t.is_sure for t in speakers.turns)
    assert speakers.speaking_tracks() == [0, 1] and [t.start for t in speakers.segments_of(1)] == [90]
    assert speakers.to_dict(first_frame=1000)["turns"][1]["range"] == [1090, 1140]


def test_a_mouth_that_moves_whatever_the_voice_says_does_not_win():
    voice = np.zeros(200)
    voice[100:150] = 1
    always = talking(200, 3) * 1.5  # moves through the silence too, a little more than the speaker
    speaker = np.zeros(200)
    speaker[100:150] = talking(50, 4)
    speakers = find_active_speakers([face_track(0, 100, always), face_track(1, 300, speaker)], voice, RATE)
    assert [t.track_id for t in speakers.turns] == [1]


def test_voice_with_still_faces_is_off_screen_and_equal_mouths_are_unsure():
    voice = np.ones(60)
    still = [face_track(0, 100, np.zeros(60)), face_track(1, 300, np.zeros(60))]
    (turn,) = find_active_speakers(still, voice, RATE).turns
    assert turn.track_id is None and turn.confidence > 0.9
    same = talking(60, 5)
    (turn,) = find_active_speakers([face_track(0, 100, same), face_track(1, 300, same)], voice, RATE).turns
    assert turn.confidence < 0.01 and not turn.is_sure
    assert find_active_speakers(still, np.zeros(60), RATE).turns == ()


def test_articulation_is_the_spread_of_the_mouth_opening_around_each_frame():
    still = mouth_articulation(face_track(0, 100, np.zeros(20)).landmarks, RATE)
    moving = mouth_articulation(face_track(0, 100, talking(20, 6)).landmarks, RATE)
    assert np.nanmax(still) < 1e-6 < STILL_MOUTH < np.nanmean(moving)
    gap = face_track(0, 100, np.zeros(5)).landmarks.copy()
    gap[2] = np.nan
    assert (
        np.isnan(mouth_articulation(gap, RATE)[2]) and np.isfinite(mouth_articulation(gap, RATE)[[0, 1, 3, 4]]).all()
    )


def test_silero_hears_speech_in_speech_and_none_in_silence(dub_speech):
    detector = SileroVoiceActivity()
    voice = voice_activity(dub_speech, Fraction(2), 100, RATE, detector=detector)
    assert voice.shape == (100,) and (voice > 0.5).mean() > 0.6
    assert detector.window_probabilities(np.zeros(16000, np.float32)).max() < 0.1
    # Past the end of the file: silence, not an error.
    assert voice_activity(dub_speech, Fraction(30), 10, RATE, detector=detector).max() < 0.1


@pytest.fixture(scope="module")
def talking_beside_bea(tmp_path_factory):
    """anna talking with her own audio, beside bea (whose mouth barely moves), and the same swapped."""
    folder = tmp_path_factory.mktemp("speakers")
    anna, bea = Side("anna", 0), Side("bea", 0)
    return (
        compose_shot(folder / "anna_bea.mp4", [anna, bea], 200, audio_from=anna),
        compose_shot(folder / "bea_anna.mp4", [bea, anna], 200, audio_from=anna),
    )


def speaker_side(analysis, track_id: int) -> str:
    track = next(t for t in analysis.tracks if t.track_id == track_id)
    centre = np.nanmean((track.boxes[:, 0] + track.boxes[:, 2]) / 2)
    return "left" if centre < analysis.info.width / 2 else "right"


@pytest.mark.slow
def test_the_talking_face_is_the_speaker_and_moves_when_the_sides_swap(talking_beside_bea):
    sides = []
    for shot in talking_beside_bea:
        analysis = analyse_clip(shot, backend="dlib", cache=AnalysisCache())
        speakers = find_clip_speakers(analysis)
        assert len(analysis.tracks) == 2 and len(speakers.turns) >= 2
        assert len(speakers.speaking_tracks()) == 1
        (speaker,) = speakers.speaking_tracks()
        listener = next(t.track_id for t in analysis.tracks if t.track_id != speaker)
        assert speakers.segments_of(listener) == []
        assert all(turn.is_sure and turn.confidence >= UNSURE_BELOW for turn in speakers.turns), speakers.turns
        sides.append(speaker_side(analysis, speaker))
    assert sides == ["left", "right"]


@pytest.mark.slow
def test_the_speakers_command_reports_turns_and_confidences(talking_beside_bea, capsys):
    shot = talking_beside_bea[0]
    assert main(["cast", "speakers", str(shot), "--backend", "dlib", "--in", "50", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frame_count"] == 150 and report["unsure_below"] == UNSURE_BELOW
    assert report["turns"][0]["range"][0] >= 50 and {t["track_id"] for t in report["turns"]} == {0}
    # The original dialogue from another file: the talking clip's own audio, a silent picture beside it.
    silent = talking_beside_bea[0].with_name("silent.mp4")
    compose_shot(silent, [Side("anna", 0), Side("bea", 0)], 60)
    with pytest.raises(NoAudioStreamError, match="--original-audio"):
        find_clip_speakers(analyse_clip(silent, backend="dlib", cache=AnalysisCache()))
    from conftest import testdata_file

    original = testdata_file("talking_1080x1920_25fps.mp4")
    assert main(["cast", "speakers", str(silent), "--backend", "dlib", "--original-audio", str(original)]) == 0
    out = capsys.readouterr().out
    assert "frames have speech; unsure below 0.5" in out and "track 0, confidence" in out
