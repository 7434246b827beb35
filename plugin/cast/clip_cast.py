"""Who is who in one clip: its faces matched to a cast's characters, for a render that names characters."""

from fractions import Fraction
from pathlib import Path

from keydub.plugin.cast.cast_file import Cast
from keydub.plugin.cast.matching import ShotCast, match_cast, reference_embeddings
from keydub.plugin.cast.timeline_faces import DialogueClip, FaceAnalyser


def match_clip(video: Path, start: int, end: int, rate: Fraction, cast: Cast, analyser: FaceAnalyser) -> ShotCast:
    """The faces of `video`'s frames `[start, end)`, each matched to the cast (as `keydub cast show` matches a
    timeline's clips)."""
    clip = DialogueClip(
        clip_id=video.name, name=video.name, video=video, start=start, end=end, record_start=0, rate=rate
    )
    faces = analyser.timeline_faces([clip])
    return match_cast(faces, reference_embeddings(cast, analyser), cast.match_distance)[0]
