"""What a render actor checks and chooses on its node before any GPU work (no Ray needed)."""

import socket
from pathlib import Path

import pytest

from keydub.core.render.options import RenderOptions
from keydub.core.render.request import RenderRequest
from keydub.plugin.cluster.actor import _on_assigned_devices, check_node_access
from keydub.plugin.cluster.errors import NodeAccessError


def request_in(folder: Path, **options) -> RenderRequest:
    (folder / "a.mov").write_bytes(b"picture")
    (folder / "a.wav").write_bytes(b"dub")
    return RenderRequest(
        video=folder / "a.mov",
        audio=folder / "a.wav",
        output=folder / "staging" / "a.mkv",
        options=RenderOptions(**options),
    )


def test_a_node_that_cannot_write_the_output_folder_names_it_and_itself(tmp_path):
    request = request_in(tmp_path)
    (tmp_path / "staging").write_text("a file where the folder should be")

    with pytest.raises(NodeAccessError) as error:
        check_node_access(request)

    assert str(error.value) == (
        f"render node {socket.gethostname()} cannot write the output folder "
        f"{tmp_path / 'staging'} (Not a directory); mount the shared storage there, or map "
        "the path with --path-map FROM=TO"
    )


def test_a_node_that_cannot_read_the_dub_names_it(tmp_path):
    request = request_in(tmp_path)
    (tmp_path / "staging").mkdir()
    check_node_access(request)
    assert list((tmp_path / "staging").iterdir()) == [], "the write probe leaves nothing"
    request.audio.unlink()

    with pytest.raises(NodeAccessError, match=f"cannot read the dub audio {request.audio};"):
        check_node_access(request)


@pytest.mark.parametrize(
    ("device", "gpus", "expected"),
    [("auto", ["3"], "cuda"), ("cuda:1", ["3"], "cuda"), ("cpu", ["3"], "cpu"), ("auto", [], "auto")],
)
def test_a_gpu_render_runs_on_the_gpu_ray_assigned(tmp_path, device, gpus, expected):
    # Ray limits CUDA_VISIBLE_DEVICES to the actor's GPUs, so the assigned GPU is `cuda` inside the actor.
    assert _on_assigned_devices(request_in(tmp_path, device=device), gpus).options.device == expected
