"""`keydub cast`: the characters of a timeline, found from its faces, and where each one appears.

- `keydub cast suggest TIMELINE -o cast.toml` clusters every face of every dialogue clip into identities, writes a
  starting `cast.toml` (one character per identity) and a contact sheet PNG to name them by.
- `keydub cast show cast.toml TIMELINE` lists each character's matches across the timeline, with distances.
- `keydub cast speakers CLIP` lists who speaks when in a clip, from its original dialogue's voice activity.
"""

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keydub.core.face_backends import LANDMARK_BACKENDS
from keydub.plugin.cli._output import ProgressBar, add_output_flags, print_json
from keydub.plugin.cli._preflight import CommandPaths
from keydub.plugin.cli.timeline import add_track_arguments


if TYPE_CHECKING:  # the models and the timeline planner load when a command runs, not when the CLI starts
    from keydub.plugin.cast import ShotCast
    from keydub.plugin.cast.timeline_faces import FaceAnalyser, TimelineFaces


EXAMPLES = """examples:
  keydub cast suggest episode101.otio --dub-track "DX es-419" -o cast.toml --backend dlib
  keydub cast show cast.toml episode101.otio --dub-track "DX es-419"
  keydub cast show cast.toml episode101.otio --dub-track "DX es-419" --json > matches.json
  keydub cast speakers shot_010.mov --backend dlib
  keydub cast speakers shot_010.mov --original-audio shot_010_boom.wav --json

cast.toml names each character, its dub track and its reference faces; see docs/guides/cast.md.
"""
DEFAULT_LANDMARKS = "face-alignment"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `cast` command and its sub-commands."""
    parser = subparsers.add_parser(
        "cast",
        help="find the characters of a timeline from their faces, and who speaks when",
        description="The cast of a timeline: characters with a name, a dub track and reference faces, kept in a "
        "cast.toml. suggest clusters the faces of every dialogue clip into identities; show lists where each "
        "character appears; speakers finds who speaks when in a clip from its original dialogue.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    suggest = actions.add_parser(
        "suggest", help="cluster the faces of every dialogue clip into identities: a cast.toml and a contact sheet"
    )
    suggest.add_argument("timeline", type=Path, help="the .otio dubbing timeline")
    suggest.add_argument("-o", "--output", type=Path, required=True, help="the cast.toml to write")
    suggest.add_argument(
        "--contact-sheet",
        type=Path,
        help="the contact sheet PNG, a row of faces per identity (default: <output>_faces.png beside -o)",
    )
    suggest.add_argument(
        "--match-distance",
        type=float,
        help="the largest mean embedding distance within one identity (default: the model's, 0.6 for dlib)",
    )
    suggest.add_argument("--overwrite", action="store_true", help="replace existing output files")
    _add_timeline_options(suggest)
    suggest.set_defaults(func=run_suggest, paths=suggest_paths)

    show = actions.add_parser("show", help="list each character's matches across a timeline, with distances")
    show.add_argument("cast", type=Path, help="the cast.toml")
    show.add_argument("timeline", type=Path, help="the .otio dubbing timeline")
    _add_timeline_options(show)
    show.set_defaults(func=run_show)

    speakers = actions.add_parser(
        "speakers", help="who speaks when in a clip, from its original dialogue's voice activity"
    )
    speakers.add_argument("video", type=Path, help="the clip (its own audio is the original dialogue)")
    speakers.add_argument(
        "--original-audio", type=Path, help="the original dialogue in another file, starting with the clip"
    )
    speakers.add_argument("--in", dest="start", type=int, default=0, help="first frame (default: 0)")
    speakers.add_argument("--out", dest="end", type=int, help="frame after the last (default: the clip's end)")
    _add_common_options(speakers)
    speakers.set_defaults(func=run_speakers)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=sorted(LANDMARK_BACKENDS),
        default=DEFAULT_LANDMARKS,
        help=f"landmark backend that finds the faces (default: {DEFAULT_LANDMARKS}, the render's; dlib works "
        "offline without downloads). Track ids are those of renders with the same backend",
    )
    add_output_flags(parser, quiet=False)


def _add_timeline_options(parser: argparse.ArgumentParser) -> None:
    add_track_arguments(parser)
    _add_common_options(parser)


def suggest_paths(args: argparse.Namespace) -> CommandPaths:
    return CommandPaths(
        outputs={"-o": args.output, "--contact-sheet": contact_sheet_path(args)},
        inputs={"timeline": args.timeline},
        overwrite=args.overwrite,
    )


def contact_sheet_path(args: argparse.Namespace) -> Path:
    """Where `cast suggest` writes its contact sheet."""
    return (args.contact_sheet or args.output.with_name(f"{args.output.stem}_faces.png")).expanduser().absolute()


def _timeline_faces(args: argparse.Namespace, analyser: "FaceAnalyser", bar: ProgressBar) -> "TimelineFaces":
    from keydub.plugin.cast.timeline_faces import dialogue_clips
    from keydub.plugin.timeline import PlanOptions, read_timeline

    timeline = read_timeline(args.timeline)
    options = PlanOptions(
        picture_tracks=tuple(args.video_track), dub_tracks=tuple(args.dub_track), dub_language=args.dub_lang
    )
    clips, skipped = dialogue_clips(timeline, args.timeline.absolute().parent, options)
    return analyser.timeline_faces(clips, skipped, progress=bar)


def run_suggest(args: argparse.Namespace) -> int:
    from keydub.core.analysis import AnalysisCache
    from keydub.plugin.cast import suggest_cast, write_cast, write_contact_sheet
    from keydub.plugin.cast.timeline_faces import FaceAnalyser

    with ProgressBar() as bar:
        analyser = FaceAnalyser(args.backend, cache=AnalysisCache())
        faces = _timeline_faces(args, analyser, bar)
        suggestion = suggest_cast(faces, args.match_distance)
        sheet = write_contact_sheet(suggestion, contact_sheet_path(args), progress=bar)
    cast_file = write_cast(suggestion.cast(), args.output, overwrite=args.overwrite)
    if args.json:
        print_json({**suggestion.to_dict(), "cast": str(cast_file), "contact_sheet": str(sheet)})
        return 0
    print(f"{len(faces.faces)} faces in {len(faces.clips)} dialogue clips: {len(suggestion.clusters)} identities")
    for number, members in enumerate(suggestion.clusters, start=1):
        clips = ", ".join(dict.fromkeys(face.clip.name for face in members))
        print(f"  Character {number}: {len(members)} faces in {clips}")
    for line in faces.skipped:
        print(f"  left out: {line}")
    print(f"Cast: {cast_file}\nContact sheet: {sheet}\nName the characters (and their dub tracks) in the cast file.")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from keydub.core.analysis import AnalysisCache
    from keydub.plugin.cast import match_cast, read_cast, reference_embeddings
    from keydub.plugin.cast.timeline_faces import FaceAnalyser

    cast = read_cast(args.cast)
    with ProgressBar() as bar:
        analyser = FaceAnalyser(args.backend, cast.recognition, cache=AnalysisCache())
        references = reference_embeddings(cast, analyser)
        faces = _timeline_faces(args, analyser, bar)
    shots = match_cast(faces, references, cast.match_distance)
    threshold = cast.match_distance or faces.same_person_distance
    report = show_report(cast.characters, shots, threshold)
    if args.json:
        print_json(report)
    else:
        print("\n".join(format_show(report)))
    return 0


def show_report(characters: tuple, shots: "list[ShotCast]", threshold: float) -> dict[str, Any]:
    """Each character's matches across the shots, and the faces that match nobody, as plain data."""
    rows = []
    for character in characters:
        matches = [
            {
                "clip_id": shot.clip.clip_id,
                "clip": shot.clip.name,
                "record": shot.clip.record_timecode(),
                **m.to_dict(),
            }
            for shot in shots
            for m in shot.faces
            if m.character == character.name
        ]
        rows.append(
            {
                "name": character.name,
                "dub_track": character.dub_track,
                "references": len(character.references),
                "matches": matches,
            }
        )
    unmatched = [
        {"clip_id": shot.clip.clip_id, "clip": shot.clip.name, "record": shot.clip.record_timecode(), **m.to_dict()}
        for shot in shots
        for m in shot.faces
        if m.character is None
    ]
    return {"match_distance": threshold, "characters": rows, "unmatched": unmatched}


def format_show(report: dict[str, Any]) -> list[str]:
    lines = []
    for character in report["characters"]:
        dub = character["dub_track"] or "no dub track"
        lines.append(f"{character['name']} ({dub}, {character['references']} reference faces)")
        if not character["matches"]:
            lines.append("  seen in no dialogue clip")
        for match in character["matches"]:
            lines.append(
                f"  {match['record']}  {match['clip']}: track {match['track_id']}, frames "
                f"{match['frames'][0]}-{match['frames'][1] - 1}, distance {match['distance']:.3f}"
            )
    if report["unmatched"]:
        lines.append(f"Faces that match no character (distance {report['match_distance']} or more):")
    for face in report["unmatched"]:
        nearest = "no embedding" if face["distance"] is None else f"nearest {face['nearest']} {face['distance']:.3f}"
        flag = ", on screen with a closer match (conflict)" if face["conflict"] else ""
        lines.append(f"  {face['record']}  {face['clip']}: track {face['track_id']} ({nearest}{flag})")
    return lines


def run_speakers(args: argparse.Namespace) -> int:
    from keydub.core.analysis import AnalysisCache, analyse_clip
    from keydub.core.faces.active_speaker import UNSURE_BELOW
    from keydub.core.speakers import find_clip_speakers

    with ProgressBar() as bar:
        analysis = analyse_clip(args.video, args.start, args.end, args.backend, cache=AnalysisCache(), progress=bar)
        speakers = find_clip_speakers(analysis, args.original_audio, progress=bar)
    report = speakers.to_dict(first_frame=analysis.start)
    if args.json:
        print_json(report)
        return 0
    print(f"{report['speech_frames']} of {report['frame_count']} frames have speech; unsure below {UNSURE_BELOW}")
    for turn in report["turns"]:
        who = "no visible face" if turn["track_id"] is None else f"track {turn['track_id']}"
        sure = "" if turn["sure"] else "  (unsure)"
        print(f"  frames {turn['range'][0]}-{turn['range'][1] - 1}: {who}, confidence {turn['confidence']:.2f}{sure}")
    return 0
