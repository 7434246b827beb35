"""Timelines real editors exported (tests/data/timelines, origins in its README), read through OTIO's adapters.

For each file: what Keydub plans, clip by clip, with exact record and source frames, and why each other clip is
left alone. The media they name is on their authors' machines; where a clip must be planned, `--relink` (or, for
the Resolve export, a documented one-field mutation) points it at small stand-in media written here, whose frame
counts and timecodes are those the export gives.
"""

import copy
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from media_fixtures import make_test_clip, sine
from otio_fixtures import TONES, copy_renderer, write_tone_wav
from queue_fixtures import FunctionEngine

from keydub.core.errors import InvalidParameterError, TimelineError
from keydub.plugin.cli.main import main
from keydub.plugin.cluster.path_map import PathMap, PathMapping
from keydub.plugin.timeline.batch import render_timeline
from keydub.plugin.timeline.executors import InProcessExecutor
from keydub.plugin.timeline.otio_file import read_timeline, read_timeline_file
from keydub.plugin.timeline.plan import PlanOptions, plan_timeline


DATA = Path(__file__).parent / "data" / "timelines"


def relink(*pairs: tuple[str, Path]) -> PathMap:
    return PathMap(tuple(PathMapping.parse(f"{editor}={local}", "--relink") for editor, local in pairs))


def rows(plan) -> list[tuple]:
    """`(track, name, record_start, duration, source_start, head, tail, job frames or skip reason)` per clip."""
    return [
        (
            clip.track,
            clip.name,
            clip.record_start,
            clip.duration,
            clip.source_start,
            clip.head,
            clip.tail,
            (clip.job.start_frame, clip.job.end_frame) if clip.job else clip.skip_reason,
        )
        for clip in plan.clips
    ]


def plan_with_dub_stem(timeline: otio.schema.Timeline, frames: int, folder: Path, options: PlanOptions):
    """The plan of `timeline` with a dub track "DX" under it holding a tone WAV of `frames` frames at 24 fps from
    its start (written in `folder`): an EDL or a Kdenlive export of the picture cut has no dub track of its own."""
    wav = folder / "dx.wav"
    write_tone_wav(wav, TONES["es_line1"], seconds=frames // 24 + 1)
    dubbed = copy.deepcopy(timeline)
    clip = otio.schema.Clip(
        name=wav.stem,
        media_reference=otio.schema.ExternalReference(target_url=str(wav)),
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(frames, 24)
        ),
    )
    track = otio.schema.Track(name="DX", kind=otio.schema.TrackKind.Audio)
    track.append(clip)
    dubbed.tracks.append(track)
    return plan_timeline(dubbed, DATA, folder, options, write_audio=False)


# -- DaVinci Resolve: OTIO export with the Inspector block on clips ---------------------------------------------


@pytest.fixture(scope="module")
def resolve_media(tmp_path_factory) -> Path:
    """Stand-ins for the sq0100_sh0010 layout movie (500 frames at 24 fps) and Mayu's voice on "Audio 2"."""
    folder = tmp_path_factory.mktemp("resolve_media")
    make_test_clip(folder / "sq0100_sh0010_layout_v004.mp4", frame_rate=Fraction(24), frame_count=500, codec="h264")
    write_tone_wav(folder / "06_Mayu_Sfx_ladderStruggleAhhagg.wav", TONES["es_line1"], seconds=17)
    return folder


RESOLVE_AUDIO_FOLDER = (
    "/Users/joshm/Downloads/picchu_edit/Picchu_v10_AZ.dra/MediaFiles/Xdisk/picchu/editorial/animatic/"
    "Picchu_Animatic_014.dra/MediaFiles/Mayu_Saywa_Kathy/wav"
)


def plan_resolve_export(timeline: otio.schema.Timeline, media: Path, audio_cache: Path):
    """The Resolve export's plan with Mayu's voice on "Audio 2" as the dub, relinked onto `media`."""
    options = PlanOptions(dub_tracks=("Audio 2",), relink=relink((RESOLVE_AUDIO_FOLDER, media)))
    return plan_timeline(timeline, DATA, audio_cache, options, write_audio=False)


def test_resolve_export_skips_its_stills_and_offline_shots_one_by_one(resolve_media, tmp_path):
    timeline = read_timeline(DATA / "resolve_effects.otio")
    plan = plan_resolve_export(timeline, resolve_media, tmp_path)
    still = "a still image (PNG): one picture, no mouth moving to dub"
    offline = "media offline (the timeline has no file for this clip); relink it in your editor"
    assert [(row[0], row[1], row[2], row[3], row[7]) for row in rows(plan)] == [
        ("Video 1", "Picchu_V7_310821_0003.png", 86400, 444, still),
        ("Video 1", "Picchu_V7_310821_0005.png", 86844, 56, still),
        ("Video 1", "Picchu_V7_310821_0006.png", 86900, 13, still),
        ("Video 1", "Picchu_V7_310821_0007.png", 86913, 18, still),
        ("Video 1", "Picchu_V7_310821_0009.png", 86931, 30, still),
        ("Video 1", "Picchu_V7_310821_0010.png", 86961, 34, still),
        ("Video 1", "Picchu_V7_310821_0011.png", 86995, 18, still),
        ("Video 1", "Picchu_V7_310821_0012.png", 87013, 16, still),
        ("Video 1", "Picchu_V7_310821_0013.png", 87029, 42, still),
        ("Video 1", "Panel 3.3.5.png", 87071, 145, still),
        ("Video 1", "Panel 3.3.5.png", 87216, 202, still),
        ("Video 1", "Picchu_V7_310821_0014.png", 87418, 37, still),
        ("Video 1", "Picchu_V7_310821_0015.png", 87455, 70, still),
        ("Video 2", "A_title.png", 86400, 444, still),
        ("Video 3", "_bar.png", 86400, 444, "disabled in the timeline"),
        ("Video 4", "A_title.png", 86400, 444, "disabled in the timeline"),
        ("Video 5", "sq0100_sh0010_layout_v004.mp4", 86400, 500, offline),
        ("Video 5", "sq0100_sh0020_layout_v005.mp4", 86900, 316, offline),
        ("Video 5", "sq0100_sh0030_layout_v004.mp4", 87216, 211, offline),
        ("Video 5", "sq0100_sh0050_layout_v004.mp4", 87427, 98, offline),
    ]


def test_a_zoomed_resolve_clip_is_planned_and_a_2x_one_skipped_naming_its_speed(resolve_media, tmp_path):
    timeline = read_timeline(DATA / "resolve_effects.otio")
    shots = timeline.tracks[4]
    zoomed, retimed = shots[0], shots[1]
    inspector = [effect.metadata["Resolve_OTIO"]["Effect Name"] for effect in zoomed.effects]
    assert inspector == [
        "Transform",
        "Cropping",
        "Dynamic Zoom",
        "Composite",
        "Lens Correction",
        "Retime and Scaling",
        "Video Faders",
    ]
    # The one field Resolve writes differently when the movie is online: the reference (same available range).
    offline = zoomed.media_reference
    online = otio.schema.ExternalReference(
        target_url=str(resolve_media / zoomed.name), available_range=offline.available_range
    )
    zoomed.set_media_references({"DEFAULT_MEDIA": online}, "DEFAULT_MEDIA")
    # Resolve writes a speed change as a LinearTimeWarp beside its Inspector block.
    retimed.effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    plan = plan_resolve_export(timeline, resolve_media, tmp_path)
    by_name = {(row[0], row[1]): row for row in rows(plan)}
    assert by_name[("Video 5", "sq0100_sh0010_layout_v004.mp4")] == (
        "Video 5",
        "sq0100_sh0010_layout_v004.mp4",
        86400,
        500,
        0,
        0,
        0,
        (0, 500),
    )
    assert by_name[("Video 5", "sq0100_sh0020_layout_v005.mp4")][7] == (
        "retimed (speed x2); Keydub renders at the source speed only: bake the speed change first"
    )
    job = next(clip.job for clip in plan.clips if clip.job is not None)
    # "Audio 2" plays the WAV's frames 40-125 at record 347-432 and 354-382 at 472-500 (24 fps).
    assert [(piece.offset, piece.file_start, piece.duration) for piece in job.audio_pieces] == [
        (Fraction(347, 24), Fraction(40, 24), Fraction(85, 24)),
        (Fraction(472, 24), Fraction(354, 24), Fraction(28, 24)),
    ]


# -- Premiere Pro: FCP 7 XML with a title and Windows media URLs ------------------------------------------------


@pytest.fixture(scope="module")
def premiere_media(tmp_path_factory) -> Path:
    """Stand-ins for the movies the Premiere project has on D:\\media, with the frame counts and start timecode
    the export gives (30 fps), and the dub line on its third audio track."""
    folder = tmp_path_factory.mktemp("premiere_media")
    for name, frames, timecode in (
        ("sc01_sh010_anim", 100, None),
        ("sc01_sh020_anim", 175, None),
        ("sc01_sh030_anim", 400, None),
        ("sc01_master_layerA_sh030_temp", 400, "00:00:03:09"),
    ):
        make_test_clip(
            folder / f"{name}.mov", frame_rate=Fraction(30), frame_count=frames, codec="h264", timecode=timecode
        )
    write_tone_wav(folder / "track_08.wav", TONES["es_line1"], seconds=8)
    write_tone_wav(folder / "sc01_placeholder.wav", TONES["es_line2"], seconds=8)
    return folder


def test_premiere_xml_plans_its_clips_and_skips_its_title(premiere_media, tmp_path):
    timeline, fmt = read_timeline_file(DATA / "premiere_example.xml")
    assert fmt.name == "FCP 7 XML" and timeline.name == "sc01_sh010_layerA"
    assert timeline.tracks[0][1].media_reference.target_url == "file://localhost/D%3a/media/sc01_sh010_anim.mov"
    options = PlanOptions(dub_tracks=("A3",), relink=relink(("D:/media", premiere_media)))
    plan = plan_timeline(timeline, DATA, tmp_path, options, write_audio=False)
    no_dialogue = "no dialogue under the clip on A3"
    assert rows(plan) == [
        ("V1", "sc01_sh010_anim.mov", 536, 100, 0, 0, 0, no_dialogue),
        ("V2", "sc01_sh010_anim.mov", 13, 100, 0, 0, 0, no_dialogue),
        ("V2", "sc01_sh020_anim.mov", 165, 157, 0, 0, 12, (0, 169)),
        ("V2", "sc01_sh030_anim.mov", 322, 235, 0, 0, 12, (0, 247)),
        (
            "V2",
            "sc01_sh010_anim",
            636,
            320,
            None,
            0,
            0,
            "a nested timeline (compound clip) is not supported yet; decompose it in your editor",
        ),
        (
            "V3",
            "test_title",
            15,
            941,
            None,
            0,
            0,
            "a generator (Slug): a title, solid or other generated picture has no camera picture to dub",
        ),
        ("V4", "sc01_master_layerA_sh030_temp.mov", 956, 208, 133, 12, 13, no_dialogue),
        ("V4", "sc01_sh010_anim.mov", 1164, 82, 18, 12, 0, no_dialogue),
    ]
    # A3's track_08.wav plays at record 153-351 from its first sample (available range 6896-7094 at 30 fps).
    sh020 = plan.clips[2].job
    assert [(piece.offset, piece.file_start, piece.duration) for piece in sh020.audio_pieces] == [
        (Fraction(0), Fraction(12, 30), Fraction(169, 30))
    ]


def test_relink_renders_a_windows_premiere_timeline_and_writes_fcp_xml_back(premiere_media, tmp_path, capsys):
    out = tmp_path / "renders"
    result = render_timeline(
        DATA / "premiere_example.xml",
        out,
        tmp_path / "premiere_dubbed.xml",
        PlanOptions(dub_tracks=("A3",), picture_tracks=("V2",), relink=relink(("D:\\Media", premiere_media))),
        executor=InProcessExecutor(FunctionEngine(copy_renderer)),
    )
    assert [outcome.name for outcome in result.outcomes if outcome.was_rendered] == [
        "sc01_sh020_anim.mov",
        "sc01_sh030_anim.mov",
    ]
    written = read_timeline(tmp_path / "premiere_dubbed.xml")
    # FCP 7 XML keeps no track names (Premiere's tracks have none): the renders are the fifth video track.
    assert len(written.video_tracks()) == 5
    keydub_track = written.video_tracks()[4]
    placed = [
        (item.name, keydub_track.range_of_child_at_index(index).start_time.value, item.source_range.duration.value)
        for index, item in enumerate(keydub_track)
        if isinstance(item, otio.schema.Clip)
    ]
    assert [(start, duration) for _, start, duration in placed] == [(165.0, 157.0), (322.0, 235.0)]
    for item in keydub_track.find_clips():
        url = item.media_reference.target_url
        assert url.startswith("file://") and Path(otio.url_utils.filepath_from_url(url)).is_file()


# -- Final Cut Pro: FCPXML with two projects ----------------------------------------------------------------------


def test_fcpxml_with_two_projects_is_refused_naming_them_and_sequence_picks_one(tmp_path):
    with pytest.raises(TimelineError) as raised:
        read_timeline(DATA / "fcpx_example.fcpxml")
    assert str(raised.value) == (
        f"{DATA / 'fcpx_example.fcpxml'} holds 2 timelines: 'OpenTimeline_Project', 'OpenTimeline_Project 1'; "
        "pick one with --sequence NAME"
    )
    assert read_timeline(DATA / "fcpx_example.fcpxml", "OpenTimeline_Project 1").name == "OpenTimeline_Project 1"


def test_fcpxml_plans_its_clips_on_the_lane_named_1(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    for name, frames in (("IMG_0513", 312), ("IMG_0268", 1106), ("IMG_0740", 1333)):
        make_test_clip(
            media / f"{name}.MOV",
            width=16,
            height=16,
            frame_rate=Fraction(30),
            frame_count=frames,
            codec="h264",
            audio_rate=16_000,
            audio=sine(330.0),
        )
    timeline = read_timeline(DATA / "fcpx_example.fcpxml", "OpenTimeline_Project 1")
    options = PlanOptions(picture_tracks=("1",), dub_tracks=("-1",), relink=relink(("/Volumes/Media/otio", media)))
    plan = plan_timeline(timeline, DATA, tmp_path, options, write_audio=False)
    assert rows(plan) == [
        ("1", "IMG_0513", 600, 300, 0, 0, 12, (0, 312)),
        ("1", "IMG_0268", 1500, 285, 0, 0, 12, "no dialogue under the clip on -1"),
        ("1", "IMG_0740", 1785, 285, 15, 12, 12, "no dialogue under the clip on -1"),
    ]


# -- Avid: AAF whose audio tracks share one name -----------------------------------------------------------------


@pytest.fixture(scope="module")
def avid_media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("avid_media")
    make_test_clip(
        folder / "Frame Debugger 0h.mov",
        frame_rate=Fraction(30),
        frame_count=150,
        codec="h264",
        audio_rate=16_000,
        audio=sine(440.0),
    )
    return folder


def test_aaf_tracks_sharing_a_name_are_chosen_by_position(avid_media, tmp_path):
    timeline, fmt = read_timeline_file(DATA / "30fps.aaf")
    assert fmt.name == "AAF"
    assert [track.name for track in timeline.audio_tracks()] == ["TimelineMobSlot", "TimelineMobSlot"]
    with pytest.raises(TimelineError, match=r"2 audio tracks are named 'TimelineMobSlot' \(A1, A2\); .* e\.g\. A2$"):
        plan_timeline(timeline, DATA, tmp_path, PlanOptions(dub_tracks=("TimelineMobSlot",)), write_audio=False)
    with pytest.raises(TimelineError, match=r"audio track A2 \(TimelineMobSlot\) is given twice, as 'A2' and 'a2'"):
        plan_timeline(timeline, DATA, tmp_path, PlanOptions(dub_tracks=("A2", "a2")), write_audio=False)
    options = PlanOptions(dub_tracks=("A2",), relink=relink(("/Users/edit/Desktop/Josh/DemoClips", avid_media)))
    plan = plan_timeline(timeline, DATA, tmp_path, options, write_audio=False)
    assert plan.dub_label == "A2 TimelineMobSlot"
    assert rows(plan) == [
        ("TimelineMobSlot", "Frame Debugger 0h.mov", 108000, 26, 0, 0, 12, (0, 38)),
        ("TimelineMobSlot", "Frame Debugger 0h.mov", 108026, 132, 18, 12, 0, (6, 150)),
    ]


# -- Avid: CMX 3600 EDLs -----------------------------------------------------------------------------------------


def test_edl_speed_effects_are_named_and_offline_events_skipped(tmp_path):
    timeline = read_timeline(DATA / "speed_effects_small.edl")
    plan = plan_with_dub_stem(timeline, 144, tmp_path, PlanOptions(dub_tracks=("DX",)))
    offline = "media offline (the timeline has no file for this clip); relink it in your editor"
    bake = "; Keydub renders at the source speed only: bake the speed change first"
    assert [(row[1], row[2], row[3], row[7]) for row in rows(plan)] == [
        ("Z677_4C (ANIM10)", 0, 126, offline),
        ("Z682_156 (LAY3)", 12240, 17, "retimed (freeze frame)" + bake),
        ("Z682_157 (LAY2) FF", 12257, 1, offline),
        ("Z682_157 (LAY2)", 12258, 18, offline),
        ("Z686_5A (LAY2) (47.56 FPS)", 16600, 36, "retimed (speed x1.98333)" + bake),
    ]
    sources = [
        (clip.source_range.start_time.value, clip.source_range.duration.value) for clip in timeline.find_clips()
    ]
    assert sources == [(86445.0, 126.0), (86661.0, 17.0), (86660.0, 1.0), (86660.0, 18.0), (86544.0, 36.0)]


def test_edl_from_clip_paths_on_a_windows_drive_are_relinked(tmp_path):
    timeline = read_timeline(DATA / "avid_example.edl")
    local = tmp_path / "frames"
    local.mkdir()
    options = PlanOptions(dub_tracks=("DX",), relink=relink(("S:\\path\\to", local)))
    plan = plan_with_dub_stem(timeline, 144, tmp_path, options)
    still = "a still image (EXR): one picture, no mouth moving to dub"
    assert [(row[1], row[2], row[3], row[7]) for row in rows(plan)] == [
        ("take_1", 0, 31, still),
        ("take_2", 31, 50, still),
    ]


# -- Kdenlive: stills at 0 fps and a clip without a path ---------------------------------------------------------


def test_kdenlive_stills_at_zero_fps_are_skipped_not_refused(tmp_path):
    timeline = read_timeline(DATA / "kdenlive-test-missing-media.otio")
    plan = plan_with_dub_stem(timeline, 48, tmp_path, PlanOptions(dub_tracks=("DX",)))
    assert [(row[0], row[1], row[2], row[3], row[7]) for row in rows(plan)] == [
        ("V1", "red.png", 0, 24, "a still image (PNG): one picture, no mouth moving to dub"),
        (
            "V1",
            "yellow.png",
            24,
            24,
            "its media's available range is at 0 fps (a still or generated picture, no frames to render)",
        ),
    ]


# -- What the command line says about formats ----------------------------------------------------------------


def test_writing_aaf_is_refused_before_anything_renders(tmp_path, capsys):
    code = main(["timeline", str(DATA / "30fps.aaf"), "--dub-track", "A2", "-o", str(tmp_path / "out.aaf")])
    err = capsys.readouterr().err
    assert code == 1 and not (tmp_path / "out.aaf").exists()
    assert err.startswith("Error: Keydub cannot write an AAF timeline (out.aaf)") and err.count("\n") == 1


def test_a_missing_adapter_is_one_line_naming_format_and_package(tmp_path):
    import subprocess
    import sys

    # OTIO finds adapter plug-ins by their entry points: without the package's, the adapter is not installed.
    code = (
        "import importlib.metadata as metadata, sys\n"
        "installed = metadata.entry_points\n"
        "def entry_points(**selection):\n"
        "    found = installed(**selection)\n"
        "    if selection.get('group') != 'opentimelineio.plugins':\n"
        "        return found\n"
        "    return metadata.EntryPoints(point for point in found if point.name != 'otio_fcp_adapter')\n"
        "metadata.entry_points = entry_points\n"
        "from keydub.plugin.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "timeline", str(DATA / "premiere_example.xml"), "--dub-track", "A3", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done
    assert done.stderr == (
        f"Error: {DATA / 'premiere_example.xml'} is an FCP 7 XML timeline (Premiere Pro, Resolve, Hiero); reading "
        'it needs the package otio-fcp-adapter: pip install "keydub[formats]"\n'
    )


def test_a_document_from_a_newer_otio_names_what_it_needs(tmp_path, capsys):
    text = (DATA / "kdenlive-test-missing-media.otio").read_text().replace('"Clip.2"', '"Clip.9"', 1)
    path = tmp_path / "newer.otio"
    path.write_text(text)
    code = main(["timeline", str(path), "--dub-track", "DX", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert f"was written by an OpenTimelineIO newer than {otio.__version__} (it holds Clip.9;" in err
    assert "pip install -U opentimelineio" in err


def test_an_edl_output_holds_the_renders_track_only(avid_media, tmp_path):
    result = render_timeline(
        DATA / "30fps.aaf",
        tmp_path / "renders",
        tmp_path / "renders.edl",
        PlanOptions(dub_tracks=("A2",), relink=relink(("/Users/edit/Desktop/Josh/DemoClips", avid_media))),
        executor=InProcessExecutor(FunctionEngine(copy_renderer)),
    )
    assert result.rendered_count == 2
    with pytest.raises(TimelineError, match=r"has frames beyond 23\); give the EDL's frame rate with --edl-rate"):
        read_timeline(tmp_path / "renders.edl")
    written = read_timeline(tmp_path / "renders.edl", edl_rate=Fraction(30))
    assert len(written.video_tracks()) == 1 and not written.audio_tracks()
    # Each event plays its render's frames at the original's source timecode, at the original's record time.
    events = [(clip.source_range.start_time.value, clip.source_range.duration.value) for clip in written.find_clips()]
    assert events == [(0.0, 26.0), (18.0, 132.0)]


# -- Paths and rates as exporters write them ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("file:///C:/Media/A001.mov", "C:/Media/A001.mov"),
        ("file://localhost/D%3a/media/sc01_sh010_anim.mov", "D:/media/sc01_sh010_anim.mov"),
        ("file:///C|/Media/A001.mov", "C:/Media/A001.mov"),
        ("file://VSD/Tools_Media/Avid%20MediaFiles/a.mxf", "\\\\VSD\\Tools_Media\\Avid MediaFiles\\a.mxf"),
        ("file:////nas/show/a.mov", "\\\\nas\\show\\a.mov"),
        ("file:///Volumes/Media/otio/IMG_0715.MOV", "/Volumes/Media/otio/IMG_0715.MOV"),
        ("/Users/joshm/a.wav", "/Users/joshm/a.wav"),
    ],
)
def test_file_urls_with_windows_drives_and_unc_shares_are_recognised(url, path):
    from keydub.plugin.timeline.clips import media_path_text

    assert media_path_text(url) == path


def test_relink_maps_drive_and_unc_paths_whatever_their_case_and_separators(tmp_path):
    from keydub.plugin.timeline.clips import resolve_media_path

    mapping = relink(("d:\\MEDIA", tmp_path / "local"), ("//vsd/tools_media", tmp_path / "avid"))
    assert resolve_media_path("file://localhost/D%3a/media/sc01.mov", tmp_path, mapping) == tmp_path / "local/sc01.mov"
    assert resolve_media_path("file://VSD/Tools_Media/x/a.mxf", tmp_path, mapping) == tmp_path / "avid/x/a.mxf"
    with pytest.raises(
        InvalidParameterError, match=r"E:/other/a.mov is a Windows path; map its folder .* --relink 'E:\\other="
    ):
        resolve_media_path("file:///E:/other/a.mov", tmp_path, mapping)


def test_rates_from_inexact_exporters_snap_once_and_seconds_exact_values_are_frames():
    from keydub.plugin.timeline.timecode import exact_rate, to_frames

    ntsc = Fraction(24000, 1001)
    # A double, a 32-bit float's detour and a rounded decimal all stand for 24000/1001.
    assert {exact_rate(24000 / 1001), exact_rate(23.97602462768555), exact_rate(23.976)} == {ntsc}
    # 01:00:00:00 of a 24000/1001 timeline written as seconds times 23.976 is 86399.91: a frame in seconds.
    at_decimal = otio.opentime.RationalTime(86400 / ntsc * 23.976, 23.976)
    assert to_frames(at_decimal, ntsc, "start") == 86400
    # The same frame counted at the rate is a frame too, and half a frame is refused either way.
    assert to_frames(otio.opentime.RationalTime(86400, 23.976), ntsc, "start") == 86400
    with pytest.raises(TimelineError, match=r"86400\.5000 frames at 24000/1001 fps, which is not a whole frame"):
        to_frames(otio.opentime.RationalTime(86400.5, 23.97602462768555), ntsc, "start")
