"""Several speakers in one shot: each face generated from its own dub in one pass and one output, only inside its own
mask; faces named by nobody and frames outside a speaker's stay the source's; overlapping masks are refused."""

import json

import numpy as np
import pytest
from cast_fixtures import PEOPLE, Side, compose_shot
from face_fixtures import IndexedFaceBackend, template_landmarks
from media_fixtures import make_test_clip
from test_render import FRAME_SIZE, request_for, write_wav
from tiny_models import save_tiny_weights, tiny_weight_flags

from keydub.core.analysis import AnalysisCache, analyse_clip
from keydub.core.compositing.crop import blend_region, crop_windows
from keydub.core.compositing.masks import leakproof_mask
from keydub.core.errors import InvalidParameterError
from keydub.core.media import read_frames
from keydub.core.model.pipeline import KeySyncPipeline
from keydub.core.render import FaceChoice, Speaker, render_clip
from keydub.core.render.path import check_request
from keydub.plugin.cli.main import main


WIDTH, HEIGHT, FRAMES = 240, 80, 20
LEFT, MIDDLE, RIGHT = (template_landmarks(x, 36, 36) for x in (40, 120, 200))
CLOSE = template_landmarks(70, 36, 36)  # near LEFT: their mouth regions overlap


def region_of(face: np.ndarray) -> np.ndarray:
    """The source pixels a render may change for a still drawn face: its feathered mouth region, pasted back."""
    window = crop_windows(face[None].repeat(3, axis=0), output_size=FRAME_SIZE)[1]
    return blend_region((HEIGHT, WIDTH), window, leakproof_mask(window.to_crop(face), FRAME_SIZE))


def at(face: np.ndarray) -> FaceChoice:
    """A click on the face's nose."""
    x, y = face[30]
    return FaceChoice(point=(float(x), float(y)))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_tiny_weights(tmp_path_factory.mktemp("weights"), FRAME_SIZE)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """Three still faces side by side, and two different dub lines."""
    folder = tmp_path_factory.mktemp("three_faces")
    clip = make_test_clip(folder / "shot.mkv", width=WIDTH, height=HEIGHT, frame_count=FRAMES)
    low = write_wav(folder / "low.wav", FRAMES / 25, frequency=180)
    high = write_wav(folder / "high.wav", FRAMES / 25, frequency=1400)
    return clip, low, high


def render(weights, clip, output, speakers, faces=(LEFT, MIDDLE, RIGHT), audio=None, **fields):
    pipe = KeySyncPipeline.from_pretrained(weights["keysync"], weights["vae"], weights["hubert"], weights["wavlm"])
    backend = IndexedFaceBackend(lambda i: list(faces), (HEIGHT, WIDTH))
    result = render_clip(
        request_for(clip, audio, output, weights, speakers=tuple(speakers), **fields),
        pipeline=pipe,
        landmark_backend=backend,
    )
    return result, np.stack(list(read_frames(output)))


def test_two_speakers_change_only_their_own_mouths_and_swapping_the_stems_swaps_the_results(tmp_path, weights, shot):
    clip, low, high = shot
    source = np.stack(list(read_frames(clip)))
    left, right, middle = region_of(LEFT), region_of(RIGHT), region_of(MIDDLE)
    assert not (left & right).any() and not (middle & (left | right)).any()

    result, both = render(
        weights,
        clip,
        tmp_path / "both.mkv",
        [Speaker(at(LEFT), low, name="ANNA"), Speaker(at(RIGHT), high, name="BOB")],
    )
    _, swapped = render(
        weights, clip, tmp_path / "swapped.mkv", [Speaker(at(LEFT), high, name="ANNA"), Speaker(at(RIGHT), low)]
    )
    _, left_low = render(weights, clip, tmp_path / "left_low.mkv", [Speaker(at(LEFT), low)])
    _, left_high = render(weights, clip, tmp_path / "left_high.mkv", [Speaker(at(LEFT), high)])

    changed = np.any(both != source, axis=-1)
    # Both mouths change; not one pixel outside them, so the third face (named by nobody) is the source's.
    assert changed[:, left].any(axis=-1).all() and changed[:, right].any(axis=-1).all()
    assert not changed[:, ~(left | right)].any()
    assert np.array_equal(both[:, middle], source[:, middle])
    # Each face follows its own stem: the left mouth of the pair render is the left-alone render with the same stem
    # (up to the rounding of sharing U-Net calls), and swapping the stems gives the other one.
    difference = np.abs(both[:, left].astype(int) - left_low[:, left].astype(int))
    assert difference.max() <= 2
    assert np.abs(swapped[:, left].astype(int) - left_high[:, left].astype(int)).max() <= 2
    assert np.abs(both[:, left].astype(int) - swapped[:, left].astype(int)).max() > 10
    assert np.abs(both[:, right].astype(int) - swapped[:, right].astype(int)).max() > 10
    # The report names each speaker, its face and its stem.
    speakers = result.report["speakers"]
    assert [s["name"] for s in speakers] == ["ANNA", "BOB"]
    assert [s["audio"]["path"] for s in speakers] == [str(low.absolute()), str(high.absolute())]
    assert all(s["segments"] == [[0, FRAMES]] and s["generated"] == FRAMES for s in speakers)
    assert result.report["frames"]["generated"] == FRAMES and result.passed_through == ()
    assert "audio" not in result.report["inputs"]
    # The usage record names both stems and both characters; the credentials name both stems as ingredients.
    lines = [json.loads(line) for line in (tmp_path / "keydub-usage.jsonl").read_text().splitlines()]
    (pair,) = [line for line in lines if line["output"].endswith("both.mkv")]
    assert [dub["path"] for dub in pair["dubs"]] == [str(low.absolute()), str(high.absolute())]
    assert [face["character"] for face in pair["faces"]] == ["ANNA", "BOB"]
    assert result.report["provenance"]["signed"]


def test_a_speaker_is_synced_only_on_its_frames(tmp_path, weights, shot):
    clip, low, high = shot
    source = np.stack(list(read_frames(clip)))
    speakers = [Speaker(at(LEFT), low, frames=((5, 12),)), Speaker(at(RIGHT), high, frames=((10, 20),))]
    result, frames = render(weights, clip, tmp_path / "turns.mkv", speakers)

    changed = np.any(frames != source, axis=-1)
    left_frames = changed[:, region_of(LEFT)].any(axis=-1)
    right_frames = changed[:, region_of(RIGHT)].any(axis=-1)
    assert np.flatnonzero(left_frames).tolist() == list(range(5, 12))
    assert np.flatnonzero(right_frames).tolist() == list(range(10, 20))
    assert result.passed_through == tuple((f, "outside the speaker's frames") for f in range(5))
    assert [s["segments"] for s in result.report["speakers"]] == [[[5, 12]], [[10, 20]]]


def test_overlapping_mouth_regions_are_refused_naming_the_frames(tmp_path, weights, shot):
    clip, low, high = shot
    assert (region_of(LEFT) & region_of(CLOSE)).any()
    with pytest.raises(
        InvalidParameterError, match=r"ANNA and face \d overlap on source frame\(s\) 0, 1, 2, 3, 4 and 15 more"
    ):
        render(
            weights,
            clip,
            tmp_path / "overlap.mkv",
            [Speaker(at(LEFT), low, name="ANNA"), Speaker(at(CLOSE), high)],
            faces=(LEFT, CLOSE),
        )
    assert not (tmp_path / "overlap.mkv").exists()


def test_with_the_active_speaker_a_shot_where_nobody_speaks_is_the_source_bit_for_bit(tmp_path, weights, shot):
    clip, low, _ = shot
    silence = write_wav(tmp_path / "room_tone.wav", FRAMES / 25, frequency=0)
    result, frames = render(
        weights, clip, tmp_path / "nobody.mkv", [], audio=low, active_speaker=True, original_audio=silence
    )
    assert np.array_equal(frames, np.stack(list(read_frames(clip))))
    assert result.report["speakers"] == [] and result.report["active_speaker"]["turns"] == []
    assert result.passed_through == tuple((f, "not speaking in the original dialogue") for f in range(FRAMES))


def test_speakers_that_cannot_render_are_refused_before_any_work(tmp_path, shot):
    clip, low, _ = shot
    output = tmp_path / "out.mkv"

    def refused(**fields):
        with pytest.raises(InvalidParameterError) as error:
            check_request(request_for(clip, fields.pop("audio", None), output, **fields))
        return str(error.value)

    assert "BOB names no face" in refused(speakers=(Speaker(FaceChoice(), low, name="BOB"),))
    assert "speaker 2 has no dub" in refused(speakers=(Speaker(at(LEFT), low), Speaker(at(RIGHT))))
    assert "already names" in refused(speakers=(Speaker(at(LEFT), low), Speaker(at(LEFT), low)))
    assert "goes with --active-speaker" in refused(audio=low, original_audio=low)
    assert "no dub audio" in refused()
    # The same face reached by a click and by its track id is found once the faces are known.
    with pytest.raises(InvalidParameterError, match=r"ANNA and BOB name the same face \(track \d\)"):
        render_speakers_on_one_track(tmp_path, clip, low)


def render_speakers_on_one_track(tmp_path, clip, low):
    from keydub.core.analysis import analyse_clip
    from keydub.core.render.lanes import plan_lanes

    backend = IndexedFaceBackend(lambda i: [LEFT, MIDDLE, RIGHT], (HEIGHT, WIDTH))
    analysis = analyse_clip(clip, 0, FRAMES, backend)
    left_track = analysis.for_range(0, FRAMES, face=at(LEFT)).face.track_ids[0]
    speakers = (Speaker(at(LEFT), name="ANNA"), Speaker(FaceChoice(track_id=int(left_track)), name="BOB"))
    plan_lanes(request_for(clip, low, tmp_path / "o.mkv", speakers=speakers), analysis)


# ----------------------------------------------------------------------------------------------------------------
# Shots composed from the shared media: real faces, the dlib backend, the real command line.
# ----------------------------------------------------------------------------------------------------------------
REAL_FRAMES = 25


def real_render(weights, shot, output, *flags):
    report = output.with_suffix(".json")
    command = ["render", str(shot), "-o", str(output), "--report", str(report), "--landmark-backend", "dlib"]
    command += ["--device", "cpu", "--dtype", "float32", "--codec", "ffv1", "--quiet", *tiny_weight_flags(weights)]
    assert main([*command, *flags]) == 0
    return json.loads(report.read_text()), np.stack(list(read_frames(output)))


def lane_regions(analysis, report, frame_count: int) -> list[np.ndarray]:
    """Per speaker of a render's report, the source pixels its face may change on each frame (its feathered mouth
    regions), from the same analysis the render used."""
    shape = (analysis.info.height, analysis.info.width)
    regions = []
    for speaker in report["speakers"]:
        (track,) = speaker["track_ids"]
        lane = analysis.for_range(0, frame_count, face=FaceChoice(track_id=track), crop_size=FRAME_SIZE)
        frames = np.zeros((frame_count, *shape), bool)
        for i in np.flatnonzero(lane.face.present):
            window = lane.windows[i]
            frames[i] = blend_region(shape, window, leakproof_mask(window.to_crop(lane.face.landmarks[i]), FRAME_SIZE))
        regions.append(frames)
    return regions


@pytest.fixture(scope="module")
def three_people(tmp_path_factory):
    """anna, bea and cole side by side; a cast naming anna and bea by a click on their own clips; two dub lines."""
    from conftest import testdata_file  # imported here: pytest would collect a module-level `test...` name

    folder = tmp_path_factory.mktemp("three_people")
    shot = compose_shot(folder / "three.mp4", [Side("anna"), Side("bea"), Side("cole")], REAL_FRAMES)
    cast = folder / "cast.toml"
    lines = ["version = 1"]
    for name, person in (("ANNA", "anna"), ("BEA", "bea")):
        centre = PEOPLE[person].centre
        lines += [
            "[[character]]",
            f'name = "{name}"',
            "[[character.reference]]",
            f'clip = "{testdata_file(PEOPLE[person].file)}"',
            "frame = 50",
            f"point = [{centre[0]}, {centre[1]}]",
        ]
    cast.write_text("\n".join(lines) + "\n")
    low = write_wav(folder / "low.wav", REAL_FRAMES / 25, frequency=180)
    high = write_wav(folder / "high.wav", REAL_FRAMES / 25, frequency=1400)
    return shot, cast, low, high


@pytest.mark.slow
def test_two_characters_of_a_real_shot_follow_their_own_stems_and_the_third_face_is_untouched(
    tmp_path, weights, three_people
):
    shot, cast, low, high = three_people
    source = np.stack(list(read_frames(shot)))
    pair, both = real_render(
        weights,
        shot,
        tmp_path / "both.mkv",
        "--cast",
        str(cast),
        "--speaker",
        f"ANNA={low}",
        "--speaker",
        f"bea={high}",
    )
    _, swapped = real_render(
        weights,
        shot,
        tmp_path / "swapped.mkv",
        "--cast",
        str(cast),
        "--speaker",
        f"ANNA={high}",
        "--speaker",
        f"BEA={low}",
    )
    _, anna_high = real_render(weights, shot, tmp_path / "anna.mkv", "--cast", str(cast), "--speaker", f"ANNA={high}")

    analysis = analyse_clip(shot, backend="dlib", cache=AnalysisCache())
    assert len(analysis.tracks) == 3
    assert [s["name"] for s in pair["speakers"]] == ["ANNA", "BEA"]
    anna, bea = lane_regions(analysis, pair, REAL_FRAMES)
    # Each face is anna's and bea's: their regions lie in the left and middle thirds of the shot.
    third = analysis.info.width // 3
    assert not anna[..., third:].any() and not bea[..., :third].any() and not bea[..., 2 * third :].any()
    changed = np.any(both != source, axis=-1)
    assert changed[anna].any() and changed[bea].any()
    assert not changed[~(anna | bea)].any()  # cole, not in the cast, and everything else: the source, bit for bit
    assert np.array_equal(both[..., 2 * third :, :], source[..., 2 * third :, :])
    # Swapping the stems swaps the results: anna with the high line is anna rendered alone with it.
    assert np.abs(swapped[anna].astype(int) - anna_high[anna].astype(int)).max() <= 2
    assert np.abs(both[anna].astype(int) - swapped[anna].astype(int)).max() > 10
    assert np.abs(both[bea].astype(int) - swapped[bea].astype(int)).max() > 10


@pytest.fixture(scope="module")
def anna_talking_beside_bea(tmp_path_factory):
    """anna talking with her own audio beside bea, both ways round, and a mixed dub."""
    folder = tmp_path_factory.mktemp("active")
    anna, bea = Side("anna"), Side("bea")
    frames = 75
    return (
        compose_shot(folder / "anna_bea.mp4", [anna, bea], frames, audio_from=anna),
        compose_shot(folder / "bea_anna.mp4", [bea, anna], frames, audio_from=anna),
        write_wav(folder / "mix.wav", frames / 25, frequency=300),
    )


@pytest.mark.slow
def test_the_active_speaker_is_the_talking_face_and_moves_when_the_sides_swap(
    tmp_path, weights, anna_talking_beside_bea
):
    *shots, mix = anna_talking_beside_bea
    confidences = []
    for shot, talking_side in zip(shots, ("left", "right"), strict=True):
        report, frames = real_render(
            weights, shot, tmp_path / f"{shot.stem}.mkv", "--audio", str(mix), "--active-speaker"
        )
        source = np.stack(list(read_frames(shot)))
        turns = report["active_speaker"]["turns"]
        assert turns and all(turn["sure"] for turn in turns)
        (speaker,) = report["speakers"]
        assert {turn["track_id"] for turn in turns} == set(speaker["track_ids"])
        half = source.shape[2] // 2
        changed = np.any(frames != source, axis=-1)
        talking, listening = (
            (changed[..., :half], changed[..., half:])
            if talking_side == "left"
            else (
                changed[..., half:],
                changed[..., :half],
            )
        )
        assert talking.any() and not listening.any()
        # Only the frames of the turns change; the rest pass through saying why.
        spoken = np.zeros(len(source), bool)
        for a, b in speaker["segments"]:
            spoken[a:b] = True
        assert not changed[~spoken].any()
        reasons = {item["reason"] for item in report["frames"]["passed_through"]}
        assert reasons <= {"not speaking in the original dialogue", "no face"}
        confidences += [turn["confidence"] for turn in turns]
    print(f"active speaker turn confidences: {confidences}")
