"""What a render did, as plain data: the one description the manifest and the usage record are both made from.

The render path fills a `RenderFacts` once its output is written (`RenderFacts.from_report` reads the render's
JSON report, which already holds the inputs' hashes, the frames and the sampler settings); nothing here opens a
clip or loads a model. `weight_file_hashes` names the weights that ran by the SHA-256 of each file.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from keydub.core.weights import REGISTRY, cached_sha256, resolve_weights


# The model every Keydub render runs (the KeySync method: two-stage latent video diffusion for lip sync).
MODEL_NAME = "KeySync"
# The sampler settings of a render that decide its pixels, as the render report's parameters name them.
SAMPLER_SETTINGS = ("steps", "audio_guidance", "ref_guidance", "seed")


@dataclass(frozen=True)
class InputFile:
    """A file a render read, by where it was and what it held.

    Args:
        path (`Path`): where the render read it.
        sha256 (`str`): the SHA-256 of its bytes, hex.
    """

    path: Path
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "sha256": self.sha256}


@dataclass(frozen=True)
class DubbedFace:
    """One face a render regenerated, and under which consent.

    Args:
        character (`str | None`): the character whose face it is, when the shot names one.
        consent (`str | None`): the consent reference given for that person (a free-text id).
        face (`Mapping[str, Any]`): how the face was picked, as the request's plain data (a click, a track id, or
            nothing for the largest face).
    """

    character: str | None = None
    consent: str | None = None
    face: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"character": self.character, "consent": self.consent, "face": dict(self.face)}


@dataclass(frozen=True)
class RenderFacts:
    """What one render did to produce its output.

    Frame numbers are the source clip's; ranges are `[start, end)`.

    Args:
        source (`InputFile`): the picture clip.
        dubs (`tuple[InputFile, ...]`): the dub audio that drove the lips: one file, or each speaker's own stem.
        frames (`tuple[int, int]`): the source frames written to the output, in order (output frame 0 is
            `frames[0]`).
        frame_rate (`Fraction`): the clip's exact frame rate.
        regenerated (`tuple[tuple[int, int], ...]`): the source frame ranges whose lower face was regenerated.
        passed_through (`tuple[tuple[int, str], ...]`): source frames written unchanged, with the reason.
        face_tracks (`tuple[int, ...]`): the face track ids the regenerated face was followed through.
        weights (`Mapping[str, str]`): every weight file that ran (`component/relative path`) -> its SHA-256.
        sampler (`Mapping[str, int | float]`): the sampler settings and seed (`SAMPLER_SETTINGS`).
        faces (`tuple[DubbedFace, ...]`): the faces regenerated, each with its character and consent reference.
    """

    source: InputFile
    dubs: tuple[InputFile, ...]
    frames: tuple[int, int]
    frame_rate: Fraction
    regenerated: tuple[tuple[int, int], ...]
    passed_through: tuple[tuple[int, str], ...]
    face_tracks: tuple[int, ...] = ()
    weights: Mapping[str, str] = field(default_factory=dict)
    sampler: Mapping[str, int | float] = field(default_factory=dict)
    faces: tuple[DubbedFace, ...] = ()

    @classmethod
    def from_report(
        cls,
        report: Mapping[str, Any],
        *,
        weights: Mapping[str, str],
        faces: tuple[DubbedFace, ...] = (),
    ) -> "RenderFacts":
        """The facts of a render from its JSON report (`RenderResult.report`).

        Args:
            report (`Mapping`): the render's report.
            weights (`Mapping[str, str]`): `weight_file_hashes` of the weights the render loaded.
            faces (`tuple[DubbedFace, ...]`): the faces regenerated, with their characters and consent references.
        """
        inputs, frames = report["inputs"], report["frames"]
        parameters = report["parameters"]["options"]
        return cls(
            source=InputFile(Path(inputs["video"]["path"]), inputs["video"]["sha256"]),
            dubs=_dubs(report),
            frames=(int(frames["range"][0]), int(frames["range"][1])),
            frame_rate=Fraction(frames["frame_rate"]),
            regenerated=tuple((int(a), int(b)) for a, b in report["face"]["segments"]),
            passed_through=tuple((int(item["frame"]), str(item["reason"])) for item in frames["passed_through"]),
            face_tracks=tuple(int(track) for track in report["face"]["track_ids"]),
            weights=dict(weights),
            sampler={name: parameters[name] for name in SAMPLER_SETTINGS},
            faces=tuple(faces),
        )

    def passed_through_ranges(self) -> list[tuple[int, int, str]]:
        """`passed_through` as runs of consecutive frames with one reason: `(start, end, reason)`, end exclusive."""
        runs: list[tuple[int, int, str]] = []
        for frame, reason in sorted(self.passed_through):
            if runs and runs[-1][1] == frame and runs[-1][2] == reason:
                runs[-1] = (runs[-1][0], frame + 1, reason)
            else:
                runs.append((frame, frame + 1, reason))
        return runs


def weight_file_hashes(
    weights: str | os.PathLike | None = None,
    vae: str | os.PathLike | None = None,
    hubert: str | os.PathLike | None = None,
    wavlm: str | os.PathLike | None = None,
) -> dict[str, str]:
    """SHA-256 of every weight file `KeySyncPipeline.from_pretrained(weights, vae, hubert, wavlm)` loads.

    Args:
        weights, vae, hubert, wavlm (`str | os.PathLike | None`): the sources the render was given, as for
            `from_pretrained`; `None` is the configured or default one. The weights must be here already (nothing
            is downloaded). Hashes are cached by path, size and modification time, so only the first render after
            a weights change reads the files.

    Returns:
        `dict[str, str]`: `component/relative path` -> SHA-256, sorted, e.g.
        `{"keyframe/unet/diffusion_pytorch_model.safetensors": "3f...", ..., "wavlm/model.safetensors": "9c..."}`.
    """
    from keydub.core.model.convert import resolve_keysync

    sources = {"keyframe": weights, "interpolation": weights, "vae": vae, "hubert": hubert, "wavlm": wavlm}
    hashes: dict[str, str] = {}
    for name, source in sources.items():
        if REGISTRY[name].layout == "keysync":
            folder = resolve_keysync(name, source, download=False)
            # A converted folder holds only what the loader reads, and the record of the official checkpoint.
            files = sorted(path for path in folder.rglob("*") if path.is_file() and not path.name.startswith("."))
        else:
            folder = resolve_weights(name, source, download=False)
            files = _loaded_files(name, folder)
        for path in files:
            hashes[f"{name}/{path.relative_to(folder).as_posix()}"] = cached_sha256(path)
    return dict(sorted(hashes.items()))


def _loaded_files(name: str, folder: Path) -> list[Path]:
    """The files a model folder's loader reads: its config and the weights file it picks (the registry's first
    present, else every weights file there)."""
    component = REGISTRY[name]
    chosen = next((folder / file for file in component.weight_files if (folder / file).is_file()), None)
    weight_files = [chosen] if chosen else sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")])
    return [folder / file for file in component.files] + weight_files


def _dubs(report: Mapping[str, Any]) -> tuple[InputFile, ...]:
    """Every dub that drove a face (each speaker's, once per file), else the render's dub when no face was made."""
    entries = [speaker["audio"] for speaker in report.get("speakers", ())]
    if not entries and "audio" in report["inputs"]:
        entries = [report["inputs"]["audio"]]
    files = {entry["path"]: InputFile(Path(entry["path"]), entry["sha256"]) for entry in entries}
    return tuple(files.values())
