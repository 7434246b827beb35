"""`--path-map FROM=TO`: the editor's paths rewritten for the render nodes and back."""

from pathlib import Path

import pytest

from keydub.core.errors import InvalidParameterError
from keydub.core.render.options import RenderOptions
from keydub.core.render.request import FaceChoice, RenderRequest, Speaker
from keydub.plugin.cluster.path_map import PathMap, PathMapping


def test_a_mapping_rewrites_whole_components_and_the_longest_prefix_wins():
    paths = PathMap.parse(["/Volumes/SAN=/mnt/san", "/Volumes/SAN/show/vfx=/mnt/vfx/"])

    assert paths.to_node("/Volumes/SAN/show/sh010.mov") == "/mnt/san/show/sh010.mov"
    assert paths.to_node("/Volumes/SAN/show/vfx/sh010_v2.mov") == "/mnt/vfx/sh010_v2.mov"
    assert paths.to_node("/Volumes/SAN") == "/mnt/san"
    # A sibling whose name starts the same is not under the prefix.
    assert paths.to_node("/Volumes/SANDBOX/a.mov") == "/Volumes/SANDBOX/a.mov"
    assert paths.to_editor("/mnt/vfx/sh010_v2.mov") == "/Volumes/SAN/show/vfx/sh010_v2.mov"
    assert paths.to_editor("/srv/other/a.mov") == "/srv/other/a.mov"


def test_a_windows_editor_and_linux_nodes_swap_separators():
    paths = PathMap.parse([r"Z:\show=/mnt/san/show"])

    assert paths.to_node(r"Z:\show\reel1\sh010.mov") == "/mnt/san/show/reel1/sh010.mov"
    assert paths.to_editor("/mnt/san/show/reel1/sh010_ab12.mov") == r"Z:\show\reel1\sh010_ab12.mov"


def test_a_request_goes_to_the_nodes_and_its_result_comes_back():
    paths = PathMap.parse(["/editor/media=/node/media", "/editor/renders=/node/renders"])
    request = RenderRequest(
        video=Path("/editor/media/a.mov"),
        audio=Path("/editor/renders/.keydub/audio/x.wav"),
        output=Path("/editor/renders/.keydub/staging/a.1.mkv"),
        options=RenderOptions(
            weights="/editor/media/w", vae="stabilityai/stable-video-diffusion-img2vid", codec="ffv1"
        ),
        speakers=(Speaker(FaceChoice(track_id=1), Path("/editor/renders/bob.wav")), Speaker(FaceChoice(track_id=2))),
        active_speaker=True,
        original_audio=Path("/editor/media/a_production.wav"),
    )

    data = paths.request_to_node(request)

    assert (data["video"], data["audio"], data["output"], data["options"]["weights"]) == (
        "/node/media/a.mov",
        "/node/renders/.keydub/audio/x.wav",
        "/node/renders/.keydub/staging/a.1.mkv",
        "/node/media/w",
    )
    assert [s["audio"] for s in data["speakers"]] == ["/node/renders/bob.wav", None]
    assert data["original_audio"] == "/node/media/a_production.wav"
    assert data["options"]["vae"] == "stabilityai/stable-video-diffusion-img2vid", "a hub id is not a path"
    assert RenderRequest.from_dict(data).options.codec == "ffv1"
    result = paths.result_to_editor(
        {"output": data["output"], "frame_count": 3, "passed_through": [[1, "no face"]], "report": {"frames": 3}}
    )
    assert result.output == Path("/editor/renders/.keydub/staging/a.1.mkv")
    assert (result.frame_count, result.passed_through) == (3, ((1, "no face"),))


@pytest.mark.parametrize("text", ["/Volumes/SAN", "=/mnt/san", "/Volumes/SAN=", " = "])
def test_a_malformed_mapping_says_what_is_expected(text):
    with pytest.raises(InvalidParameterError, match=r"is not FROM=TO.*--path-map /Volumes/SAN=/mnt/san"):
        PathMapping.parse(text)
