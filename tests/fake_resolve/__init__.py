"""The fake Resolve for the bridge's tests, reached exactly as the real one is.

`$RESOLVE_SCRIPT_API` is this folder (its `Modules/DaVinciResolveScript.py` is the module scripts import) and
`$RESOLVE_SCRIPT_LIB` is `lib/fusionscript.py`, the fake's object model. `use_fake_resolve` sets both and loads
the library once per process, as `DaVinciResolveScript` does, so that a test and the bridge share one Resolve.

`three_clip_project` builds, with the fake's own API calls (imports, `CreateEmptyTimeline`, `AppendToTimeline`),
the timeline of `otio_fixtures.write_three_clip_timeline`: the same media at the same record and source frames.
"""

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from otio_fixtures import RATE, SOURCE_STARTS, DubbingFixture

from keydub.plugin.resolve import connection


ROOT = Path(__file__).resolve().parent
LIBRARY = ROOT / "lib" / "fusionscript.py"


def library() -> ModuleType:
    """The fake library module (`fusionscript`), loaded once per process."""
    module = sys.modules.get("fusionscript")
    if module is None:
        spec = importlib.util.spec_from_file_location("fusionscript", LIBRARY)
        module = importlib.util.module_from_spec(spec)
        sys.modules["fusionscript"] = module
        spec.loader.exec_module(module)
    return module


def use_fake_resolve(monkeypatch: Any, resolve: Any, mode: str = "running") -> ModuleType:
    """Point the scripting variables at the fake and make `resolve` the running Resolve in `mode`
    (`"running"`, `"not_running"`, `"external_off"`, `"free"`)."""
    monkeypatch.setenv("RESOLVE_SCRIPT_API", str(ROOT))
    monkeypatch.setenv("RESOLVE_SCRIPT_LIB", str(LIBRARY))
    fake = library()
    fake.fake_install(resolve, mode)
    monkeypatch.setattr(connection, "resolve_is_running", lambda: mode != "not_running")
    return fake


@dataclass
class FakeProject:
    """A fake Resolve with one project and the three-clip timeline."""

    resolve: Any
    project: Any
    timeline: Any
    pool_items: dict[str, Any]


def three_clip_project(
    fixture: DubbingFixture,
    durations: tuple[int, int, int],
    *,
    project_name: str = "Dubbing",
    profile: str = "20.3",
) -> FakeProject:
    """The fixture's three clips cut on "Video 1" of timeline "three" (24000/1001, starting 01:00:00:00), the
    premix on audio track "DX es-419" under all of it, and an empty production track "Audio 1", in a Resolve
    answering as version `profile` (the editor's cut is made before, as in Resolve's own UI)."""
    fake = library()
    project = fake.Project(project_name, RATE)
    resolve = fake.Resolve(project)
    pool = project.GetMediaPool()
    footage = pool.AddSubFolder(pool.GetRootFolder(), "Footage")
    assert pool.SetCurrentFolder(footage)
    paths = [fixture.sources[name] for name in ("A001", "A002", "A003")] + [fixture.lines["premix_es"]]
    items = pool.ImportMedia([str(path) for path in paths])
    pool_items = {Path(item.GetClipProperty("File Path")).stem: item for item in items}
    assert pool.SetCurrentFolder(pool.GetRootFolder())
    timeline = pool.CreateEmptyTimeline("three")
    assert timeline.AddTrack("audio", "mono") and timeline.SetTrackName("audio", 2, "DX es-419")
    start = timeline.GetStartFrame()
    first, second, third = durations
    cut = [("A001", 20, 0, first), ("A002", 30, first, second), ("A003", 40, first + second + 4, third)]
    for name, offset, record, duration in cut:
        placed = pool.AppendToTimeline(
            [
                {
                    "mediaPoolItem": pool_items[name],
                    "startFrame": offset,
                    "endFrame": offset + duration,
                    "mediaType": 1,
                    "trackIndex": 1,
                    "recordFrame": start + record,
                }
            ]
        )
        assert len(placed) == 1
    total = first + second + 4 + third
    placed = pool.AppendToTimeline(
        [
            {
                "mediaPoolItem": pool_items["premix_es"],
                "startFrame": 0,
                "endFrame": total,
                "mediaType": 2,
                "trackIndex": 2,
                "recordFrame": start,
            }
        ]
    )
    assert len(placed) == 1
    assert SOURCE_STARTS["A001"] == fake.timecode_to_frame(pool_items["A001"].GetClipProperty("Start TC"), RATE)
    resolve.profile_ = fake.PROFILES[profile]
    return FakeProject(resolve=resolve, project=project, timeline=timeline, pool_items=pool_items)
