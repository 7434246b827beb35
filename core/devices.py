"""Which device a model runs on: one place that turns `"auto"`, `"cpu"`, `"cuda"`, `"cuda:N"` into a device.

Every loader (the KeySync pipeline, SAM2, face-alignment, SyncNet) resolves its `device` option here, so a device
this machine does not have is refused before any work, with the list of those it does have. The names (`DEVICES`,
`DTYPES`) are the one list the command line, job checks and the panel offer; torch loads only to resolve one.
"""

from typing import TYPE_CHECKING

from keydub.core.errors import DeviceNotAvailableError, InvalidParameterError


if TYPE_CHECKING:
    import torch

# The device names offered (`"cuda:N"` names one GPU of several); `"auto"` is the first CUDA GPU, else the CPU.
DEVICES = ("auto", "cpu", "cuda", "mps")
# The U-Nets' precisions; `"auto"` is bfloat16 on CUDA and float32 elsewhere (`resolve_dtype`).
DTYPES = ("auto", "float32", "bfloat16", "float16")


def available_devices() -> list[str]:
    """The devices this machine can run on: `"cpu"`, then `"cuda:0"` ... and `"mps"` where present."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(name: "str | torch.device" = "auto") -> "torch.device":
    """The device `name` means on this machine.

    Args:
        name (`str | torch.device`, defaults to `"auto"`): `"auto"` (the first CUDA GPU when there is one, else the
            CPU), `"cpu"`, `"cuda"` (the current GPU), `"cuda:N"` or `"mps"`.

    Raises:
        `DeviceNotAvailableError`: an unknown name, CUDA without a CUDA GPU, an index past the GPU count, MPS
        without Apple silicon; the message lists the devices that exist.
    """
    import torch

    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    available = available_devices()
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise _refusal(name, "is not a device name", available) from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise _refusal(name, "needs a CUDA GPU and this machine has none", available)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise _refusal(name, f"is past the {torch.cuda.device_count()} CUDA GPU(s) of this machine", available)
        return device
    if device.type == "mps" and "mps" in available:
        return device
    raise _refusal(name, "is not available here", available)


def _refusal(name: object, why: str, available: list[str]) -> DeviceNotAvailableError:
    return DeviceNotAvailableError(f"device {str(name)!r} {why}; use auto or one of: {', '.join(available)}")


def resolve_dtype(name: str, device: "torch.device") -> "torch.dtype":
    """The U-Nets' precision `name` means on `device`: `"auto"` is bfloat16 on CUDA (full rate on every tensor-core
    GPU since Ampere, with float32's range) and float32 elsewhere.

    Raises:
        `InvalidParameterError`: a name other than `"auto"`, `"float32"`, `"bfloat16"` or `"float16"`.
    """
    import torch

    if name not in DTYPES:
        raise InvalidParameterError(f"precision {name!r} is not one of {', '.join(DTYPES)}")
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)
