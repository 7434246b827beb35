"""The timeline formats editors export, and the OpenTimelineIO adapter that reads (and maybe writes) each.

One registry, `FORMATS`: the reader, the writer, the CLI's help, the error for a missing adapter and the
documentation's table are all derived from it. Since OpenTimelineIO 0.17 only its own JSON ships with the core
package; every other format comes from an adapter plug-in package (`pip install "keydub[formats]"` installs
them), which OTIO finds through its plug-in entry points.

A file's format is told by its content first (an AAF is an OLE2 compound file, FCP 7 XML opens `<xmeml>`, FCPXML
opens `<fcpxml>`, OTIO JSON is a JSON object, an EDL has CMX 3600 event lines) and by its extension when the
content does not say, so a Premiere export renamed `.txt` is still read as what it is.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

from keydub.core.errors import TimelineError


@dataclass(frozen=True)
class TimelineFormat:
    """One timeline format and how Keydub reads and writes it.

    Args:
        name (`str`): what editors call it, e.g. `"FCP 7 XML"`.
        adapter (`str`): the OpenTimelineIO adapter's name.
        package (`str | None`): the PyPI package that provides the adapter; `None` when OTIO itself does.
        suffixes (`tuple[str, ...]`): file extensions, the first one used for written files.
        editors (`str`): who exports it, for messages and the documentation.
        can_write (`bool`): the adapter writes this format, so the output timeline can be in it too.
        one_video_track (`bool`): the format holds a single video track, so a written file holds only Keydub's
            output track (an EDL of the renders, to conform in the editor).
        file_urls (`bool`): the format names media by `file://` URL rather than by a bare path.
    """

    name: str
    adapter: str
    package: str | None
    suffixes: tuple[str, ...]
    editors: str
    can_write: bool
    one_video_track: bool = False
    file_urls: bool = False

    @property
    def suffix(self) -> str:
        return self.suffixes[0]


OTIO_JSON = TimelineFormat(
    name="OpenTimelineIO",
    adapter="otio_json",
    package=None,
    suffixes=(".otio",),
    editors="Resolve, Kdenlive, Hiero, OTIO tools",
    can_write=True,
)
FCP7_XML = TimelineFormat(
    name="FCP 7 XML",
    adapter="fcp_xml",
    package="otio-fcp-adapter",
    suffixes=(".xml",),
    editors="Premiere Pro, Resolve, Hiero",
    can_write=True,
    file_urls=True,
)
FCPXML = TimelineFormat(
    name="FCPXML",
    adapter="fcpx_xml",
    package="otio-fcpx-xml-adapter",
    suffixes=(".fcpxml",),
    editors="Final Cut Pro, Resolve",
    can_write=True,
    file_urls=True,
)
CMX_EDL = TimelineFormat(
    name="CMX 3600 EDL",
    adapter="cmx_3600",
    package="otio-cmx3600-adapter",
    suffixes=(".edl",),
    editors="Avid Media Composer, Premiere Pro, Resolve",
    can_write=True,
    one_video_track=True,
)
AAF = TimelineFormat(
    name="AAF",
    adapter="AAF",
    package="otio-aaf-adapter",
    suffixes=(".aaf",),
    editors="Avid Media Composer, Pro Tools, Resolve, Premiere Pro",
    # The adapter writes only clips whose media Avid already knows (mob ids), never a new render.
    can_write=False,
)
FORMATS: tuple[TimelineFormat, ...] = (OTIO_JSON, FCP7_XML, FCPXML, CMX_EDL, AAF)

# What `pip install` line brings every adapter of the registry.
FORMATS_INSTALL = 'pip install "keydub[formats]"'

# An AAF is a Microsoft compound file (OLE2), whose first eight bytes are always these.
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# The opening of a file is enough to tell the formats apart; an XML root element is near the top.
_SNIFF_BYTES = 4096
# An EDL event line: event number, reel, track (V, A, A2, B, AA/V...) and transition (C, D, W001, K...).
_EDL_EVENT = re.compile(rb"^\s*\d{3,6}\s+\S+\s+[AVB][\w/]*\s+[CDWK]", re.MULTILINE)
_EDL_TITLE = re.compile(rb"^\s*TITLE:", re.MULTILINE)


def format_for_suffix(path: Path) -> TimelineFormat | None:
    """The format a file name's extension says, or `None`."""
    suffix = Path(path).suffix.casefold()
    return next((fmt for fmt in FORMATS if suffix in fmt.suffixes), None)


def detect_format(path: Path, head: bytes) -> TimelineFormat:
    """The format of the file at `path` whose first bytes are `head`: by content, else by extension.

    Raises:
        `TimelineError`: neither the content nor the extension names a format Keydub reads.
    """
    by_content = _format_of_content(head)
    if by_content is not None:
        return by_content
    by_suffix = format_for_suffix(path)
    if by_suffix is not None:
        return by_suffix
    names = ", ".join(f"{fmt.name} ({'/'.join(fmt.suffixes)})" for fmt in FORMATS)
    raise TimelineError(
        f"{path} is not a timeline format Keydub reads ({names}); export the timeline again from your editor"
    )


def _format_of_content(head: bytes) -> TimelineFormat | None:
    if head.startswith(_OLE2_MAGIC):
        return AAF
    text = head[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        if b"<xmeml" in text:
            return FCP7_XML
        if b"<fcpxml" in text:
            return FCPXML
        return None
    if text.startswith(b"{"):
        return OTIO_JSON
    if _EDL_TITLE.search(text) or _EDL_EVENT.search(text):
        return CMX_EDL
    return None


def require_adapter(fmt: TimelineFormat, path: Path, verb: str = "reading") -> otio.adapters.Adapter:
    """The OTIO adapter of `fmt`, or one line naming the format and the package that provides it.

    Raises:
        `TimelineError`: the adapter plug-in is not installed (or cannot be imported).
    """
    try:
        adapter = otio.adapters.from_name(fmt.adapter)
        adapter.module()  # imports the plug-in and what it needs (the AAF adapter needs pyaaf2)
    except (otio.exceptions.NotSupportedError, ImportError) as error:
        raise TimelineError(
            f"{path} is {article(fmt.name)} {fmt.name} timeline ({fmt.editors}); {verb} it needs the package "
            f"{fmt.package}: {FORMATS_INSTALL}"
        ) from error
    return adapter


def article(word: str) -> str:
    """`"an"` before a vowel sound (AAF, FCP 7 XML, FCPXML, EDL), `"a"` otherwise."""
    return "an" if word[:1].upper() in "AEFIOU" else "a"
