"""Device resolution: one helper for every loader, refusing devices this machine does not have."""

import pytest
import torch

from keydub.core.devices import available_devices, resolve_device, resolve_dtype
from keydub.core.errors import DeviceNotAvailableError, InvalidParameterError


@pytest.fixture
def two_gpus(monkeypatch):
    """Pretend this machine has two CUDA GPUs (resolution only looks at the count)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_and_cpu_resolve_here():
    assert resolve_device("cpu") == torch.device("cpu") == resolve_device(" CPU ")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert available_devices()[0] == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_with_the_devices_that_exist():
    with pytest.raises(DeviceNotAvailableError, match=r"device 'cuda' needs a CUDA GPU .*use auto or one of: cpu$"):
        resolve_device("cuda")
    with pytest.raises(DeviceNotAvailableError, match="'cuda:1' needs a CUDA GPU"):
        resolve_device("cuda:1")


def test_an_index_past_the_gpu_count_is_refused(two_gpus):
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device("auto") == torch.device("cuda")
    with pytest.raises(DeviceNotAvailableError) as error:
        resolve_device("cuda:2")
    assert str(error.value) == (
        "device 'cuda:2' is past the 2 CUDA GPU(s) of this machine; use auto or one of: cpu, cuda:0, cuda:1"
    )


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "", "tpu"])
def test_unknown_names_are_refused(name):
    with pytest.raises(DeviceNotAvailableError, match="use auto or one of: cpu"):
        resolve_device(name)
    assert issubclass(DeviceNotAvailableError, InvalidParameterError)


def test_precision_follows_the_device():
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("float16", torch.device("cpu")) == torch.float16
    with pytest.raises(InvalidParameterError, match="precision 'fp8'"):
        resolve_dtype("fp8", torch.device("cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("command", ["render", "eval leak", "timeline"])
def test_the_command_line_refuses_a_missing_gpu_before_any_work(tmp_path, capsys, command):
    from keydub.plugin.cli.main import main

    missing = tmp_path / "not_there.mov"  # never opened: the device is refused first
    argv = {
        "render": [
            "render",
            str(missing),
            "--audio",
            str(missing),
            "-o",
            str(tmp_path / "out.mov"),
            "--device",
            "cuda",
        ],
        "eval leak": ["eval", "leak", "--video", str(missing), "-o", str(tmp_path / "qc"), "--device", "cuda:0"],
        "timeline": [
            "timeline",
            str(tmp_path / "not_there.otio"),
            "--out-dir",
            str(tmp_path / "renders"),
            "--device",
            "cuda",
        ],
    }[command]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.startswith("Error: device 'cuda") and "use auto or one of: cpu" in error
    assert list(tmp_path.iterdir()) == []
