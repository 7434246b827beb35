"""Class 6 of the bad-input issue (and issue 16 point 3): damaged or hostile weights.

A truncated safetensors file, a config.json that is not JSON, a text file or a pickle where a checkpoint belongs:
each refused in one line naming the file, never torch's or safetensors' own message as a traceback, and a pickle is
never executed, through the memory-mapped path and its legacy-format fallback alike.
"""

import pathlib
import pickle
from pathlib import Path

import pytest
import torch
from bad_input import assert_refused, run_cli, snapshot
from safetensors.torch import save_file

from keydub.core.errors import CheckpointConversionError
from keydub.core.model.convert import load_tensor_file
from keydub.core.weight_files import check_weights_folder


class _Payload:
    """Unpickling this would create the marker file: the proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def _checkpoints(folder: Path) -> dict[str, tuple[Path, str]]:
    """Bad checkpoint files with the words their refusal must contain."""
    marker = folder / "PICKLE_RAN"
    good = {"module": {"_forward_module.model.diffusion_model.x": torch.zeros(4)}}
    torch.save(good, folder / "whole.pt")
    whole = (folder / "whole.pt").read_bytes()
    cases = {
        "truncated zip": (folder / "truncated.pt", "may be truncated"),
        "text": (folder / "notes.pt", "it is a text file"),
        "empty": (folder / "empty.pt", "is empty (0 bytes)"),
        "zip pickle": (folder / "zip_pickle.pt", "contains Python objects besides tensors"),
        "legacy pickle": (folder / "legacy_pickle.pt", "contains Python objects besides tensors"),
        "plain pickle": (folder / "plain_pickle.pt", "contains Python objects besides tensors"),
        "truncated safetensors": (folder / "cut.safetensors", "not a complete safetensors file"),
        "text safetensors": (folder / "text.safetensors", "not a complete safetensors file"),
        "folder": (folder / "a_folder.pt", "is not a file"),
    }
    cases["truncated zip"][0].write_bytes(whole[: len(whole) // 2])
    cases["text"][0].write_text("these are not the weights you are looking for\n")
    cases["empty"][0].write_bytes(b"")
    torch.save({"module": _Payload(marker)}, cases["zip pickle"][0])
    # The legacy format cannot be memory-mapped: this is the loader's second, formerly unguarded, torch.load.
    torch.save({"module": _Payload(marker)}, cases["legacy pickle"][0], _use_new_zipfile_serialization=False)
    cases["plain pickle"][0].write_bytes(pickle.dumps({"module": _Payload(marker)}))
    save_file({"w": torch.zeros(1000)}, folder / "whole.safetensors")
    data = (folder / "whole.safetensors").read_bytes()
    cases["truncated safetensors"][0].write_bytes(data[:-100])
    cases["text safetensors"][0].write_text("not safetensors at all")
    cases["folder"][0].mkdir()
    (folder / "whole.pt").unlink()
    (folder / "whole.safetensors").unlink()
    return cases


@pytest.fixture
def checkpoints(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    return _checkpoints(folder)


CASES = [
    "truncated zip",
    "text",
    "empty",
    "zip pickle",
    "legacy pickle",
    "plain pickle",
    "truncated safetensors",
    "text safetensors",
    "folder",
]


@pytest.mark.parametrize("case", CASES)
def test_convert_weights_refuses_each_in_one_line(tmp_path, capsys, checkpoints, case):
    path, needle = checkpoints[case]
    before = snapshot(tmp_path)
    outcome = run_cli(["convert-weights", "--keyframe", path, "-o", tmp_path / "converted"], capsys)
    assert_refused(outcome, tmp_path, before, path.name, needle)
    assert not (tmp_path / "checkpoints" / "PICKLE_RAN").exists()


@pytest.mark.parametrize("case", ["zip pickle", "legacy pickle", "plain pickle"])
def test_no_pickle_runs_through_the_guarded_loader(checkpoints, case):
    path, needle = checkpoints[case]
    with pytest.raises(CheckpointConversionError, match=needle):
        load_tensor_file(path)
    assert not (path.parent / "PICKLE_RAN").exists()


def test_damaged_model_folders_are_named(tmp_path):
    folder = tmp_path / "keyframe" / "unet"
    folder.mkdir(parents=True)
    save_file({"w": torch.zeros(1000)}, folder / "diffusion_pytorch_model.safetensors")
    (folder / "config.json").write_text('{"_class_name": "KeySyncUNet"}')
    check_weights_folder(tmp_path / "keyframe")  # a whole folder passes
    (folder / "config.json").write_text('{"_class_name": "KeySyncUNet", ')
    with pytest.raises(CheckpointConversionError, match=r"unet/config.json is not JSON"):
        check_weights_folder(tmp_path / "keyframe")
    (folder / "config.json").write_text("{}")
    weights = folder / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointConversionError, match=r"diffusion_pytorch_model.safetensors is truncated"):
        check_weights_folder(tmp_path / "keyframe")
