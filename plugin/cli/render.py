"""`keydub render`: regenerate the lower face of one clip so the lips follow a dub track."""

import argparse
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from keydub.core.errors import InvalidParameterError
from keydub.core.render.options import RenderOptions
from keydub.core.render.request import FaceChoice
from keydub.plugin.cli._numbers import frame_count, seconds_offset
from keydub.plugin.cli._output import ProgressBar, add_output_flags, print_json, report_stale_files_removed
from keydub.plugin.cli._preflight import CommandPaths
from keydub.plugin.cli._render_options import add_consent_flags, add_option_flags, options_from_args


if TYPE_CHECKING:
    from keydub.core.media import MediaInfo
    from keydub.core.render import Speaker
    from keydub.plugin.cast import Character

EXAMPLES = """examples:
  keydub render interview.mov --audio dub_es.wav -o interview_es.mov
  keydub render shot.mov --audio dub.wav -o shot_dub.mov --in 01:00:10:00 --out 01:00:14:12 --handles 12
  keydub render two_shot.mov --audio dub.wav -o out.mov --face 1210,540@0 --identity auto --report qc.json
  keydub render mic.mov --audio dub.wav -o out.mov --occluder 880,1020@35 --occluder=-700,900@35
  keydub render two_shot.mov --speaker 420,380=anna_es.wav --speaker 1500,400=bob_es.wav -o out.mov
  keydub render two_shot.mov --cast cast.toml --speaker ANNA=anna_es.wav --speaker BOB=bob_es.wav -o out.mov
  keydub render two_shot.mov --audio dub_mix.wav --active-speaker -o out.mov --report qc.json
  keydub render shot.mov --audio dub.wav -o shot_dub.mkv --codec ffv1 --consent release-2291 --require-consent
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="lip-sync one clip to a dub track",
        description="Regenerate the actor's lower face so the lips follow the dub. The output keeps the source's "
        "frame count, rate, size, colour tags and timecode; only the blended mouth region changes.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", type=Path, help="the source clip (never modified)")
    parser.add_argument(
        "--audio",
        type=Path,
        help="the dub audio (any format FFmpeg reads); with --speaker, the stem of speakers without their own and the "
        "output's sound (without it the output keeps the source's sound)",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="the file to write")
    add_range_and_face_options(parser)
    parser.add_argument(
        "--audio-offset",
        type=seconds_offset,
        default=Fraction(0),
        metavar="SECONDS",
        help="delay of the dub against the picture in seconds, e.g. 0.04 or -1/25 (default 0: the "
        "dub's first sample is under the --in frame)",
    )
    parser.add_argument(
        "--occluder",
        action="append",
        default=[],
        metavar="[ID:][-]X,Y@FRAME",
        help="click on something in front of the mouth (hand, microphone) so it stays on top; "
        "repeatable; write --occluder=-X,Y@FRAME for a negative click; X0,Y0,X1,Y1 gives a box",
    )
    parser.add_argument(
        "--occluder-mask",
        action="append",
        default=[],
        metavar="[ID:]FILE@FRAME",
        help="a painted occluder mask (PNG at source resolution, white = occluder); repeatable",
    )
    add_speaker_options(parser)
    parser.add_argument("--report", type=Path, metavar="FILE.json", help="write the QC report as JSON")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_consent_flags(parser, consent=True)
    add_output_flags(parser)
    add_option_flags(parser)
    parser.set_defaults(func=run, paths=render_paths)


def render_paths(args: argparse.Namespace) -> CommandPaths:
    inputs: dict[str, Path | None] = {
        "video": args.video,
        "--audio": args.audio,
        "--cast": args.cast,
        "--original-audio": args.original_audio,
    }
    for index, text in enumerate(args.speaker):
        face, has_audio, audio = text.partition("=")
        inputs[f"--speaker #{index + 1}"] = Path(audio) if has_audio and audio else None
    for index, text in enumerate(args.occluder_mask):
        # `[ID:]FILE@FRAME`: the file is what lies between an optional `ID:` and the last `@`.
        file = text.rsplit("@", 1)[0]
        head, colon, rest = file.partition(":")
        inputs[f"--occluder-mask #{index + 1}"] = Path(rest if colon and head.isdigit() else file)
    return CommandPaths(
        outputs={"-o": args.output, "--report": args.report},
        inputs=inputs,
        overwrite=args.overwrite,
        video_output=("-o", args.codec or RenderOptions.codec),
    )


def add_range_and_face_options(parser: argparse.ArgumentParser) -> None:
    """The options that pick frames and a face, shared with `keydub mask` so a preview matches its render."""
    parser.add_argument(
        "--in",
        dest="in_point",
        metavar="FRAME|TC",
        help="first frame: a frame number (0 = the clip's first) or a timecode",
    )
    parser.add_argument(
        "--out",
        dest="out_point",
        metavar="FRAME|TC",
        help="the frame after the last one (exclusive, as in OTIO): frame number or timecode",
    )
    parser.add_argument(
        "--handles",
        type=frame_count,
        default=0,
        metavar="N",
        help="extra frames before --in and after --out, clamped to the clip (default 0)",
    )
    parser.add_argument(
        "--face",
        metavar="X,Y[@FRAME]",
        help="click inside the face to dub, in source pixels, on FRAME (number or timecode; default "
        "the first frame of the range); default: the largest face of each shot",
    )
    parser.add_argument("--face-track", type=int, metavar="ID", help="the face track id shown by `keydub inspect`")


def add_speaker_options(parser: argparse.ArgumentParser) -> None:
    """Several speakers, characters of a cast and the active speaker."""
    parser.add_argument(
        "--speaker",
        action="append",
        default=[],
        metavar="FACE[=AUDIO]",
        help="a face to lip-sync and its own dub; FACE is a click X,Y[@FRAME] in source pixels, a track id or a "
        "character of --cast; without =AUDIO it follows --audio; repeatable: the faces are generated in one pass, "
        "faces not named stay untouched",
    )
    parser.add_argument("--cast", type=Path, metavar="CAST.toml", help="the cast whose characters --speaker names")
    parser.add_argument(
        "--active-speaker",
        action="store_true",
        help="lip-sync each face only where it speaks in the original dialogue (every face, or each --speaker); "
        "stretches where no face is sure to speak stay untouched and are named in the report",
    )
    parser.add_argument(
        "--original-audio",
        type=Path,
        metavar="FILE",
        help="the original dialogue for --active-speaker, on the clip's clock (default: the clip's own sound)",
    )


def run(args: argparse.Namespace) -> int:
    from keydub.core.engine import Engine
    from keydub.core.provenance import require_consent

    report_stale_files_removed(targets=[args.output, args.report])
    request = request_from_args(args)
    if args.require_consent:
        require_consent([(args.video.name, request.face_speakers())])
    with ProgressBar(disable=args.quiet) as bar:
        result = Engine().render(request, bar)
    if args.json:
        print_json(result.report)
    else:
        frames = result.report["frames"]
        reasons = Counter(reason for _, reason in result.passed_through)
        why = ", ".join(f"{count} {reason}" for reason, count in reasons.items())
        print(
            f"wrote {result.output}: {result.frame_count} frames ({frames['timecode']['in']} - "
            f"{frames['timecode']['out']}), {frames['generated']} lip-synced, {len(result.passed_through)} "
            f"passed through{f' ({why})' if why else ''}"
        )
        print(credentials_summary(result.report["provenance"]))
        for note in result.report["notes"]:
            print(f"note: {note}", file=sys.stderr)
    return 0


def credentials_summary(provenance: dict) -> str:
    """The render's Content Credentials and usage record in one line (the report's `provenance`)."""
    if not provenance["signed"]:
        return f"no Content Credentials (--no-provenance); recorded in {provenance['usage_record']}"
    where = f"in {provenance['sidecar']}" if provenance["sidecar"] else "embedded"
    return (
        f"signed {provenance['manifest_id']} ({where}) by {provenance['signer']}; recorded in "
        f"{provenance['usage_record']}"
    )


def request_from_args(args: argparse.Namespace):
    """The `RenderRequest` of a `keydub render` command line, checked (device included) before any work."""
    from keydub.core.media import probe
    from keydub.core.occlusion import parse_occluder_args
    from keydub.core.render import RenderRequest
    from keydub.plugin.edit_points import dub_offset, edit_range, parse_face_click, source_range

    options = options_from_args(args)  # first: a bad option is refused before any work
    info = probe(args.video)
    start, end = source_range(info, args.in_point, args.out_point, args.handles)
    in_frame = edit_range(info, args.in_point, args.out_point)[0]
    return RenderRequest(
        video=args.video.absolute(),
        audio=args.audio.absolute() if args.audio else None,
        output=args.output.absolute(),
        start_frame=start,
        end_frame=end,
        audio_offset=dub_offset(info, args.audio_offset, in_frame=in_frame, start=start),
        face=parse_face_click(args.face, info, start, args.face_track),
        occluders=tuple(p.to_dict() for p in parse_occluder_args(args.occluder, args.occluder_mask, info)),
        overwrite=args.overwrite,
        report=args.report.absolute() if args.report else None,
        options=options,
        speakers=speakers_from_args(args, info, start, end),
        active_speaker=args.active_speaker,
        original_audio=args.original_audio.absolute() if args.original_audio else None,
        consent=args.consent.strip(),
    )


def speakers_from_args(args: argparse.Namespace, info: "MediaInfo", start: int, end: int) -> "tuple[Speaker, ...]":
    """The `--speaker` faces and stems, characters found with `--cast` among the range's faces."""
    from keydub.core.render import Speaker
    from keydub.plugin.edit_points import parse_speaker

    if args.speaker and (args.face or args.face_track is not None):
        raise InvalidParameterError("--face and --face-track pick the one face; with --speaker, name each face there")
    parsed = [parse_speaker(text, info, start) for text in args.speaker]
    names = [face for face, _ in parsed if isinstance(face, str)]
    if names and args.cast is None:
        raise InvalidParameterError(
            f"--speaker {names[0]!r} is not a click X,Y[@FRAME] or a track id; to name a character, give --cast FILE"
        )
    characters = character_tracks(args, info, start, end, names) if names else {}
    # --consent names the person of a one-face render; a character's consent comes from the cast.
    given = args.consent.strip() if len(parsed) == 1 else ""
    speakers = []
    for face, audio in parsed:
        if isinstance(face, str):
            character, track_id = characters[face]
            face = FaceChoice(track_id=track_id)
            speakers.append(Speaker(face, audio, name=character.name, consent=character.consent or given))
        else:
            speakers.append(Speaker(face, audio, consent=given))
    return tuple(speakers)


def character_tracks(
    args: argparse.Namespace, info: "MediaInfo", start: int, end: int, names: list[str]
) -> "dict[str, tuple[Character, int]]":
    """Each named character of the cast and its face track among the range's faces, matched to `--cast` as `keydub
    cast show` matches them."""
    from keydub.core.analysis import AnalysisCache
    from keydub.core.errors import NoFaceFoundError
    from keydub.plugin.cast import read_cast
    from keydub.plugin.cast.clip_cast import match_clip
    from keydub.plugin.cast.timeline_faces import FaceAnalyser

    cast = read_cast(args.cast)
    named = {name: cast.character(name) for name in names}
    backend = args.landmark_backend or RenderOptions.landmark_backend
    analyser = FaceAnalyser(backend, cast.recognition, cache=AnalysisCache())
    shot = match_clip(args.video.absolute(), start, end, info.frame_rate, cast, analyser)
    tracks = {}
    for given, character in named.items():
        name = character.name
        match = shot.face_of(name)
        if match is None:
            nearest = [
                f"track {f.track_id} at {f.distance:.2f}" for f in shot.faces if f.nearest == name and f.distance
            ]
            raise NoFaceFoundError(
                f"--speaker {name}: no face of the range is {name} (nearest: {', '.join(nearest) or 'none'}); name "
                "the face by a click or a track id instead"
            )
        tracks[given] = (character, match.track_id)
    return tracks
