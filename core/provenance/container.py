"""Where a file's Content Credentials live, and the c2pa settings Keydub reads and signs with.

A manifest is embedded in the containers c2pa writes into (QuickTime .mov and MP4), and goes to a sidecar beside
any other file: `<name>.c2pa`, the C2PA convention. c2pa itself is the authority on which containers it embeds in
(`c2pa.Builder.get_supported_mime_types`), so a new version that learns Matroska embeds there without a change here.
"""

import mimetypes
from pathlib import Path

import c2pa


SIDECAR_SUFFIX = ".c2pa"
# The MIME types of the containers Keydub reads and writes, which `mimetypes` does not all know everywhere.
_MEDIA_TYPES = {
    ".mov": "video/quicktime",
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mkv": "video/x-matroska",
    ".mxf": "application/mxf",
    ".wav": "audio/wav",
}
# Keydub runs where there may be no network (a render farm, an edit suite): c2pa is never to fetch a remote manifest
# or a certificate's revocation status, while signing (an ingredient's manifest) or reading.
_OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


def media_type(path: Path) -> str:
    """The MIME type of a media file, by its extension (`application/octet-stream` when unknown)."""
    path = Path(path)
    return _MEDIA_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def is_embeddable(path: Path) -> bool:
    """Whether c2pa embeds a manifest in this kind of file (else it goes to a sidecar)."""
    return media_type(path) in c2pa.Builder.get_supported_mime_types()


def sidecar_path(path: Path) -> Path:
    """Where the sidecar manifest of `path` goes: the same name with `.c2pa`."""
    return Path(path).with_suffix(SIDECAR_SUFFIX)


def credential_files(output: Path) -> tuple[Path, ...]:
    """The files signing `output` writes besides `output` itself (its sidecar, or nothing when the manifest is
    embedded), for the render's output checks before any work."""
    return () if is_embeddable(output) else (sidecar_path(output),)


def c2pa_context(trust_anchors: str | None = None) -> c2pa.Context:
    """A c2pa context that stays offline, trusting the PEM certificates `trust_anchors` when given."""
    settings: dict = {**_OFFLINE}
    if trust_anchors is not None:
        settings["trust"] = {"trust_anchors": trust_anchors}
    return c2pa.Context.from_dict(settings)
