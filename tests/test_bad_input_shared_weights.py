"""Issue 16 point 2: converted weights can be shared.

`keydub convert-weights` used to leave its folder at 0700 (mkdtemp) and the safetensors at 0600 (safetensors'
writer), so another user of a render node got a raw PermissionError. Every written folder and file now has the mode
a new one gets from the umask, as other tools' outputs do; reports and plots too.
"""

import os
import stat
from pathlib import Path

import pytest
from bad_input import run_cli
from test_convert import TINY_HEAD_DIM, _write_official

from keydub.core.files import write_json_atomically


@pytest.fixture
def umask():
    """Set a umask for one test and restore the previous one."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


def _modes(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode) for path in [root, *root.rglob("*")]}


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_converted_weights_follow_the_umask(tmp_path, capsys, umask, mask):
    _write_official(tmp_path / "keyframe_dub.pt", "keyframe")
    umask(mask)
    outcome = run_cli(
        [
            "convert-weights",
            "--keyframe",
            tmp_path / "keyframe_dub.pt",
            "-o",
            tmp_path / "models",
            "--attention-head-dim",
            str(TINY_HEAD_DIM),
        ],
        capsys,
    )
    assert outcome.code == 0, outcome.stderr
    modes = _modes(tmp_path / "models")
    folders = {name for name in modes if (tmp_path / "models" / name).is_dir()}
    assert {
        "keyframe/unet/diffusion_pytorch_model.safetensors",
        "keyframe/unet/config.json",
        "keyframe/keydub_conversion.json",
    } <= set(modes)
    for name, mode in modes.items():
        assert mode == (0o777 if name in folders else 0o666) & ~mask, (name, oct(mode))


def test_reports_follow_the_umask(tmp_path, umask):
    umask(0o027)
    write_json_atomically(tmp_path / "qc.json", {"frames": 1})
    assert stat.S_IMODE((tmp_path / "qc.json").stat().st_mode) == 0o640
