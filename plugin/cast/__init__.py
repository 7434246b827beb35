"""The cast of a timeline: its characters, each with a name, a dub track and reference faces, and where they appear.

Public API:
    Cast, Character, ReferenceFace: the cast as data; `read_cast` / `write_cast` keep it in a `cast.toml`.
    timeline_with_cast, cast_from_timeline: the cast in an OTIO timeline's `metadata["keydub"]["cast"]`.
    dialogue_clips, DialogueClip: the timeline's clips with dialogue (the ones a batch would render).
    suggest_cast, CastSuggestion, write_contact_sheet: every face of every dialogue clip clustered into identities.
    match_cast, ShotCast, FaceMatch: which face track of each shot is which character, with the distance.
"""

from keydub.plugin.cast.cast_file import Cast, Character, ReferenceFace, cast_toml, read_cast, write_cast
from keydub.plugin.cast.matching import FaceMatch, ShotCast, match_cast, reference_embeddings
from keydub.plugin.cast.metadata import cast_from_timeline, timeline_with_cast
from keydub.plugin.cast.suggest import CastSuggestion, suggest_cast, write_contact_sheet
from keydub.plugin.cast.timeline_faces import ClipFace, DialogueClip, FaceAnalyser, TimelineFaces, dialogue_clips


__all__ = [
    "Cast",
    "CastSuggestion",
    "Character",
    "ClipFace",
    "DialogueClip",
    "FaceAnalyser",
    "FaceMatch",
    "ReferenceFace",
    "ShotCast",
    "TimelineFaces",
    "cast_from_timeline",
    "cast_toml",
    "dialogue_clips",
    "match_cast",
    "read_cast",
    "reference_embeddings",
    "suggest_cast",
    "timeline_with_cast",
    "write_cast",
    "write_contact_sheet",
]
